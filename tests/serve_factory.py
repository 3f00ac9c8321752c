"""What the serve tests start from: an untrained bundle (plumbing only), the scan settings a
test server runs with, and a media folder holding one face."""

from __future__ import annotations

import time
from pathlib import Path

from bundle_factory import make_bundle
from media_factory import make_image

from fakescope.scan import ScanSettings


def serve_basics(root: Path) -> tuple[ScanSettings, Path]:
    """(settings, media folder with face.png) under `root`."""
    bundle, _, _ = make_bundle(root / "fb.pt", threshold=0.5)
    settings = ScanSettings(weights=str(bundle), runtime="torch", min_face=24, sampling="uniform:4")
    media = root / "media"
    media.mkdir()
    make_image(media / "face.png", size=(256, 256))
    return settings, media


def wait(client, job_id: str, timeout: float = 120.0, headers: dict | None = None) -> dict:
    """The job once it is done or failed (AssertionError past `timeout` seconds)."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        job = client.get(f"/api/scans/{job_id}", headers=headers or {}).json()
        if job["status"] in ("done", "failed"):
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} did not finish in {timeout} s")
