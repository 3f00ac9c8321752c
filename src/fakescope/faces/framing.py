"""Measure how an existing set of face crops is framed relative to a detector's boxes, and turn
that into the CropSpec that reproduces it from full frames.

A model trained on crops framed one way and fed crops framed another is the most common reason
a deepfake detector fails on new videos; this is how fakescope matches the two.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import cv2
import numpy as np

from fakescope.faces.base import FaceDetector, check_image
from fakescope.faces.crop import CropSpec


@dataclass
class FramingStats:
    """Per detected crop, in units of the detector box's longer side `side`:
    `side_ratio` = side / crop side, `width_ratio`/`height_ratio` = box width/height / crop side,
    `shift_x`/`shift_y` = (crop centre - box centre) / side. `landmarks` are the 5 points in
    crop-side units (0..1 inside the crop)."""

    n_crops: int = 0
    side_ratio: list[float] = field(default_factory=list)
    width_ratio: list[float] = field(default_factory=list)
    height_ratio: list[float] = field(default_factory=list)
    shift_x: list[float] = field(default_factory=list)
    shift_y: list[float] = field(default_factory=list)
    confidence: list[float] = field(default_factory=list)
    landmarks: list[np.ndarray] = field(default_factory=list)
    missed: list[int] = field(default_factory=list)  # positions of crops without a face

    @property
    def n_detected(self) -> int:
        return len(self.side_ratio)

    @property
    def detection_rate(self) -> float:
        return self.n_detected / self.n_crops if self.n_crops else 0.0

    def summary(self) -> dict[str, dict[str, float] | float | int]:
        """Quartiles (and 5/95 %) of each measure, plus counts."""
        out: dict[str, dict[str, float] | float | int] = {
            "n_crops": self.n_crops,
            "n_detected": self.n_detected,
            "detection_rate": round(self.detection_rate, 4),
        }
        for key in ("side_ratio", "width_ratio", "height_ratio", "shift_x", "shift_y", "confidence"):
            v = np.asarray(getattr(self, key), np.float64)
            if v.size:
                q = np.percentile(v, [5, 25, 50, 75, 95])
                out[key] = {f"p{p}": round(float(x), 4) for p, x in zip((5, 25, 50, 75, 95), q, strict=True)}
        if self.landmarks:
            out["landmarks_median"] = np.median(np.stack(self.landmarks), axis=0).round(4).tolist()
        return out

    def crop_spec(self) -> CropSpec:
        """The CropSpec whose margin crop of a detector box reproduces the median framing:
        crop side = side * (1 + margin), crop centre = box centre + shift_y * side."""
        if not self.side_ratio:
            raise ValueError("no detections to derive a framing from")
        margin = 1.0 / float(np.median(self.side_ratio)) - 1.0
        return CropSpec(margin=round(margin, 3), shift_y=round(float(np.median(self.shift_y)), 3))


def measure_framing(
    crops: Iterable[np.ndarray],
    detector: FaceDetector,
    pad: float = 0.5,
    scale_jitter: float = 0.0,
    seed: int = 0,
) -> FramingStats:
    """Run `detector` on each crop and record where its box sits in the crop.

    Each crop is first padded by `pad` x its size on every side (edge-replicated): a face
    that fills the whole image is at the edge of what a detector's pyramid and box regression
    handle, and padding gives the box room to extend past a crop that cuts the chin or brow.
    The largest face in each crop is taken as the crop's face.

    Crops of one size hold faces of nearly one size, so a detector whose box sizes come in
    pyramid steps (dlib: 1.2x) would give the same box for almost every crop. `scale_jitter`
    > 0 enlarges each padded crop by a factor drawn log-uniformly in [1, 1 + scale_jitter]
    before detection (box mapped back), so the steps average out; set it to the step - 1.
    """
    if scale_jitter < 0:
        raise ValueError(f"scale_jitter must be >= 0, got {scale_jitter}")
    rng = np.random.default_rng(seed)
    stats = FramingStats()
    for crop in crops:
        check_image(crop, "crop")
        stats.n_crops += 1
        h, w = crop.shape[:2]
        p = int(round(pad * max(h, w)))
        img = cv2.copyMakeBorder(crop, p, p, p, p, cv2.BORDER_REPLICATE) if p else crop
        k = float(np.exp(rng.uniform(0.0, np.log1p(scale_jitter)))) if scale_jitter else 1.0
        if k != 1.0:
            img = cv2.resize(img, None, fx=k, fy=k, interpolation=cv2.INTER_LINEAR)
        dets = detector.detect(img)
        if not dets:
            stats.missed.append(stats.n_crops - 1)
            continue
        d = dets[0]
        x0, y0, x1, y1 = (v / k - p for v in d.box)
        side = max(x1 - x0, y1 - y0)
        crop_side = float(max(h, w))
        stats.side_ratio.append(side / crop_side)
        stats.width_ratio.append((x1 - x0) / crop_side)
        stats.height_ratio.append((y1 - y0) / crop_side)
        stats.shift_x.append((w / 2 - (x0 + x1) / 2) / side)
        stats.shift_y.append((h / 2 - (y0 + y1) / 2) / side)
        stats.confidence.append(d.confidence)
        if d.landmarks is not None:
            stats.landmarks.append((d.landmarks / k - p) / crop_side)
    return stats
