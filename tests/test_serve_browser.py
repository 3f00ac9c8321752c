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


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    import uvicorn

    root = tmp_path_factory.mktemp("browser")
    bundle, _, _ = make_bundle(root / "fb.pt", threshold=0.5)
    settings = ScanSettings(weights=str(bundle), runtime="torch", min_face=24, sampling="uniform:8")
    app = create_app(ServeConfig(data_dir=root / "data", settings=settings))
    port = _free_port()
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    t0 = time.monotonic()
    while not srv.started and time.monotonic() - t0 < 30:
        time.sleep(0.05)
    assert srv.started, "the server did not start"
    yield {"url": f"http://127.0.0.1:{port}/", "root": root}
    srv.should_exit = True
    thread.join(timeout=30)


@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1200,1600"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(executable_path=DRIVER), options=options)
    yield driver
    driver.quit()


def test_upload_the_demo_video_and_read_the_result(server, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    from fakescope.demo import build_sample

    sample = build_sample(server["root"] / "sample")
    video = next(p for p in sample if p.suffix == ".mp4")
    browser.get(server["url"])
    assert "fakescope" in browser.title
    browser.find_element(By.ID, "file").send_keys(str(video))
    browser.find_element(By.ID, "submit").click()
    verdict = WebDriverWait(browser, 180).until(ec.visibility_of_element_located((By.ID, "verdict")))
    assert verdict.text in ("REAL", "FAKE", "ABSTAIN")
    assert "threshold" in browser.find_element(By.ID, "score").text
    svg = browser.find_element(By.ID, "timeline-svg")
    assert len(svg.find_elements(By.CSS_SELECTOR, "circle")) >= 2  # one point per scored frame
    people = browser.find_elements(By.CSS_SELECTOR, "#faces .person")
    assert len(people) >= 1
    img = people[0].find_element(By.TAG_NAME, "img")
    WebDriverWait(browser, 30).until(lambda d: d.execute_script(
        "return arguments[0].complete && arguments[0].naturalWidth > 0", img))
    assert img.size["width"] >= 224  # readable, as the overlays are written at >= 224 px
    history = browser.find_elements(By.CSS_SELECTOR, "#history li")
    assert any(video.name in li.text for li in history)
    ARTEFACTS.mkdir(exist_ok=True)
    browser.save_screenshot(str(ARTEFACTS / "serve_page.png"))
    assert (ARTEFACTS / "serve_page.png").stat().st_size > 10_000


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
