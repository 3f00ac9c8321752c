"""dlib's HOG face detector with the 68-point shape predictor (seed 003 aligns faces with dlib).

The 68-point model comes from the `face_recognition_models` distribution. Its folder is found
with importlib instead of importing the package, whose __init__ imports the removed
pkg_resources.
"""

from __future__ import annotations

import importlib.util
from functools import lru_cache
from pathlib import Path

import numpy as np

from fakescope.errors import WeightsError
from fakescope.faces.base import FaceDetector
from fakescope.types import FaceDetection

SHAPE_PREDICTOR_FILE = "shape_predictor_68_face_landmarks.dat"


def shape_predictor_path() -> Path:
    """Path of dlib's 68-landmark model inside the installed face_recognition_models."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise WeightsError("face_recognition_models is not installed (needed for dlib landmarks)")
    path = Path(list(spec.submodule_search_locations)[0]) / "models" / SHAPE_PREDICTOR_FILE
    if not path.is_file():
        raise WeightsError(f"{path}: dlib 68-landmark model missing")
    return path


@lru_cache(maxsize=1)
def _load_shape_predictor(path: str):
    """The 68-point model is ~100 MB: load it once per process, share it between detectors
    (dlib's predictor is read-only once loaded)."""
    import dlib

    return dlib.shape_predictor(path)


def five_from_68(pts: np.ndarray) -> np.ndarray:
    """The MTCNN-order 5 points (image-left eye, image-right eye, nose tip, mouth corners
    left and right) from dlib's 68: eye centres are the means of the eye contours."""
    pts = np.asarray(pts, dtype=np.float32)
    return np.stack(
        [pts[36:42].mean(axis=0), pts[42:48].mean(axis=0), pts[30], pts[48], pts[54]]
    ).astype(np.float32)


class DlibHogDetector(FaceDetector):
    """HOG + linear SVM. Its window is about 80 px, so faces smaller than that in the detection
    copy need `upsample` (each step doubles the image) or a larger `detect_max_side`.
    Confidence is the SVM margin (0 is dlib's own threshold)."""

    name = "dlib"
    min_size_only_filters = True  # the minimum face size is applied after the search

    def __init__(
        self,
        detect_max_side: int | None = 960,
        min_confidence: float = 0.0,
        min_face_size: float = 60.0,
        upsample: int = 0,
        landmarks: bool = True,
    ) -> None:
        super().__init__(detect_max_side, min_confidence, min_face_size)
        import dlib

        if upsample < 0:
            raise ValueError(f"upsample must be >= 0, got {upsample}")
        self.upsample = int(upsample)
        self._detector = dlib.get_frontal_face_detector()
        self._predictor = _load_shape_predictor(str(shape_predictor_path())) if landmarks else None
        self._rect = dlib.rectangle

    def config(self) -> dict:
        return {**super().config(), "upsample": self.upsample}

    def _detect_small(self, images: list[np.ndarray], min_size: float) -> list[list[FaceDetection]]:
        out = []
        for img in images:
            img = np.ascontiguousarray(img)
            rects, scores, _ = self._detector.run(img, self.upsample, self.min_confidence)
            dets = []
            for r, s in zip(rects, scores, strict=True):
                lm5 = lm68 = None
                if self._predictor is not None:
                    shape = self._predictor(img, r)
                    lm68 = np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float32)
                    lm5 = five_from_68(lm68)
                box = (float(r.left()), float(r.top()), float(r.right() + 1), float(r.bottom() + 1))
                dets.append(FaceDetection(box=box, confidence=float(s), landmarks=lm5, landmarks68=lm68))
            out.append(dets)
        return out
