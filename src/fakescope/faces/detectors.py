"""`create_face_detector`: one entry point for the face detectors, by name. Each backend is
imported only when it is built (torch for MTCNN, MediaPipe for BlazeFace, dlib)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fakescope.faces.base import FaceDetector

if TYPE_CHECKING:  # torch loads with the detector that needs it, not with this module
    import torch

DETECTOR_NAMES = ("mtcnn", "blazeface", "dlib", "haar")
_DEFAULT = object()


# BlazeFace is the default: ~10x faster than MTCNN per 1080p frame, faces in more of the sampled
# frames of the shared videos (benchmarks/results/faces.md), and no torch import (a one-image
# scan starts in ~2 s). The default detector's crops were cut by MTCNN for training; with
# BlazeFace's faces, framed by its own measured preset, it scores the 37 held-out shared videos
# at video AUC 0.921 and 2/15 false alarms (MTCNN: 0.918, 3/15; docs/videos_eval_blazeface.md,
# docs/videos_eval.md).
DEFAULT_FACE_DETECTOR = "blazeface"


def create_face_detector(
    name: str = DEFAULT_FACE_DETECTOR,
    device: str | torch.device | None = None,
    detect_max_side: Any = _DEFAULT,
    min_confidence: float | None = None,
    min_face_size: float | None = None,
    **kwargs: Any,
) -> FaceDetector:
    """Build a detector by name (BlazeFace by default: the fastest, and it finds faces in at
    least as many sampled frames as MTCNN on the shared videos; benchmarks/results/faces.md).
    `device` matters to MTCNN only (BlazeFace, dlib and Haar run on the CPU).

    Left out (or None for the thresholds), a setting takes the detector's own default;
    `detect_max_side=None` asks for detection at full resolution. Other keywords go to the
    detector class (e.g. MTCNN `thresholds`, dlib `upsample`, Haar `min_neighbors`).
    """
    if detect_max_side is not _DEFAULT:
        kwargs["detect_max_side"] = detect_max_side
    if min_confidence is not None:
        kwargs["min_confidence"] = min_confidence
    if min_face_size is not None:
        kwargs["min_face_size"] = min_face_size
    key = name.lower()
    if key == "mtcnn":
        from fakescope.faces.mtcnn import MTCNNDetector

        return MTCNNDetector(device=device, **kwargs)
    if key in ("blazeface", "mediapipe"):
        from fakescope.faces.blazeface import BlazeFaceDetector

        return BlazeFaceDetector(**kwargs)
    if key in ("dlib", "dlib_hog", "hog"):
        from fakescope.faces.dlib_hog import DlibHogDetector

        return DlibHogDetector(**kwargs)
    if key in ("haar", "opencv"):
        from fakescope.faces.haar import HaarDetector

        return HaarDetector(**kwargs)
    raise ValueError(f"unknown face detector {name!r}; choose one of {', '.join(DETECTOR_NAMES)}")
