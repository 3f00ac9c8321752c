"""Tiny trained latentforensics bundles for tests: a PCA and a logistic regression fitted in
a second on jittered copies of the astronaut's face (real) and tinted copies (fake). Enough
to exercise the protocol; not a detector anyone should use."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from media_factory import astronaut

from fakescope.detectors.bundle import BundleMeta
from fakescope.detectors.sk_bundle import save_sk_bundle
from fakescope.families.latentforensics.align import ALIGNED_SIZE, CROP_PRESET
from fakescope.families.latentforensics.classifiers import make_classifier
from fakescope.families.latentforensics.projectors import PCAProjector


def face_variants(n: int, seed: int = 0, size: int = ALIGNED_SIZE) -> np.ndarray:
    """n crops of the astronaut's face, each shifted, scaled and lit a little differently."""
    rng = np.random.default_rng(seed)
    img = astronaut()
    out = np.empty((n, size, size, 3), np.uint8)
    for i in range(n):
        side = int(rng.integers(150, 200))
        x0, y0 = int(rng.integers(150, 200)), int(rng.integers(40, 90))
        crop = cv2.resize(img[y0 : y0 + side, x0 : x0 + side], (size, size))
        out[i] = np.clip(crop * rng.uniform(0.8, 1.2), 0, 255).astype(np.uint8)
    return out


def tint(faces: np.ndarray) -> np.ndarray:
    """The test's "fakes": green and blue dimmed."""
    return (faces * np.array([1.0, 0.7, 0.7])).astype(np.uint8)


def make_lf_bundle(path: str | Path, threshold: float = 0.5, n_components: int = 16) -> tuple[Path, str]:
    real = face_variants(48, seed=0)
    fake = tint(face_variants(48, seed=1))
    proj = PCAProjector(n_components=n_components, resolution=32).fit([real, fake])
    x = np.concatenate([proj.transform(real), proj.transform(fake)])
    y = np.r_[np.zeros(len(real)), np.ones(len(fake))].astype(int)
    clf = make_classifier("lr", max_iter=300).fit(x, y)
    meta = BundleMeta(model_name="latentforensics_pca_lr", model_kwargs={},
                      input_size=ALIGNED_SIZE, crop_preset=CROP_PRESET, threshold=threshold,
                      threshold_method="fixed", detector="latentforensics",
                      extra={"projector": "pca", "classifier": "lr"})
    path = Path(path)
    sha = save_sk_bundle(path, meta, {"projector": proj.state(), "classifier": clf})
    return path, sha
