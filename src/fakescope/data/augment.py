"""Training augmentation (albumentations 2.x) whose magnitudes scale with one `strength`.

At ``strength=1`` this is seed 001's set (§2.2.5): JPEG quality 60–100, Gaussian noise,
horizontal flip, one of brightness/contrast, FancyPCA or hue/saturation, to-gray, and
shift-scale-rotate (shift 0.1, scale 0.2, rotate 10°; ``Affine`` in albumentations 2.x),
plus cutout (``CoarseDropout``, seed 002 §3.3). Progressive learning (seed 002): the
trainer builds a new pipeline each epoch with a growing strength, so early epochs see mild
distortions and later ones the full set. ``strength=0`` leaves only the horizontal flip.

Deterministic under a seed: ``Compose(seed=...)`` owns its random state, independent of the
global RNGs (in DataLoader workers, `datasets.seed_worker` reseeds it per worker).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import albumentations as A
import cv2
import numpy as np


class VideoCodecCompression(A.ImageOnlyTransform):
    """A crop as a compressed video shows it: downscaled by a factor in `scale_range`,
    re-encoded by one of `codecs` (H.264 / HEVC / VP9, `media.codec`) at a CRF in `crf_range`
    as a predicted frame, decoded and scaled back up. Applied to reals and fakes alike, so
    compression and resolution say nothing about the class."""

    def __init__(self, codecs: Sequence[str] = ("h264", "hevc", "vp9"),
                 crf_range: tuple[int, int] = (23, 45),
                 scale_range: tuple[float, float] = (0.25, 1.0), p: float = 0.5) -> None:
        super().__init__(p=p)
        from fakescope.media.codec import CODECS, MAX_CRF

        unknown = set(codecs) - set(CODECS)
        if not codecs or unknown:
            raise ValueError(f"codecs must be among {sorted(CODECS)}, got {list(codecs)}")
        lo, hi = (int(v) for v in crf_range)
        if not 0 <= lo <= hi <= min(MAX_CRF[c] for c in codecs):
            raise ValueError(f"crf_range must be increasing within each codec's range, got {crf_range}")
        if not 0.0 < scale_range[0] <= scale_range[1] <= 1.0:
            raise ValueError(f"scale_range must lie in (0, 1], got {scale_range}")
        self.codecs, self.crf_range = tuple(codecs), (lo, hi)
        self.scale_range = (float(scale_range[0]), float(scale_range[1]))

    def get_params(self) -> dict[str, Any]:
        return {"codec": self.py_random.choice(self.codecs),
                "crf": self.py_random.randint(*self.crf_range),
                "scale": self.py_random.uniform(*self.scale_range)}

    def apply(self, img: np.ndarray, codec: str, crf: int, scale: float, **params) -> np.ndarray:
        from fakescope.media.codec import reencode_still

        h, w = img.shape[:2]
        sw, sh = max(16, int(round(w * scale))), max(16, int(round(h * scale)))
        small = img if (sw, sh) == (w, h) else cv2.resize(img, (sw, sh), interpolation=cv2.INTER_AREA)
        out = reencode_still(np.ascontiguousarray(small), codec, crf)
        return out if (sw, sh) == (w, h) else cv2.resize(out, (w, h), interpolation=cv2.INTER_LINEAR)

    def get_transform_init_args_names(self) -> tuple[str, ...]:
        return ("codecs", "crf_range", "scale_range")


def build_augment(strength: float = 1.0, seed: int | None = None, cutout: bool = True,
                  preset: str = "seed001", codec: VideoCodecCompression | None = None
                  ) -> A.Compose:
    """An albumentations Compose for uint8 RGB crops (works on ``image=`` and ``images=``).

    ``seed001``: every magnitude is its seed-001 value times `strength` (clamped to [0, 1]);
    the probabilities are seed 001's, except to-gray whose probability is its "magnitude".
    ``sbi``: SBI's training transforms at full size (strength scales them too); its JPEG step
    is the self-blend dataset's, at native resolution. No noise, blur, cutout or warp: they
    would hide the blending boundary the detector must find.
    `codec`: a `VideoCodecCompression` applied first (as footage is compressed before anyone
    edits a frame of it), whatever the preset.
    """
    head = [codec] if codec is not None else []
    s = float(min(max(strength, 0.0), 1.0))
    if preset == "sbi":
        return A.Compose([
            *head,
            A.HorizontalFlip(p=0.5),
            A.RGBShift((-20 * s, 20 * s), (-20 * s, 20 * s), (-20 * s, 20 * s), p=0.3),
            # SBI's own limits, kept as written (on uint8 images they barely change a pixel)
            A.HueSaturationValue(hue_shift_limit=(-0.3 * s, 0.3 * s),
                                 sat_shift_limit=(-0.3 * s, 0.3 * s),
                                 val_shift_limit=(-0.3 * s, 0.3 * s), p=0.3),
            A.RandomBrightnessContrast(brightness_limit=(-0.3 * s, 0.3 * s),
                                       contrast_limit=(-0.3 * s, 0.3 * s), p=0.3),
        ], seed=seed)
    if preset != "seed001":
        raise ValueError(f"augment preset must be seed001 or sbi, got {preset!r}")
    transforms: list[A.BasicTransform] = list(head)
    if s > 0:
        transforms += [
            A.ImageCompression(quality_range=(int(round(100 - 40 * s)), 100), p=0.5),
            # albumentations 0.x GaussNoise default var_limit (10, 50) on 0-255 = std 3.2-7.1,
            # i.e. 0.012-0.028 of the range (2.x takes std as a fraction of the max value).
            A.GaussNoise(std_range=(0.012 * s, 0.028 * s), p=0.1),
        ]
    transforms.append(A.HorizontalFlip(p=0.5))
    if s > 0:
        transforms += [
            A.OneOf(
                [
                    A.RandomBrightnessContrast(brightness_limit=0.2 * s, contrast_limit=0.2 * s, p=1.0),
                    A.FancyPCA(alpha=0.1 * s, p=1.0),
                    A.HueSaturationValue(
                        hue_shift_limit=20 * s, sat_shift_limit=30 * s, val_shift_limit=20 * s, p=1.0
                    ),
                ],
                p=0.7,
            ),
            A.ToGray(p=0.2 * s),
            A.Affine(
                translate_percent=(-0.1 * s, 0.1 * s),
                scale=(1 - 0.2 * s, 1 + 0.2 * s),
                rotate=(-10 * s, 10 * s),
                border_mode=cv2.BORDER_CONSTANT,
                fill=0,
                p=0.5,
            ),
        ]
        if cutout:
            # Cutout (DeVries & Taylor): 1 square-ish hole of 10 % of the side at low strength,
            # up to 3 holes of 10-30 % at full strength.
            transforms.append(
                A.CoarseDropout(
                    num_holes_range=(1, 1 + int(round(2 * s))),
                    hole_height_range=(0.1, 0.1 + 0.2 * s),
                    hole_width_range=(0.1, 0.1 + 0.2 * s),
                    fill=0,
                    p=0.5,
                )
            )
    return A.Compose(transforms, seed=seed)
