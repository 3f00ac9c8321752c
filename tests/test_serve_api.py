"""`fakescope serve`'s API through FastAPI's TestClient: upload → done → the CLI's record;
limits, refusals, the job store across a restart, de-duplication, deletion and the token.
The detector is an untrained bundle: plumbing only, never a verdict's correctness."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from media_factory import make_image, make_video
from serve_factory import serve_basics, wait

from fakescope.output.formats import result_to_dict
from fakescope.serve.app import ServeConfig, create_app
from fakescope.serve.store import JobStore


BASE = "http://127.0.0.1:8000"  # a Host the server answers to (loopback by default)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("serve")
    settings, media = serve_basics(root)
    make_video(media / "clip.mp4", n_frames=8, size=(320, 240))
    (media / "notes.mp4").write_text("not a video at all\n" * 50)
    allowed = root / "allowed"
    allowed.mkdir()
    make_image(allowed / "inside.png", size=(128, 128), blank=True)
    os.symlink(media / "face.png", allowed / "link_out.png")
    config = ServeConfig(data_dir=root / "data", settings=settings, max_upload_mb=1.0,
                         allow_roots=(allowed,))
    with TestClient(create_app(config), base_url=BASE) as client:
        yield {"root": root, "client": client, "settings": settings, "media": media,
               "allowed": allowed, "config": config}


def upload(client, path: Path, name: str | None = None, **fields):
    with open(path, "rb") as fh:
        return client.post("/api/scans", files={"file": (name or path.name, fh)}, data=fields)


def _uploads(setup) -> set:
    folder = setup["config"].data_dir / "uploads"
    return set(folder.iterdir()) if folder.is_dir() else set()


def _no_timings(rec: dict) -> dict:
    return {k: v for k, v in rec.items() if k != "timings_s"}


def test_health(setup):
    body = setup["client"].get("/api/health").json()
    assert body["status"] == "ok" and body["default_detector"] and body["auth"] is False


def test_upload_gives_the_clis_record(setup):
    client = setup["client"]
    r = upload(client, setup["media"] / "clip.mp4")
    assert r.status_code == 202
    job = wait(client, r.json()["id"])
    assert job["status"] == "done" and job["progress"] == 1
    result = job["result"]
    assert result["verdict"] in ("real", "fake") and result["kind"] == "video"
    # Exactly what `fakescope scan --json` writes for that file with these settings.
    cli = result_to_dict(setup["settings"].build().scan_file(result["path"]))
    assert _no_timings(result) == _no_timings(cli)
    assert any(a.endswith("timeline.png") for a in job["artefacts"])
    overlay = next(a for a in job["artefacts"] if "track0_" in a)
    img = client.get(f"/api/scans/{job['id']}/artefacts/{overlay}")
    assert img.status_code == 200 and img.content[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_input_is_served_for_the_page_with_ranges(setup):
    client = setup["client"]
    job = wait(client, upload(client, setup["media"] / "clip.mp4").json()["id"])
    whole = client.get(f"/api/scans/{job['id']}/input")
    assert whole.status_code == 200 and whole.headers["content-type"] == "video/mp4"
    assert whole.content == (setup["media"] / "clip.mp4").read_bytes()
    assert whole.headers["x-content-type-options"] == "nosniff"
    part = client.get(f"/api/scans/{job['id']}/input", headers={"Range": "bytes=0-99"})
    assert part.status_code == 206 and len(part.content) == 100  # <video> seeks by ranges
    assert client.get(f"/api/scans/{'0' * 32}/input").status_code == 404


def test_the_report_is_a_self_contained_download(setup):
    client = setup["client"]
    job = wait(client, upload(client, setup["media"] / "clip.mp4", name="Interview <1>.mp4").json()["id"])
    r = client.get(f"/api/scans/{job['id']}/report")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert r.headers["content-disposition"] == 'attachment; filename="fakescope-report-Interview_1_.html"'
    html = r.text
    assert "<h2>Interview &lt;1&gt;.mp4</h2>" in html  # the client's name, escaped
    assert "data:image/jpeg;base64," in html  # the boxed frame, from the job's copy
    assert html.count("data:image/png;base64,") == 2 * len(job["result"]["tracks"])
    assert "--sampling uniform:4" in html  # the server's settings in the reproduction
    assert "<script" not in html
    assert client.get(f"/api/scans/{'0' * 32}/report").status_code == 404


def test_sniffed_not_named_and_non_media_abstains(setup):
    client = setup["client"]
    job = wait(client, upload(client, setup["media"] / "face.png", name="holiday.mp4").json()["id"])
    assert job["result"]["path"].endswith("upload.png")  # stored as what the bytes are
    job = wait(client, upload(client, setup["media"] / "notes.mp4").json()["id"])
    assert job["result"]["verdict"] == "abstain"
    assert job["result"]["reason"].startswith("unreadable: not_media")


def test_oversize_upload_is_413_and_nothing_is_kept(setup, tmp_path):
    big = tmp_path / "big.png"
    big.write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(2 * 2**20))
    before = _uploads(setup)
    r = upload(setup["client"], big)
    assert r.status_code == 413 and "1 MiB" in r.json()["detail"]
    assert _uploads(setup) == before


def test_streamed_body_over_the_limit_is_cut_at_the_limit(setup):
    """No Content-Length to trust: the size is counted while the body streams."""
    boundary = "xyz"

    def body():
        yield (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.png\"\r\n"
               "Content-Type: image/png\r\n\r\n").encode()
        for _ in range(40):
            yield b"\0" * 65536
        yield f"\r\n--{boundary}--\r\n".encode()

    r = setup["client"].post("/api/scans", content=body(),
                             headers={"content-type": f"multipart/form-data; boundary={boundary}"})
    assert r.status_code == 413


@pytest.mark.parametrize("path, status", [
    ("{allowed}/inside.png", 202),
    ("{allowed}/../media/face.png", 403),   # traversal out of the root
    ("{allowed}/link_out.png", 403),        # a symlink pointing out of the root
    ("/etc/passwd", 403),
    ("{allowed}/missing.png", 404),
])
def test_server_paths_only_under_an_allowed_root(setup, path, status):
    path = path.format(allowed=setup["allowed"])
    r = setup["client"].post("/api/scans", json={"path": path})
    assert r.status_code == status, r.text
    if status == 202:
        assert wait(setup["client"], r.json()["id"])["result"]["reason"] == "no_face"


def test_identical_upload_reuses_the_result(setup):
    client = setup["client"]
    first = wait(client, upload(client, setup["media"] / "face.png").json()["id"])
    r = upload(client, setup["media"] / "face.png")
    assert r.json()["status"] == "done"  # answered from the store, no new scan
    again = client.get(f"/api/scans/{r.json()['id']}").json()
    assert _no_timings({**again["result"], "path": ""}) == _no_timings({**first["result"], "path": ""})
    other = wait(client, upload(client, setup["media"] / "face.png", sampling="uniform:2").json()["id"])
    assert other["settings"]["sampling"] == "uniform:2"  # other settings: scanned anew


def test_list_and_delete(setup):
    client = setup["client"]
    job = wait(client, upload(client, setup["media"] / "face.png", name="to_delete.png").json()["id"])
    listing = client.get("/api/scans?limit=3").json()
    assert listing["items"][0]["id"] == job["id"] and listing["total"] >= 1
    folder = setup["config"].data_dir / "uploads" / job["id"]
    assert folder.is_dir()
    assert client.delete(f"/api/scans/{job['id']}").status_code == 204
    assert client.get(f"/api/scans/{job['id']}").status_code == 404
    assert not folder.exists() and not (setup["config"].data_dir / "artefacts" / job["id"]).exists()


def test_bad_options_are_422(setup):
    r = upload(setup["client"], setup["media"] / "face.png", sampling="sometimes")
    assert r.status_code == 422 and "sampling" in r.json()["detail"]
    r = setup["client"].post("/api/scans?detector=nope", json={"path": "x"})
    assert r.status_code == 422


def test_restart_runs_an_interrupted_job_once(setup, tmp_path):
    data = tmp_path / "data"
    store = JobStore(data / "jobs.sqlite")
    image = setup["media"] / "face.png"
    settings = json.loads(json.dumps(setup["settings"].__dict__))
    queued = store.add("path", str(image), "face.png", settings, None, None)
    running = store.add("path", str(image), "face.png", settings, None, None)
    assert store.claim_next().id == queued.id  # a server died while scanning this one
    config = ServeConfig(data_dir=data, settings=setup["settings"])
    with TestClient(create_app(config), base_url=BASE) as client:
        jobs = [wait(client, queued.id), wait(client, running.id)]
        assert [j["status"] for j in jobs] == ["done", "done"]
        assert client.get("/api/scans").json()["total"] == 2  # nothing lost, nothing duplicated


def test_full_queue_is_429_with_retry_after(setup, tmp_path):
    config = ServeConfig(data_dir=tmp_path / "data", settings=setup["settings"], max_queue=1)
    client = TestClient(create_app(config), base_url=BASE)  # no lifespan: no runner takes the job
    assert upload(client, setup["media"] / "face.png").status_code == 202
    r = upload(client, setup["media"] / "clip.mp4")
    assert r.status_code == 429 and r.headers["retry-after"] == "5"


def test_token_is_required_when_set(setup, tmp_path):
    config = ServeConfig(data_dir=tmp_path / "data", settings=setup["settings"], token="s3cret")
    client = TestClient(create_app(config), base_url=BASE)
    assert client.get("/api/scans").status_code == 401
    assert client.get("/api/scans", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get("/api/scans", headers={"Authorization": "Bearer s3cret"}).status_code == 200
    assert client.get("/api/health").status_code == 401  # every /api call, health too
    assert client.get("/api/health", headers={"Authorization": "Bearer s3cret"}).status_code == 200
    page = client.get("/")
    assert page.status_code == 200 and "fakescope" in page.text
    assert client.get("/static/app.js").status_code == 200  # served by the app: no CDN



def test_disk_full_is_a_clean_507(setup, monkeypatch):
    import errno

    from fakescope.serve import uploads

    def full(self, data, start, end):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(uploads._PartState, "_part_data", full)
    before = _uploads(setup)
    r = upload(setup["client"], setup["media"] / "face.png")
    assert r.status_code == 507 and "space" in r.json()["detail"]
    assert _uploads(setup) == before


def test_malformed_json_body_is_422_not_500(setup):
    r = setup["client"].post("/api/scans", content=b"{not json",
                             headers={"content-type": "application/json"})
    assert r.status_code == 422 and "JSON" in r.json()["detail"]
