"""5-point similarity alignment onto an FFHQ-like canonical template (seed 000 aligns faces the
FFHQ way before projecting them into StyleGAN's latent space).

The template is the 5-point FFHQ reference used by GFPGAN/CodeFormer (facexlib) for 512x512
faces, in MTCNN's landmark order: image-left eye, image-right eye, nose tip, left and right
mouth corners.
"""

from __future__ import annotations

import cv2
import numpy as np

from fakescope.faces.base import check_image
from fakescope.faces.crop import _BORDERS, Border

FFHQ_TEMPLATE_512 = np.array(
    [
        [192.98138, 239.94708],
        [318.90277, 240.19360],
        [256.63416, 314.01935],
        [201.26117, 371.41043],
        [313.08905, 371.15118],
    ],
    dtype=np.float64,
)


def template_points(size: int, margin: float = 0.0, shift_y: float = 0.0) -> np.ndarray:
    """The template scaled to a size x size output; `margin` > 0 shrinks the face towards the
    centre by 1/(1+margin) (more context), < 0 zooms in. `shift_y` > 0 moves the crop down the
    face by that fraction of the output side (the face moves up in the output): zooming in
    about the centre alone would push the mouth out, the template's face sitting low."""
    if margin <= -1.0:
        raise ValueError(f"margin must be > -1, got {margin}")
    unit = FFHQ_TEMPLATE_512 / 512.0
    return ((unit - 0.5) / (1.0 + margin) + 0.5 - np.array([0.0, shift_y])) * size


def alignment_matrix(landmarks5: np.ndarray, size: int, margin: float = 0.0,
                     shift_y: float = 0.0) -> np.ndarray:
    """2x3 similarity (rotation, uniform scale, translation) taking the landmarks onto the
    template; raises ValueError when the points do not determine one."""
    src = np.asarray(landmarks5, dtype=np.float64).reshape(-1, 2)
    if src.shape != (5, 2) or not np.isfinite(src).all():
        raise ValueError(f"need 5 finite (x, y) landmarks, got shape {src.shape}")
    if np.linalg.norm(src[1] - src[0]) < 1e-3:
        raise ValueError("degenerate landmarks: the two eyes coincide")
    matrix, _ = cv2.estimateAffinePartial2D(src, template_points(size, margin, shift_y),
                                            method=cv2.LMEDS)
    if matrix is None or not np.isfinite(matrix).all():
        raise ValueError("could not fit a similarity transform to the landmarks")
    return matrix


def align_face(
    image: np.ndarray,
    landmarks5: np.ndarray,
    size: int = 224,
    margin: float = 0.0,
    border: Border = "constant",
    shift_y: float = 0.0,
) -> np.ndarray:
    """Warp the face so its 5 landmarks land on the template, giving a size x size crop."""
    check_image(image)
    matrix = alignment_matrix(landmarks5, size, margin, shift_y)
    return warp_to_square(image, matrix, size, border)


def warp_to_square(image: np.ndarray, matrix: np.ndarray, size: int, border: Border = "constant") -> np.ndarray:
    """warpAffine into size x size. When the warp shrinks by more than 2x, the source region
    is first shrunk with INTER_AREA, because bilinear sampling alone would alias."""
    scale = float(np.sqrt(abs(np.linalg.det(matrix[:, :2]))))
    flags = cv2.INTER_LINEAR
    if scale < 0.5:
        h, w = image.shape[:2]
        inv = cv2.invertAffineTransform(matrix)
        corners = np.array([[0, 0, 1], [size, 0, 1], [0, size, 1], [size, size, 1]], np.float64)
        src = corners @ inv.T
        bx0 = int(max(0, np.floor(src[:, 0].min()) - 2))
        by0 = int(max(0, np.floor(src[:, 1].min()) - 2))
        bx1 = int(min(w, np.ceil(src[:, 0].max()) + 2))
        by1 = int(min(h, np.ceil(src[:, 1].max()) + 2))
        if bx1 > bx0 and by1 > by0:
            roi = image[by0:by1, bx0:bx1]
            nw = max(1, round((bx1 - bx0) * scale))
            nh = max(1, round((by1 - by0) * scale))
            image = cv2.resize(roi, (nw, nh), interpolation=cv2.INTER_AREA)
            fx, fy = nw / (bx1 - bx0), nh / (by1 - by0)
            # small-image pixel centre q maps to source (q + 0.5) / f - 0.5 + offset
            to_src = np.array(
                [[1 / fx, 0, bx0 + 0.5 / fx - 0.5], [0, 1 / fy, by0 + 0.5 / fy - 0.5], [0, 0, 1]],
                np.float64,
            )
            matrix = matrix @ to_src
    out = cv2.warpAffine(
        image, matrix, (size, size), flags=flags, borderMode=_BORDERS[border], borderValue=(0, 0, 0)
    )
    return np.ascontiguousarray(out)
