"""FFHQ-style alignment for seed 000, on full frames (scan) and on ready-cut face crops
(training on the shared DFDC crops), so that both give the same framing.

Seed 000 aligns every face the FFHQ way (5 landmarks onto a template) and projects 256x256
RGB. The shared DFDC crops are tight (the face fills the frame), so the full FFHQ frame, which
shows hair and neck, would be mostly black padding there while a scan of a full frame would
fill it with real context: a train/scan mismatch. `ALIGN_MARGIN` zooms the template in until
the aligned square fits inside a tight crop, moved down the face so the mouth stays in (measured: benchmarks/latentforensics_margin.py,
docs/latentforensics.md), and the crop preset ``ffhq_tight`` cuts the same square from frames.
"""

from __future__ import annotations

import numpy as np

from fakescope.faces.align import FFHQ_TEMPLATE_512, align_face, alignment_matrix
from fakescope.faces.presets import get_crop_spec

ALIGNED_SIZE = 256  # seed 000 projects 256x256 RGB faces
CROP_PRESET = "ffhq_tight"  # the framing scan cuts from frames for this family
# FFHQ template zoomed in by 1 / (1 + ALIGN_MARGIN): measured, see the module docstring.
ALIGN_MARGIN = get_crop_spec(CROP_PRESET).margin
ALIGN_SHIFT_Y = get_crop_spec(CROP_PRESET).shift_y


def centring_shift(margin: float) -> float:
    """The `shift_y` that puts the template's eyes-mouth midpoint at the square's centre when
    zooming by 1 / (1 + margin) (the FFHQ template's face sits below the centre)."""
    unit_y = FFHQ_TEMPLATE_512[:, 1] / 512.0
    mid = (unit_y[:2].mean() + unit_y[3:].mean()) / 2.0
    return float((mid - 0.5) / (1.0 + margin))


def five_from_68(points68: np.ndarray) -> np.ndarray:
    """dlib's 68 points → the 5 the FFHQ template uses, in MTCNN's order (image-left eye,
    image-right eye, nose tip, image-left and image-right mouth corner)."""
    p = np.asarray(points68, dtype=np.float64).reshape(68, 2)
    return np.stack([p[36:42].mean(0), p[42:48].mean(0), p[30], p[48], p[54]])


def outside_fraction(landmarks5: np.ndarray, crop_shape: tuple[int, int], size: int,
                     margin: float, shift_y: float = 0.0) -> float:
    """Share of the aligned square's pixels whose source lies outside a crop of `crop_shape`
    (h, w): the padding an aligned training crop would carry."""
    matrix = alignment_matrix(landmarks5, size, margin, shift_y)
    inv = np.linalg.inv(np.vstack([matrix, [0.0, 0.0, 1.0]]))[:2]
    ys, xs = np.mgrid[0:size:4, 0:size:4]
    pts = np.stack([xs.ravel() + 0.5, ys.ravel() + 0.5, np.ones(xs.size)])
    src = inv @ pts
    h, w = crop_shape
    inside = (src[0] >= 0) & (src[0] < w) & (src[1] >= 0) & (src[1] < h)
    return float(1.0 - inside.mean())


def align_crop(image: np.ndarray, landmarks5: np.ndarray, size: int = ALIGNED_SIZE,
               margin: float = ALIGN_MARGIN, shift_y: float = ALIGN_SHIFT_Y) -> np.ndarray:
    """The aligned size x size face of a crop (or frame) with its 5 landmarks; edge pixels
    are black where the square leaves the image, as in the scan pipeline."""
    return align_face(image, landmarks5, size=size, margin=margin, border="constant",
                      shift_y=shift_y)
