"""Dense landmarks: MediaPipe's 468-point face mesh behind a small provider interface.

Why: the 5 points a detector gives are enough to align a face but not to outline it, and
BlazeFace gives no mouth corners at all. The mesh gives real eye centres and mouth corners
for alignment and the face's outline (jaw, cheeks and forehead; dlib's 68 points stop at the
brows), a blending mask for self-blended fakes (`data.synth.self_blend(image,
landmarks.outline)` takes it as such a hull).

The mesh model expects a face that fills much of its input, so each face is cut from the frame
around its detector box (`context` x the box side, square) and the points mapped back to the
frame. MediaPipe's FaceMesh finds the face in that cut itself (its own short-range BlazeFace),
so a box from any detector will do.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from fakescope.faces.base import check_image
from fakescope.faces.crop import crop_region, square_box
from fakescope.faces.mediapipe_runtime import quiet_native_stderr, solutions
from fakescope.types import FaceDetection

# Mesh vertices: nose tip and mouth corners (image-left, image-right) of the canonical mesh.
NOSE_TIP, MOUTH_LEFT, MOUTH_RIGHT = 1, 61, 291


@dataclass(frozen=True)
class FaceLandmarks:
    """Landmarks of one face in full-resolution frame pixels: all `points` (N, 2), the
    MTCNN-order `five` (image-left eye, image-right eye, nose, mouth left, mouth right) and
    the face `outline` polygon (K, 2), in order around the face."""

    points: np.ndarray
    five: np.ndarray
    outline: np.ndarray


class LandmarkProvider(ABC):
    """Finds dense landmarks of a face already detected in an RGB uint8 frame."""

    name: str = "base"

    @abstractmethod
    def landmarks(self, image: np.ndarray, detection: FaceDetection) -> FaceLandmarks | None:
        """The face's landmarks, or None when the provider cannot fit the face."""


@lru_cache(maxsize=1)
def mesh_topology() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(image-left eye contour, image-right eye contour, ordered face-oval) vertex indices,
    read from MediaPipe's own mesh connections (its "RIGHT_EYE" is the subject's right, on
    the image's left in an unmirrored frame)."""
    conn = solutions().face_mesh_connections
    eye_l = np.array(sorted({i for e in conn.FACEMESH_RIGHT_EYE for i in e}))
    eye_r = np.array(sorted({i for e in conn.FACEMESH_LEFT_EYE for i in e}))
    return eye_l, eye_r, _cycle(conn.FACEMESH_FACE_OVAL)


def _cycle(edges) -> np.ndarray:
    """The vertices of a closed loop of undirected edges, in order."""
    nbrs: dict[int, list[int]] = {}
    for a, b in edges:
        nbrs.setdefault(a, []).append(b)
        nbrs.setdefault(b, []).append(a)
    if any(len(v) != 2 for v in nbrs.values()):
        raise ValueError("face oval edges do not form one closed loop")
    start = min(nbrs)
    order, prev, cur = [start], None, start
    while True:
        nxt = next(n for n in nbrs[cur] if n != prev)
        if nxt == start:
            break
        order.append(nxt)
        prev, cur = cur, nxt
    if len(order) != len(nbrs):
        raise ValueError("face oval edges form more than one loop")
    return np.array(order)


def five_from_mesh(points: np.ndarray) -> np.ndarray:
    """MTCNN-order 5 points from the 468 mesh points: eye centres are the means of the eye
    contours; nose tip and mouth corners are mesh vertices."""
    pts = np.asarray(points, np.float32)
    eye_l, eye_r, _ = mesh_topology()
    return np.stack(
        [pts[eye_l].mean(axis=0), pts[eye_r].mean(axis=0), pts[NOSE_TIP], pts[MOUTH_LEFT], pts[MOUTH_RIGHT]]
    ).astype(np.float32)


class FaceMeshProvider(LandmarkProvider):
    """MediaPipe FaceMesh (468 points, `refine_landmarks=False`) on a square cut of
    `context` x the detector box's side, resized to `input_side` px."""

    name = "facemesh"

    def __init__(
        self, context: float = 1.6, input_side: int = 256, min_confidence: float = 0.5
    ) -> None:
        if context < 1.0 or input_side < 64:
            raise ValueError("context must be >= 1 and input_side >= 64")
        self.context = float(context)
        self.input_side = int(input_side)
        face_mesh = solutions().face_mesh
        with quiet_native_stderr():
            self._graph = face_mesh.FaceMesh(
                static_image_mode=True,  # every cut is a new image: no tracking between calls
                max_num_faces=1,
                refine_landmarks=False,
                min_detection_confidence=min_confidence,
            )
            self._graph.process(np.zeros((64, 64, 3), np.uint8))  # start the graph now
        mesh_topology()

    def close(self) -> None:
        self._graph.close()

    def landmarks(self, image: np.ndarray, detection: FaceDetection) -> FaceLandmarks | None:
        check_image(image)
        x0, y0, x1, y1 = square_box(detection.box, self.context - 1.0)
        # crop_region cuts the region rounded to whole pixels: map back through the same
        ox, oy, side = round(x0), round(y0), max(1, round(x1 - x0))
        cut = crop_region(image, (ox, oy, ox + side, oy + side), self.input_side, border="edge")
        with quiet_native_stderr():  # a projection warning MediaPipe logs on every call
            result = self._graph.process(cut)
        if not result.multi_face_landmarks:
            return None
        lm = result.multi_face_landmarks[0].landmark
        pts = np.array([(ox + p.x * side, oy + p.y * side) for p in lm], np.float32)
        _, _, oval = mesh_topology()
        return FaceLandmarks(points=pts, five=five_from_mesh(pts), outline=pts[oval])


def create_landmark_provider(name: str = "facemesh", **kwargs) -> LandmarkProvider:
    """A landmark provider by name (only "facemesh" so far)."""
    if name.lower() in ("facemesh", "mesh", "mediapipe"):
        return FaceMeshProvider(**kwargs)
    raise ValueError(f"unknown landmark provider {name!r}; choose facemesh")
