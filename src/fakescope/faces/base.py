"""The face-detector interface: every detector finds faces on a downscaled copy of each image
and reports boxes and landmarks in the image's full-resolution coordinates.

Detecting on a downscaled copy is what makes 1080p video affordable on a CPU; doing the
downscale and the rescale in one place keeps the detectors interchangeable.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np

from fakescope.types import FaceDetection


def check_image(image: Any, what: str = "image") -> np.ndarray:
    """Raise a ValueError naming the problem unless `image` is an HxWx3 uint8 array."""
    if not isinstance(image, np.ndarray):
        raise ValueError(f"{what}: expected a numpy array, got {type(image).__name__}")
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"{what}: expected HxWx3 uint8 RGB, got shape {image.shape} {image.dtype}")
    if image.shape[0] < 1 or image.shape[1] < 1:
        raise ValueError(f"{what}: empty image of shape {image.shape}")
    return image


def detection_size(h: int, w: int, max_side: int | None) -> tuple[int, int]:
    """(height, width) of the copy a detector runs on: the longer side capped at `max_side`."""
    if max_side is None or max(h, w) <= max_side:
        return h, w
    s = max_side / max(h, w)
    return max(1, round(h * s)), max(1, round(w * s))


def scale_detection(det: FaceDetection, sx: float, sy: float) -> FaceDetection:
    """Map a detection from the detection copy back to full resolution (per-axis scale)."""
    x0, y0, x1, y1 = det.box
    scale = np.array([sx, sy], dtype=np.float32)
    return FaceDetection(
        box=(float(x0 * sx), float(y0 * sy), float(x1 * sx), float(y1 * sy)),
        confidence=det.confidence,
        landmarks=None if det.landmarks is None else (det.landmarks * scale).astype(np.float32),
        landmarks68=None if det.landmarks68 is None else (det.landmarks68 * scale).astype(np.float32),
    )


class FaceDetector(ABC):
    """Finds faces in RGB uint8 images.

    `detect_max_side` caps the longer side of the copy the detector runs on (None: full size);
    `min_face_size` is in full-resolution pixels (shorter box side); `min_confidence` is on the
    detector's own score scale (MTCNN, BlazeFace: probability; dlib: SVM margin; Haar: cascade
    weight).
    """

    name: str = "base"
    # True when `_detect_small` ignores `min_size` (it only filters afterwards): then faces
    # found at the detector's own minimum and filtered are exactly the faces found at a larger
    # one, so a pipeline may search each frame as soon as it is decoded (`FacePipeline.read`).
    min_size_only_filters: bool = False

    def __init__(
        self,
        detect_max_side: int | None,
        min_confidence: float,
        min_face_size: float,
    ) -> None:
        if detect_max_side is not None and detect_max_side < 32:
            raise ValueError(f"detect_max_side must be >= 32 or None, got {detect_max_side}")
        if min_face_size < 0:
            raise ValueError(f"min_face_size must be >= 0, got {min_face_size}")
        self.detect_max_side = detect_max_side
        self.min_confidence = float(min_confidence)
        self.min_face_size = float(min_face_size)

    def config(self) -> dict[str, Any]:
        """The settings that decide what this detector finds (recorded next to cached crops)."""
        return {
            "name": self.name,
            "detect_max_side": self.detect_max_side,
            "min_confidence": self.min_confidence,
            "min_face_size": self.min_face_size,
        }

    def detect(self, image: np.ndarray, min_face_size: float | None = None) -> list[FaceDetection]:
        return self.detect_batch([image], min_face_size)[0]

    def detect_batch(
        self, images: Sequence[np.ndarray], min_face_size: float | None = None
    ) -> list[list[FaceDetection]]:
        """Faces of each image, largest first, in full-resolution coordinates.

        Images whose detection copies share a size are passed to the backend together, so a
        batched backend (MTCNN) runs one pyramid per group instead of one per frame.
        `min_face_size` overrides the detector's own for this call (full-res pixels).
        """
        min_face = self.min_face_size if min_face_size is None else float(min_face_size)
        out: list[list[FaceDetection]] = [[] for _ in images]
        groups: dict[tuple[int, int], list[int]] = defaultdict(list)
        for i, img in enumerate(images):
            check_image(img, f"image {i}")
            groups[detection_size(img.shape[0], img.shape[1], self.detect_max_side)].append(i)
        for (dh, dw), idx in groups.items():
            small = [self._resize(images[i], dh, dw) for i in idx]
            # The smallest wanted face in detection-copy pixels; members of a group can differ
            # in full resolution (1080p and 4K share a 640 copy), so take the most permissive.
            scale = min(min(dh / images[i].shape[0], dw / images[i].shape[1]) for i in idx)
            found = self._detect_small(small, min_face * scale)
            for i, dets in zip(idx, found, strict=True):
                h, w = images[i].shape[:2]
                sx, sy = w / dw, h / dh
                keep = []
                for d in dets:
                    d = scale_detection(d, sx, sy) if (sx, sy) != (1.0, 1.0) else d
                    if d.confidence >= self.min_confidence and d.size >= min_face:
                        keep.append(d)
                keep.sort(key=_area, reverse=True)
                out[i] = keep
        return out

    @staticmethod
    def _resize(img: np.ndarray, h: int, w: int) -> np.ndarray:
        if img.shape[:2] == (h, w):
            return img
        return cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA)

    @abstractmethod
    def _detect_small(
        self, images: list[np.ndarray], min_size: float
    ) -> list[list[FaceDetection]]:
        """Detect on equal-size detection copies; coordinates in those copies' pixels.
        `min_size` is the smallest face wanted, in detection-copy pixels."""


def _area(d: FaceDetection) -> float:
    x0, y0, x1, y1 = d.box
    return max(0.0, x1 - x0) * max(0.0, y1 - y0)
