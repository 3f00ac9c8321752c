"""OpenCV's Haar cascade: the fallback detector. No landmarks, so alignment falls back to a
margin crop; boxes are square and somewhat looser than MTCNN's."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from fakescope.errors import FakescopeError, WeightsError
from fakescope.faces.base import FaceDetector
from fakescope.types import FaceDetection

CASCADE_FILE = "haarcascade_frontalface_default.xml"


class HaarDetector(FaceDetector):
    """Viola-Jones frontal-face cascade. Confidence is the number of overlapping raw hits that
    were merged into the face (`detectMultiScale2`), so it is at least `min_neighbors`, the
    cascade's main false-positive control."""

    name = "haar"

    def __init__(
        self,
        detect_max_side: int | None = 640,
        min_confidence: float = 0.0,
        min_face_size: float = 60.0,
        scale_factor: float = 1.1,
        min_neighbors: int = 5,
    ) -> None:
        super().__init__(detect_max_side, min_confidence, min_face_size)
        if not hasattr(cv2, "CascadeClassifier"):
            raise FakescopeError(
                f"OpenCV {cv2.__version__} has no CascadeClassifier (5.0 moved Haar cascades to"
                " opencv_contrib's xobjdetect and its wheels ship no cascade files); the haar"
                " detector needs opencv-python-headless<5"
            )
        path = Path(cv2.data.haarcascades) / CASCADE_FILE
        self._cascade = cv2.CascadeClassifier(str(path))
        if self._cascade.empty():
            raise WeightsError(f"{path}: OpenCV Haar cascade missing or unreadable")
        if scale_factor <= 1.0:
            raise ValueError(f"scale_factor must be > 1, got {scale_factor}")
        self.scale_factor = float(scale_factor)
        self.min_neighbors = int(min_neighbors)

    def config(self) -> dict:
        return {**super().config(), "scale_factor": self.scale_factor, "min_neighbors": self.min_neighbors}

    def _detect_small(self, images: list[np.ndarray], min_size: float) -> list[list[FaceDetection]]:
        side = max(1, int(min_size))
        out = []
        for img in images:
            gray = cv2.equalizeHist(cv2.cvtColor(img, cv2.COLOR_RGB2GRAY))
            rects, hits = self._cascade.detectMultiScale2(
                gray, scaleFactor=self.scale_factor, minNeighbors=self.min_neighbors, minSize=(side, side)
            )
            rects = np.asarray(rects, dtype=np.float64).reshape(-1, 4)
            hits = np.asarray(hits, dtype=np.float64).reshape(-1)
            dets = [
                FaceDetection(box=(x, y, x + w, y + h), confidence=float(c))
                for (x, y, w, h), c in zip(rects.tolist(), hits.tolist(), strict=True)
            ]
            out.append(dets)
        return out
