"""The web page in headless Chromium (Debian `chromium` + `chromium-driver`, driven by selenium):
upload the demo video, wait, read the verdict card, check that the timeline and the face strips
are drawn. A screenshot is kept in test-artefacts/serve_page.png.

Skipped, with the reason, where Chromium or its driver is not installed (`make test` installs
them: scripts/setup_browser.sh)."""

from __future__ import annotations

import shutil
import socket
import threading
import time
from pathlib import Path

import pytest
from bundle_factory import make_bundle

from fakescope.scan import ScanSettings
from fakescope.serve.app import ServeConfig, create_app

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
ARTEFACTS = Path(__file__).resolve().parents[1] / "test-artefacts"

pytestmark = pytest.mark.skipif(not (CHROMIUM and DRIVER),
                                reason="chromium and chromedriver are not installed")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


PANEL = {"faceblend": 0.61, "effnet": {"score": 0.22}, "fakebuster": 0.74}


def _crafted_job(root: Path, data: Path, settings: ScanSettings, video: Path) -> str:
    """A finished job stored before the server starts: the demo video's real record, shown as
    a panel's inconclusive result (the band, probability and members a calibrated panel gives)."""
    from fakescope import __version__
    from fakescope.output import explain
    from fakescope.output.formats import result_to_dict
    from fakescope.serve.store import JobStore

    job_id = "c" * 32
    record = result_to_dict(settings.build().scan_file(video, explain_dir=data / "artefacts" / job_id))
    assert record["timeline"], "the demo video should have scored frames"
    record.update(verdict="inconclusive", score=0.61, probability=0.38, threshold=0.74,
                  inconclusive_threshold=0.55, members=PANEL)
    record["explanation"] = explain.sentence(record)
    store = JobStore(data / "jobs.sqlite", version=__version__)
    folder = data / "uploads" / job_id
    folder.mkdir(parents=True)
    shutil.copy(video, folder / "upload.mp4")
    store.add("upload", str(folder / "upload.mp4"), "panel-interview.mp4", {}, record["sha256"],
              None, job_id=job_id)
    assert store.claim_next().id == job_id  # no runner yet: finished as a runner would
    assert store.finish(job_id, record)
    store.close()
    return job_id


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    import uvicorn
    from c2pa_factory import sign
    from media_factory import make_image

    from fakescope.demo import build_sample

    root = tmp_path_factory.mktemp("browser")
    bundle, _, _ = make_bundle(root / "fb.pt", threshold=0.5)
    settings = ScanSettings(weights=str(bundle), runtime="torch", min_face=24, sampling="uniform:8")
    sample = build_sample(root / "sample")
    video = next(p for p in sample if p.suffix == ".mp4")
    signed = sign(make_image(root / "portrait.jpg", size=(256, 256)), root / "signed.jpg")
    crafted = _crafted_job(root, root / "data", settings, video)
    app = create_app(ServeConfig(data_dir=root / "data", settings=settings))
    port = _free_port()
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    t0 = time.monotonic()
    while not srv.started and time.monotonic() - t0 < 30:
        time.sleep(0.05)
    assert srv.started, "the server did not start"
    yield {"url": f"http://127.0.0.1:{port}/", "root": root, "video": video, "signed": signed,
           "crafted": crafted}
    srv.should_exit = True
    thread.join(timeout=30)


@pytest.fixture(scope="module")
def downloads(tmp_path_factory):
    return tmp_path_factory.mktemp("downloads")


@pytest.fixture(scope="module")
def browser(downloads):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1280,1600", "--autoplay-policy=no-user-gesture-required"):
        options.add_argument(arg)
    options.add_experimental_option("prefs", {"download.default_directory": str(downloads),
                                              "download.prompt_for_download": False})
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=DRIVER), options=options)
    yield driver
    driver.quit()


def _csp_violations(browser) -> list[str]:
    return [e["message"] for e in browser.get_log("browser")
            if "Content Security Policy" in e["message"] or "Refused to" in e["message"]]


def _wait(browser, condition, timeout=180):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(browser, timeout).until(condition)


def _open_job(browser, server, name):
    """Load the page and pick a scan from the history by its file name."""
    from selenium.webdriver.common.by import By

    browser.get(server["url"])
    button = _wait(browser, lambda d: next((b for b in d.find_elements(
        By.CSS_SELECTOR, "#history button") if b.text.startswith(name)), None), 30)
    button.click()
    _wait(browser, lambda d: d.find_element(By.ID, "result").is_displayed(), 30)


def test_several_files_dropped_at_once_are_queued_and_each_shown(server, browser):
    from selenium.webdriver.common.by import By

    browser.get(server["url"])
    assert "fakescope" in browser.title
    # two files dropped in one go: the files are picked into the input (the only way a test
    # can make File objects), then dropped on the drop zone as a DataTransfer
    browser.find_element(By.ID, "file").send_keys(f"{server['video']}\n{server['signed']}")
    browser.execute_script("""
        const dt = new DataTransfer();
        for (const f of document.getElementById('file').files) dt.items.add(f);
        document.getElementById('file').value = '';
        document.getElementById('drop').dispatchEvent(
          new DragEvent('drop', {dataTransfer: dt, bubbles: true, cancelable: true}));""")
    _wait(browser, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#queue li button")) == 2)
    items = [li.text for li in browser.find_elements(By.CSS_SELECTOR, "#queue li")]
    assert [t.split(" — ")[0] for t in items] == [server["video"].name, "signed.jpg"]
    assert all(t.split(" — ")[1] in ("REAL", "FAKE", "ABSTAIN") for t in items)

    # the video's result: band, its sentence, the score line, crops beside overlays
    browser.find_elements(By.CSS_SELECTOR, "#queue li button")[0].click()
    verdict = browser.find_element(By.ID, "verdict")
    assert verdict.text in ("REAL", "FAKE")
    card = browser.find_element(By.ID, "verdict-card")
    assert verdict.text.lower() in card.get_attribute("class").split()
    assert browser.find_element(By.ID, "explanation").text.startswith(
        ("Flagged as manipulated", "No sign of manipulation"))
    assert "fake at or above 0.500" in browser.find_element(By.ID, "score").text
    svg = browser.find_element(By.ID, "timeline-svg")
    assert len(svg.find_elements(By.CSS_SELECTOR, "circle.point")) >= 2
    person = browser.find_elements(By.CSS_SELECTOR, "#faces .person")[0]
    crop, overlay = person.find_element(By.CSS_SELECTOR, "img.crop"), person.find_element(
        By.CSS_SELECTOR, "img.overlay")
    for img in (crop, overlay):
        _wait(browser, lambda d, img=img: d.execute_script(
            "return arguments[0].complete && arguments[0].naturalWidth > 0", img), 30)
        assert img.size["width"] >= 224  # readable
    assert abs(crop.location["y"] - overlay.location["y"]) < 5  # side by side
    facts = browser.find_element(By.ID, "facts").text
    assert "QuickTime / MOV" in facts and "sha256" in facts
    assert "C2PA manifest none" in browser.find_element(By.ID, "provenance").text

    # the signed image: its Content Credentials on the page and in the sentence
    browser.find_elements(By.CSS_SELECTOR, "#queue li button")[1].click()
    _wait(browser, lambda d: "signed" in d.find_element(By.ID, "verdict-card").text, 10)
    prov = browser.find_element(By.ID, "provenance").text
    assert "valid (signer not on a trust list)" in prov and "fakescope test signer" in prov
    assert "trainedAlgorithmicMedia" in prov
    assert "generated by an AI model" in browser.find_element(By.ID, "explanation").text
    history = browser.find_elements(By.CSS_SELECTOR, "#history li")
    assert any(server["video"].name in li.text for li in history)
    assert _csp_violations(browser) == []  # the page works under the server's strict CSP
    ARTEFACTS.mkdir(exist_ok=True)
    browser.save_screenshot(str(ARTEFACTS / "serve_page.png"))


def test_a_timeline_point_seeks_the_video_and_boxes_its_faces(server, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    _open_job(browser, server, "panel-interview.mp4")
    player = browser.find_element(By.ID, "player")
    _wait(browser, lambda d: d.execute_script("return arguments[0].readyState >= 1", player), 30)
    points = browser.find_elements(By.CSS_SELECTOR, "#timeline-svg circle.point")
    # it opens on the most suspicious sampled frame, so the boxes drawn are that frame's
    top = browser.find_element(By.CSS_SELECTOR, "#timeline-svg circle.point.current")
    _wait(browser, lambda d: abs(d.execute_script("return arguments[0].currentTime", player)
                                 - float(top.get_attribute("data-time"))) < 0.05, 10)
    target = points[len(points) // 2]
    browser.execute_script("arguments[0].dispatchEvent(new MouseEvent('click', {bubbles: true}))",
                           target)  # an SVG circle: click it where it is drawn
    t = float(target.get_attribute("data-time"))
    _wait(browser, lambda d: abs(d.execute_script("return arguments[0].currentTime", player) - t) < 0.05, 10)
    frame = target.get_attribute("data-frame")
    caption = browser.find_element(By.ID, "frame-caption").text
    assert caption.startswith(f"Sampled frame {frame} at ") and "person 1 scores" in caption
    boxes = browser.find_elements(By.CSS_SELECTOR, "#boxes rect.facebox")
    assert boxes and boxes[0].size["width"] > 10  # drawn over the video, scaled to it
    # keyboard: the next point by arrow key, Enter seeks there
    browser.execute_script("arguments[0].focus()", points[0])
    browser.switch_to.active_element.send_keys(Keys.ARROW_RIGHT)
    assert browser.switch_to.active_element.get_attribute("data-frame") == points[1].get_attribute("data-frame")
    browser.switch_to.active_element.send_keys(Keys.ENTER)
    t1 = float(points[1].get_attribute("data-time"))
    _wait(browser, lambda d: abs(d.execute_script("return arguments[0].currentTime", player) - t1) < 0.05, 10)
    assert _csp_violations(browser) == []


def test_inconclusive_band_with_its_sentence_probability_and_panel(server, browser):
    from selenium.webdriver.common.by import By

    _open_job(browser, server, "panel-interview.mp4")
    assert browser.find_element(By.ID, "verdict").text == "INCONCLUSIVE"
    assert "inconclusive" in browser.find_element(By.ID, "verdict-card").get_attribute("class")
    assert browser.find_element(By.ID, "explanation").text.startswith(
        "Inconclusive — a person should look")
    score = browser.find_element(By.ID, "score").text
    assert "calibrated probability of manipulation 38 %" in score
    assert "inconclusive from 0.550" in score
    rows = browser.find_elements(By.CSS_SELECTOR, "#members-table tr")
    cells = [[c.text for c in r.find_elements(By.CSS_SELECTOR, "th, td")][:2] for r in rows[1:]]
    assert cells == [["faceblend", "0.610"], ["effnet", "0.220"], ["fakebuster", "0.740"]]
    bar = rows[1].find_element(By.CSS_SELECTOR, ".bar")
    cell = rows[1].find_element(By.CSS_SELECTOR, ".barcell")
    assert abs(bar.size["width"] / cell.size["width"] - 0.61) < 0.05


def test_the_report_downloads_and_opens_self_contained(server, browser, downloads):
    from selenium.webdriver.common.by import By

    _open_job(browser, server, "panel-interview.mp4")
    browser.find_element(By.ID, "download-report").click()
    report = _wait(browser, lambda d: next(iter(downloads.glob("fakescope-report-*.html")), None), 30)
    assert report.name == "fakescope-report-panel-interview.html"
    browser.get(report.as_uri())
    headings = [h.text for h in browser.find_elements(By.CSS_SELECTOR, "h2, h3")]
    for h in ("Evidence", "The file", "Provenance", "Detector", "How to reproduce",
              "Each detector of the panel"):
        assert h in headings
    assert "INCONCLUSIVE" in browser.find_element(By.CSS_SELECTOR, ".band .label").text
    imgs = browser.find_elements(By.TAG_NAME, "img")
    assert len(imgs) >= 3  # the boxed frame, a crop and its overlay
    assert all(browser.execute_script("return arguments[0].naturalWidth > 0", i) for i in imgs)
    pdf = browser.execute_cdp_cmd("Page.printToPDF", {})  # prints (to PDF) without error
    assert len(pdf["data"]) > 10_000


@pytest.mark.parametrize("width", [1280, 390])
def test_no_layout_break_at_1280_or_390_px(server, browser, width):
    _open_job(browser, server, "panel-interview.mp4")
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": width, "height": 900, "deviceScaleFactor": 1, "mobile": width < 500})
    try:
        time.sleep(0.3)
        inner, scroll = browser.execute_script(
            "return [window.innerWidth, document.documentElement.scrollWidth]")
        assert inner == width and scroll <= width, f"page is {scroll} px wide in {width} px"
        over = browser.execute_script("""
            return [...document.querySelectorAll('#result *')].filter((e) => {
              const r = e.getBoundingClientRect();
              return r.width > 0 && r.right > window.innerWidth + 1;
            }).map((e) => e.tagName + '#' + e.id + '.' + e.className).slice(0, 5);""")
        assert over == []
    finally:
        browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


@pytest.fixture(scope="module")
def other_site(server):
    """A page on another origin (another port) that posts a file to the fakescope server, as any
    site the user visits could."""
    import functools
    import http.server

    folder = server["root"] / "evil"
    folder.mkdir()
    (folder / "index.html").write_text(f"""<!doctype html><title>waiting</title><script>
const form = new FormData();
form.append("file", new Blob([new Uint8Array([137, 80, 78, 71])]), "evil.png");
fetch("{server['url']}api/scans", {{method: "POST", mode: "no-cors", body: form}})
  .then(() => {{ document.title = "sent"; }}, () => {{ document.title = "sent"; }});
</script>""")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", _free_port()), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/index.html"
    httpd.shutdown()


def test_another_site_cannot_submit_scans_through_the_browser(server, other_site, browser):
    import json
    import urllib.request

    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(other_site)
    WebDriverWait(browser, 30).until(lambda d: d.title == "sent")
    with urllib.request.urlopen(server["url"] + "api/scans?limit=200") as r:
        names = [job["filename"] for job in json.load(r)["items"]]
    assert "evil.png" not in names
