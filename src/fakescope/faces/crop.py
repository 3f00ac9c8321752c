"""Square face crops from a detection box: margin, vertical shift, padding, resize.

The margin follows seed 001: the crop side is the box's longer side times (1 + margin), so
margin 0.5 adds a quarter of the face on each side and a negative margin cuts into the box.
`shift_y` moves the crop centre down (positive) by that fraction of the box's longer side;
it exists because a training set's crops need not be centred on a detector's box.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np

from fakescope.faces.base import check_image

Border = Literal["constant", "edge"]
_BORDERS = {"constant": cv2.BORDER_CONSTANT, "edge": cv2.BORDER_REPLICATE}


@dataclass(frozen=True)
class CropSpec:
    """How a face is framed. `align=True` warps the 5 landmarks onto the FFHQ-like template
    (margin then widens the template's frame); otherwise the box is margin-cropped."""

    margin: float = 0.0
    shift_y: float = 0.0
    align: bool = False

    def __post_init__(self) -> None:
        if self.margin <= -1.0:
            raise ValueError(f"margin must be > -1, got {self.margin}")


def square_box(
    box: tuple[float, float, float, float], margin: float = 0.0, shift_y: float = 0.0
) -> tuple[float, float, float, float]:
    """The square crop region (x0, y0, x1, y1) for a face box; may leave the frame."""
    if margin <= -1.0:
        raise ValueError(f"margin must be > -1, got {margin}")
    x0, y0, x1, y1 = box
    side_box = max(x1 - x0, y1 - y0)
    if side_box <= 0:
        raise ValueError(f"degenerate face box {box}")
    side = side_box * (1.0 + margin)
    cx = (x0 + x1) / 2.0
    cy = (y0 + y1) / 2.0 + shift_y * side_box
    return (cx - side / 2.0, cy - side / 2.0, cx + side / 2.0, cy + side / 2.0)


def crop_region(
    image: np.ndarray,
    region: tuple[float, float, float, float],
    size: int,
    border: Border = "constant",
) -> np.ndarray:
    """Cut `region` out of `image` (padding where it leaves the frame) and resize it to
    size x size: INTER_AREA when shrinking (no aliasing), INTER_LINEAR when enlarging."""
    check_image(image)
    if size < 1:
        raise ValueError(f"size must be >= 1, got {size}")
    h, w = image.shape[:2]
    x0, y0 = int(round(region[0])), int(round(region[1]))
    rw = max(1, int(round(region[2] - region[0])))
    rh = max(1, int(round(region[3] - region[1])))
    x1, y1 = x0 + rw, y0 + rh
    cx0, cy0, cx1, cy1 = max(0, x0), max(0, y0), min(w, x1), min(h, y1)
    if cx0 >= cx1 or cy0 >= cy1:  # entirely outside the frame
        patch = np.zeros((rh, rw, 3), np.uint8)
    else:
        patch = image[cy0:cy1, cx0:cx1]
        pads = (cy0 - y0, y1 - cy1, cx0 - x0, x1 - cx1)
        if any(pads):
            patch = cv2.copyMakeBorder(patch, *pads, _BORDERS[border], value=(0, 0, 0))
    interp = cv2.INTER_AREA if (rw > size or rh > size) else cv2.INTER_LINEAR
    return np.ascontiguousarray(cv2.resize(patch, (size, size), interpolation=interp))


def margin_crop(
    image: np.ndarray,
    box: tuple[float, float, float, float],
    margin: float = 0.0,
    size: int = 224,
    shift_y: float = 0.0,
    border: Border = "constant",
) -> np.ndarray:
    """A size x size crop of the face in `box`, framed by `margin` and `shift_y`."""
    return crop_region(image, square_box(box, margin, shift_y), size, border)


def center_crop(image: np.ndarray, size: int = 224) -> np.ndarray:
    """The largest centred square, resized: the fallback when no face is found (seed 004)."""
    check_image(image)
    h, w = image.shape[:2]
    side = min(h, w)
    x0, y0 = (w - side) // 2, (h - side) // 2
    return crop_region(image, (x0, y0, x0 + side, y0 + side), size)
