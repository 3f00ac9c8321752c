"""The `latentforensics` detector (seed 000): an aligned face → projector code → classifier
probability. Projector and classifier come from one skops bundle (`detectors.sk_bundle`);
which ones is the bundle's choice (`meta.extra["projector"]`, `meta.extra["classifier"]`).

There is no untrained fallback: without a bundle this is a `WeightsError`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fakescope.detectors.base import BundleDetector, DetectorRequirements
from fakescope.detectors.bundle import Bundle
from fakescope.detectors.registry import register_detector
from fakescope.detectors.torch_bundle import load_family_bundle
from fakescope.detectors.torch_bundle import packaged_weights as _packaged
from fakescope.errors import WeightsError
from fakescope.families.latentforensics.projectors import projector_from_state
from fakescope.types import DetectorInfo

FAMILY = "latentforensics"
PACKAGED_WEIGHTS = "latentforensics_pca_dfdc.skops"
PACKAGED_CARD = "latentforensics_pca_dfdc.json"
SEED_SAMPLING = "every:10"  # seed 000 §4.1: one frame in ten


def packaged_weights() -> tuple[Path, str]:
    return _packaged(PACKAGED_WEIGHTS, PACKAGED_CARD, "LatentForensics")


class LatentForensicsDetector(BundleDetector):
    """Per-crop fake probability: `classifier.predict_proba(projector.transform(crops))`."""

    default_sampling = SEED_SAMPLING

    def __init__(self, bundle: Bundle, batch_size: int = 64) -> None:
        if bundle.meta.detector != FAMILY or not bundle.payload:
            raise WeightsError(f"bundle {bundle.sha256[:12]} is for detector "
                               f"{bundle.meta.detector!r}, not a {FAMILY!r} skops bundle")
        try:
            self.projector = projector_from_state(bundle.payload["projector"])
            self.classifier = bundle.payload["classifier"]
        except (KeyError, ValueError, TypeError) as exc:
            raise WeightsError(f"bundle {bundle.sha256[:12]}: no usable projector/classifier "
                               f"({exc})") from exc
        if not hasattr(self.classifier, "predict_proba"):
            raise WeightsError(f"bundle {bundle.sha256[:12]}: classifier has no predict_proba")
        self.bundle, self.batch_size = bundle, batch_size
        meta = bundle.meta
        self._requirements = DetectorRequirements(input_size=meta.input_size,
                                                  crop_preset=meta.crop_preset,
                                                  mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))
        self._info = DetectorInfo(name=FAMILY, version=meta.version, weights_sha256=bundle.sha256)

    def codes(self, crops: np.ndarray) -> np.ndarray:
        """The projector's codes of the crops, (N, d)."""
        crops = self.check_crops(np.asarray(crops))
        parts = [self.projector.transform(crops[i : i + self.batch_size])
                 for i in range(0, len(crops), self.batch_size)]
        return np.concatenate(parts) if parts else np.zeros((0, 0), np.float32)

    def score_crops(self, crops: np.ndarray) -> np.ndarray:
        crops = self.check_crops(np.asarray(crops))
        if len(crops) == 0:
            return np.zeros(0, dtype=np.float32)
        proba = self.classifier.predict_proba(self.codes(crops))
        fake_col = list(self.classifier.classes_).index(1)
        return proba[:, fake_col].astype(np.float32)


@register_detector(FAMILY, packaged=lambda: packaged_weights())
def create_latentforensics(weights: str | Path | Bundle | None = None, device: str | None = None,
                           runtime: str = "auto", **kwargs) -> LatentForensicsDetector:
    """`weights=None`: the packaged, sha256-pinned bundle; else a skops bundle path. `device`
    and `runtime` are accepted for the common factory signature; this family runs on CPU
    (scikit-learn)."""
    bundle = load_family_bundle(weights, lambda: packaged_weights())
    return LatentForensicsDetector(bundle, **kwargs)
