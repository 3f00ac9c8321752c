"""What the serve tests start from: an untrained bundle (plumbing only), the scan settings a
test server runs with, and a media folder holding one face."""

from __future__ import annotations

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
