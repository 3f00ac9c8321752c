"""`fakescope serve` attacked as issue 29 did, one test per attack (docs/security.md names each):
path tricks on the artefact route, other websites (cross-site requests, DNS rebinding), missing
headers, files changed or swapped between check and scan, bad values, token rules, the queue
bound under slow uploads, deleted running jobs, leftovers and endless re-queues, the memory
cap. The detector is an untrained bundle: plumbing only."""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import sqlite3
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from media_factory import make_image
from serve_factory import serve_basics
from serve_factory import serve_basics
from serve_factory import wait as _wait
from fakescope.scan import ScanSettings
from fakescope.serve.app import ServeConfig, create_app
from fakescope.serve.store import JobStore

BASE = "http://127.0.0.1:8000"
TOKEN = "s3cret"


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    root = tmp_path_factory.mktemp("security")
    settings, media = serve_basics(root)
    make_image(media / "blank.png", size=(128, 128), blank=True)
    return {"root": root, "settings": settings, "media": media}


def _app(env, tmp_path: Path, **kw):
    config = ServeConfig(data_dir=tmp_path / "data", settings=env["settings"], **kw)
    return create_app(config), config


def _client(app, **kw) -> TestClient:
    return TestClient(app, base_url=BASE, **kw)


def _upload(client, path: Path, name: str | None = None, **kw):
    with open(path, "rb") as fh:
        return client.post("/api/scans", files={"file": (name or path.name, fh)}, **kw)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# -- 1. path tricks ---------------------------------------------------------------------------
def test_artefact_route_does_not_leave_its_folder(env, tmp_path):
    app, config = _app(env, tmp_path)
    client = _client(app)
    job_id = _upload(client, env["media"] / "face.png").json()["id"]
    for url in ("/api/scans/%2e%2e/artefacts/jobs.sqlite",
                f"/api/scans/%2e%2e/artefacts/uploads/{job_id}/upload.png",
                f"/api/scans/{job_id}/artefacts/%2e%2e/%2e%2e/jobs.sqlite"):
        r = client.get(url)
        assert r.status_code in (404, 422), (url, r.status_code)
        assert b"SQLite format" not in r.content and b"PNG" not in r.content


def test_uploaded_html_is_never_stored_or_served_as_html(env, tmp_path):
    app, config = _app(env, tmp_path)
    client = _client(app)
    page = tmp_path / "page.html"
    page.write_text("<html><script>alert(document.cookie)</script></html>")
    job_id = _upload(client, page).json()["id"]
    stored = [p.name for p in (config.data_dir / "uploads" / job_id).iterdir()]
    assert stored == ["upload.bin"]  # the server's name, never the client's .html
    # An artefact that is not one of the scan's images is a download, never a page.
    folder = config.data_dir / "artefacts" / job_id
    folder.mkdir(parents=True)
    (folder / "x.html").write_text("<script>alert(1)</script>")
    r = client.get(f"/api/scans/{job_id}/artefacts/x.html")
    assert r.status_code == 200 and r.headers["content-type"] == "application/octet-stream"
    assert r.headers["content-disposition"].startswith("attachment")
    # The page's <video>/<img> source: a non-media upload is a download there too.
    r = client.get(f"/api/scans/{job_id}/input")
    assert r.status_code == 200 and r.headers["content-type"] == "application/octet-stream"
    assert r.headers["content-disposition"].startswith("attachment")


def test_job_ids_are_validated_where_they_enter(env, tmp_path):
    app, _ = _app(env, tmp_path)
    client = _client(app, raise_server_exceptions=False)
    for bad in ("nope", "%00", "%2e%2e", "A" * 32):
        assert client.get(f"/api/scans/{bad}").status_code == 422, bad
        assert client.delete(f"/api/scans/{bad}").status_code == 422, bad


# -- 2. other websites -----------------------------------------------------------------------
def test_dns_rebinding_host_is_refused(env, tmp_path):
    app, _ = _app(env, tmp_path)
    client = _client(app)
    r = client.get("/api/scans", headers={"Host": "rebind.evil.example:8000"})
    assert r.status_code == 400 and "items" not in r.text
    assert client.get("/api/scans", headers={"Host": "localhost:8000"}).status_code == 200
    assert client.get("/api/scans", headers={"Host": "[::1]:8000"}).status_code == 200
    app, _ = _app(env, tmp_path / "named", allowed_hosts=("scans.example.org",))
    assert _client(app).get("/api/scans", headers={"Host": "scans.example.org"}).status_code == 200


@pytest.mark.parametrize("headers", [
    {"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"},
    {"Origin": "https://evil.example"},
    {"Sec-Fetch-Site": "cross-site"},
    {"Sec-Fetch-Site": "same-site", "Origin": "http://127.0.0.1:3000"},
    {"Origin": "null"},
])
def test_cross_site_state_changes_are_refused(env, tmp_path, headers):
    app, config = _app(env, tmp_path)
    client = _client(app)
    r = _upload(client, env["media"] / "face.png", headers=headers)
    assert r.status_code == 403, r.text
    assert not list((config.data_dir / "uploads").glob("*"))  # refused before the body
    job_id = _upload(client, env["media"] / "face.png").json()["id"]
    assert client.delete(f"/api/scans/{job_id}", headers=headers).status_code == 403
    same = {"Origin": BASE, "Sec-Fetch-Site": "same-origin"}
    assert _upload(client, env["media"] / "face.png", headers=same).status_code == 202


def test_security_headers_on_every_response(env, tmp_path):
    app, _ = _app(env, tmp_path)
    client = _client(app)
    for r in (client.get("/"), client.get("/static/app.js"), client.get("/api/scans"),
              client.get("/api/scans/" + "0" * 32), client.get("/", headers={"Host": "evil"})):
        csp = r.headers["content-security-policy"]
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert r.headers["x-frame-options"] == "DENY"
        assert r.headers["x-content-type-options"] == "nosniff"
    assert client.get("/api/scans").headers["cache-control"] == "no-store"


# -- 3. races between check and scan ---------------------------------------------------------
def test_a_file_changed_after_submission_cannot_poison_the_cache(env, tmp_path):
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    target = allowed / "photo.png"
    shutil.copy(env["media"] / "face.png", target)
    original = _sha(target)
    app, _ = _app(env, tmp_path, allow_roots=(allowed,))
    job_id = _client(app).post("/api/scans", json={"path": str(target)}).json()["id"]
    shutil.copy(env["media"] / "blank.png", target)  # overwritten while the job is queued
    with _client(app) as client:  # now the runner starts
        job = _wait(client, job_id)
        assert job["result"]["sha256"] == original and job["result"]["path"] == str(target)
        # the original bytes, uploaded: answered with a result for those bytes, not the other file's
        again = _wait(client, _upload(client, env["media"] / "face.png").json()["id"])
        assert again["result"]["sha256"] == original


def test_a_folder_swapped_for_a_link_after_submission_is_not_followed(env, tmp_path):
    allowed, outside = tmp_path / "allowed", tmp_path / "outside"
    (allowed / "sub").mkdir(parents=True)
    outside.mkdir()
    make_image(allowed / "sub" / "x.png", size=(128, 128), blank=True)
    shutil.copy(env["media"] / "face.png", outside / "x.png")
    checked = _sha(allowed / "sub" / "x.png")
    app, _ = _app(env, tmp_path, allow_roots=(allowed,))
    job_id = _client(app).post("/api/scans", json={"path": str(allowed / "sub" / "x.png")}).json()["id"]
    shutil.rmtree(allowed / "sub")
    os.symlink(outside, allowed / "sub")  # swapped while the job is queued
    with _client(app) as client:
        assert _wait(client, job_id)["result"]["sha256"] == checked != _sha(outside / "x.png")


def test_a_folder_swapped_for_a_link_during_the_check_is_refused(env, tmp_path, monkeypatch):
    from fakescope.serve import paths

    allowed, outside = tmp_path / "allowed", tmp_path / "outside"
    (allowed / "sub").mkdir(parents=True)
    outside.mkdir()
    make_image(allowed / "sub" / "x.png", size=(128, 128), blank=True)
    shutil.copy(env["media"] / "face.png", outside / "x.png")
    resolve = paths._containing_root

    def swap_after_resolving(real, roots):
        found = resolve(real, roots)
        shutil.rmtree(allowed / "sub")
        os.symlink(outside, allowed / "sub")
        return found

    monkeypatch.setattr(paths, "_containing_root", swap_after_resolving)
    app, config = _app(env, tmp_path, allow_roots=(allowed,))
    r = _client(app).post("/api/scans", json={"path": str(allowed / "sub" / "x.png")})
    assert r.status_code == 409, r.text
    assert not list((config.data_dir / "uploads").glob("*"))


# -- 4. bad input ----------------------------------------------------------------------------
@pytest.mark.parametrize("body", [
    {"path": "a\x00b"}, {"path": "x.png", "threshold": "0.5"}, {"path": "x.png", "threshold": True},
    {"path": "x.png", "unknown": 1},
])
def test_bad_json_values_are_422(env, tmp_path, body):
    app, _ = _app(env, tmp_path, allow_roots=(tmp_path,))
    r = _client(app, raise_server_exceptions=False).post("/api/scans", json=body)
    assert r.status_code == 422, r.text


def test_bad_query_values_are_422(env, tmp_path):
    client = _client(_app(env, tmp_path)[0], raise_server_exceptions=False)
    assert client.get(f"/api/scans?offset={2**63}").status_code == 422
    assert client.get("/api/scans/%00/artefacts/x.png").status_code == 422
    r = _upload(client, env["media"] / "face.png", data={"threshold": "nan"})
    assert r.status_code == 422 and "threshold" in r.json()["detail"]


def test_job_store_failure_is_a_clean_status_not_500(env, tmp_path, monkeypatch):
    app, _ = _app(env, tmp_path)
    client = _client(app, raise_server_exceptions=False)

    def full(self):
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(JobStore, "_connect", full)
    r = client.get("/api/scans")
    assert r.status_code == 507 and "disk" in r.json()["detail"] and r.headers["retry-after"]


@pytest.mark.parametrize("name", ["日本.jpg", "visage_é.jpg"])
def test_non_latin1_upload_names_are_kept(env, tmp_path, name):
    app, _ = _app(env, tmp_path)
    client = _client(app)
    r = _upload(client, env["media"] / "face.png", name=name)
    assert r.status_code == 202, r.text
    assert client.get(f"/api/scans/{r.json()['id']}").json()["filename"] == name


def test_token_rules_have_no_bypass(env, tmp_path):
    app, config = _app(env, tmp_path, token=TOKEN)
    client = _client(app, raise_server_exceptions=False)
    good = {"Authorization": f"Bearer {TOKEN}"}
    assert client.get("/api/health").status_code == 401
    assert client.get("/api/scans", headers={"Authorization": TOKEN}).status_code == 401  # no scheme
    assert client.get("/api/scans", headers={"Authorization": "Bearer é".encode()}).status_code == 401
    assert _upload(client, env["media"] / "face.png", params={"token": TOKEN}).status_code == 401
    job_id = _upload(client, env["media"] / "face.png", headers=good).json()["id"]
    assert client.delete(f"/api/scans/{job_id}?token={TOKEN}").status_code == 401
    folder = config.data_dir / "artefacts" / job_id
    folder.mkdir(parents=True)
    (folder / "o.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    # the page's <img> tags: ?token= works on artefacts, and only there
    assert client.get(f"/api/scans/{job_id}/artefacts/o.png?token={TOKEN}").status_code == 200
    assert client.get(f"/api/scans/{job_id}/artefacts/o.png?token=wrong").status_code == 401
    # the page's <video>/<img> of the input likewise; the report (fetched by script) by header only
    assert client.get(f"/api/scans/{job_id}/input?token={TOKEN}").status_code == 200
    assert client.get(f"/api/scans/{job_id}/input").status_code == 401
    assert client.get(f"/api/scans/{job_id}/report?token={TOKEN}").status_code == 401
    assert client.get(f"/api/scans/{job_id}/report", headers=good).status_code in (200, 404)


# -- 5. limits, deletion, leftovers ------------------------------------------------------------
def test_slow_uploads_cannot_pass_the_queue_bound(env, tmp_path):
    app, config = _app(env, tmp_path, max_queue=2)
    image = (env["media"] / "face.png").read_bytes()
    release = asyncio.Event()

    async def body():
        head = (b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\n'
                b"Content-Type: image/png\r\n\r\n")
        yield head
        await release.wait()  # every upload is still sending its body when the next arrives
        yield image + b"\r\n--b--\r\n"

    async def main():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
            tasks = []
            for _ in range(5):
                tasks.append(asyncio.create_task(client.post(
                    "/api/scans", content=body(),
                    headers={"content-type": "multipart/form-data; boundary=b"})))
                await asyncio.sleep(0.2)
            release.set()
            return [r.status_code for r in await asyncio.wait_for(asyncio.gather(*tasks), 60)]

    codes = asyncio.run(main())
    assert sorted(codes) == [202, 202, 429, 429, 429], codes


def test_deleting_a_running_job_leaves_no_artefacts(env, tmp_path):
    from fakescope.scan import IsolatedScanner

    app, config = _app(env, tmp_path)
    client = _client(app)  # no lifespan: the runner is driven by hand below
    job_id = _upload(client, env["media"] / "face.png").json()["id"]
    store, runners = app.state.store, app.state.runners
    job = store.claim_next()
    assert job.id == job_id
    assert client.delete(f"/api/scans/{job_id}").status_code == 204  # while it "runs"
    # the upload is gone; scan a copy so the worker really writes its face crops
    (config.data_dir / "uploads" / job_id).mkdir(parents=True)
    shutil.copy(env["media"] / "face.png", config.data_dir / "uploads" / job_id / "upload.png")
    with IsolatedScanner(env["settings"]) as scanner:
        runners._run(scanner, job)
    assert not (config.data_dir / "artefacts" / job_id).exists()
    assert not (config.data_dir / "uploads" / job_id).exists()
    assert client.get(f"/api/scans/{job_id}/artefacts/x.png").status_code == 404


def test_an_upload_cut_off_by_a_killed_server_leaves_nothing(env, tmp_path):
    data = tmp_path / "data"
    orphan = data / "uploads" / ("a" * 32)
    orphan.mkdir(parents=True)
    (orphan / "upload.part").write_bytes(b"half an upload")
    (data / "artefacts" / ("b" * 32)).mkdir(parents=True)
    app, _ = _app(env, tmp_path)
    with _client(app):
        assert not orphan.exists() and not (data / "artefacts" / ("b" * 32)).exists()


def test_a_job_that_keeps_killing_the_server_is_not_requeued_forever(env, tmp_path):
    from fakescope.serve.store import MAX_ATTEMPTS

    store = JobStore(tmp_path / "data" / "jobs.sqlite")
    job = store.add("path", str(env["media"] / "face.png"), "face.png",
                    {"weights": env["settings"].weights}, None, None)
    for _ in range(MAX_ATTEMPTS):
        assert store.claim_next().id == job.id  # ... and the server dies while scanning it
        store.requeue_interrupted()
    assert store.get(job.id).status == "failed"
    assert "interrupted 2 times" in store.get(job.id).error
    assert store.claim_next() is None


def test_memory_cap_below_4_gib_keeps_explanations_working(tmp_path, astronaut):
    """The default (ONNX) detector imports torch only for the Grad-CAM overlays serve writes."""
    import imageio.v3 as iio

    from fakescope.scan import IsolatedScanner, Limits

    iio.imwrite(tmp_path / "astronaut.png", astronaut)
    with IsolatedScanner(ScanSettings(), Limits(memory_mb=2048)) as scanner:
        result = scanner.scan_file(tmp_path / "astronaut.png", explain_dir=tmp_path / "ex")
    assert result.verdict != "error", result.reason
    assert list((tmp_path / "ex").rglob("*.png"))


# -- 6. offline ------------------------------------------------------------------------------
def test_docs_from_a_cdn_are_off_by_default(env, tmp_path):
    client = _client(_app(env, tmp_path)[0])
    assert client.get("/docs").status_code == 404 and client.get("/redoc").status_code == 404
    assert client.get("/openapi.json").status_code == 200
    assert "cdn" not in client.get("/").text.lower()
