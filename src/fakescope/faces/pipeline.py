"""Frames in, face tracks out: detect (batched), link into tracks, crop or align each face."""

from __future__ import annotations

import dataclasses
import itertools
import queue
import threading
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Literal

import numpy as np

from fakescope.faces.align import align_face
from fakescope.faces.base import FaceDetector
from fakescope.faces.crop import Border, CropSpec, center_crop, margin_crop
from fakescope.faces.presets import preset_for
from fakescope.faces.tracking import (
    LinkedTrack,
    drop_short_tracks,
    fill_between,
    link_tracks,
    smooth_boxes,
)
from fakescope.types import FaceCrop, FaceDetection, FaceTrack, Frame

if TYPE_CHECKING:
    from fakescope.faces.mesh import LandmarkProvider

Policy = Literal["all", "largest"]
Fallback = Literal["none", "center"]
FALLBACK_TRACK_ID = -1


class FacePipeline:
    """Turns sampled frames into per-person face tracks.

    policy="all" links every face into tracks (ids 0.. by face size); policy="largest" keeps
    one track made of the largest face of each frame (seed 003). fallback="center" gives, only
    when no frame has a face, one track of centre crops with track_id=-1 and
    FaceCrop.fallback=True (seed 004); it is never mixed with real detections.
    With align=True a face with landmarks is aligned to the FFHQ-like template; one without
    (Haar) or whose landmarks cannot be fitted is margin-cropped instead.

    Speed: the finest levels of a detector's image pyramid, there only to find the smallest
    faces, cost the most. With `probe_frames` > 0 the detector first runs on that many evenly
    spaced frames at its own minimum face size; when they hold faces, the other frames are
    searched only for faces at least `probe_min_ratio` x the smallest face probed. Faces
    much smaller than every face of the probe frames are then missed (0 turns probing off).

    Tracking (faces/tracking.py): a face unseen for more than `max_gap_s` seconds ends its
    track (None: after `max_gap` sampled frames); boxes are smoothed over `smooth_s` seconds
    (0: off); tracks seen in fewer than `min_track_frames` frames are dropped when a longer
    one exists.

    With `detect_every` = k > 1 the detector runs only on every k-th sampled frame (and the
    last); a track's boxes on the frames between two of its detections are interpolated in
    time (`tracking.fill_between`). That divides the detector's cost by about k, at the price
    of frames where a face moved fast or appeared between two searched frames. k is lowered
    where needed so that searched frames stay within `max_gap_s` of each other.

    With a `landmark_provider` (faces/mesh.py), each tracked face's 5 points come from it
    (real mouth corners for BlazeFace boxes) where it fits the face; it runs once per face,
    so it is off by default.
    """

    def __init__(
        self,
        detector: FaceDetector,
        crop_size: int = 224,
        margin: float = 0.0,
        align: bool = False,
        policy: Policy = "all",
        fallback: Fallback = "none",
        batch_size: int = 32,
        shift_y: float = 0.0,
        border: Border = "constant",
        max_gap: int = 3,
        min_track_frames: int = 3,
        iou_threshold: float = 0.3,
        max_gap_s: float | None = 1.0,
        smooth_s: float = 0.15,
        probe_frames: int = 4,
        probe_min_ratio: float = 0.5,
        landmark_provider: LandmarkProvider | None = None,
        detect_every: int = 1,
    ) -> None:
        if policy not in ("all", "largest"):
            raise ValueError(f"policy must be 'all' or 'largest', got {policy!r}")
        if fallback not in ("none", "center"):
            raise ValueError(f"fallback must be 'none' or 'center', got {fallback!r}")
        if crop_size < 1 or batch_size < 1:
            raise ValueError("crop_size and batch_size must be >= 1")
        self.detector = detector
        self.crop_size = int(crop_size)
        self.spec = CropSpec(margin=float(margin), shift_y=float(shift_y), align=bool(align))
        self.policy = policy
        self.fallback = fallback
        self.batch_size = int(batch_size)
        self.border = border
        self.max_gap = int(max_gap)
        self.min_track_frames = int(min_track_frames)
        self.iou_threshold = float(iou_threshold)
        if (max_gap_s is not None and max_gap_s < 0) or smooth_s < 0 or min_track_frames < 1:
            raise ValueError("max_gap_s and smooth_s must be >= 0 and min_track_frames >= 1")
        self.max_gap_s = None if max_gap_s is None else float(max_gap_s)
        self.smooth_s = float(smooth_s)
        self.landmark_provider = landmark_provider
        if detect_every < 1:
            raise ValueError(f"detect_every must be >= 1, got {detect_every}")
        self.detect_every = int(detect_every)
        if probe_frames < 0 or not 0.0 < probe_min_ratio <= 1.0:
            raise ValueError("probe_frames must be >= 0 and probe_min_ratio in (0, 1]")
        self.probe_frames = int(probe_frames)
        self.probe_min_ratio = float(probe_min_ratio)

    @classmethod
    def from_spec(
        cls, detector: FaceDetector, spec: CropSpec | str, crop_size: int = 224, **kwargs
    ) -> FacePipeline:
        """A pipeline framed by a CropSpec, or by a preset name: then the framing measured for
        this face detector's boxes (`presets.preset_for`; FramingError when there is none)."""
        spec = preset_for(detector, spec) if isinstance(spec, str) else spec
        return cls(
            detector, crop_size, margin=spec.margin, align=spec.align, shift_y=spec.shift_y, **kwargs
        )

    def detect(
        self,
        images: Sequence[np.ndarray],
        found: Sequence[list[FaceDetection]] | None = None,
    ) -> list[list[FaceDetection]]:
        """Detections per image: probe frames first (see the class notes), then the rest.
        `found`: each image's faces already searched at the detector's own minimum size
        (`read`); they are only filtered here, which gives the same faces when the detector's
        minimum merely filters (`FaceDetector.min_size_only_filters`)."""

        def run(idx: Sequence[int], min_face: float | None) -> list[list[FaceDetection]]:
            if found is None:
                return self._detect([images[i] for i in idx], min_face)
            return [[d for d in found[i] if min_face is None or d.size >= min_face] for i in idx]

        n = len(images)
        if self.probe_frames == 0 or n <= self.probe_frames:
            return run(range(n), None)
        probe = sorted(set(np.linspace(0, n - 1, self.probe_frames).round().astype(int).tolist()))
        rest = [i for i in range(n) if i not in set(probe)]
        by_index = dict(zip(probe, run(probe, None), strict=True))
        sizes = [d.size for dets in by_index.values() for d in dets]
        min_face = None
        if sizes:
            min_face = max(self.detector.min_face_size, self.probe_min_ratio * min(sizes))
        by_index.update(zip(rest, run(rest, min_face), strict=True))
        return [by_index[i] for i in range(n)]

    def read(self, frames: Iterable[Frame]) -> tuple[list[Frame], list[list[FaceDetection]] | None]:
        """All the frames, and, where the search may start before the last frame is decoded
        (every frame searched, a minimum face size that only filters), each frame's faces:
        a thread decodes while this one searches, so the face stage hides behind the decode.
        Otherwise (MTCNN, `detect_every` > 1) the faces are None and `process` searches."""
        if not (self.detector.min_size_only_filters and self.detect_every == 1):
            return list(frames), None
        out: list[Frame] = []
        faces: list[list[FaceDetection]] = []
        for frame in decode_ahead(frames):
            out.append(frame)
            faces.append(self.detector.detect_batch([frame.image])[0])
        return out, faces

    def _detect(self, images: Sequence[np.ndarray], min_face: float | None) -> list[list[FaceDetection]]:
        """`batch_size` frames per detector call."""
        out: list[list[FaceDetection]] = []
        for start in range(0, len(images), self.batch_size):
            out.extend(self.detector.detect_batch(list(images[start : start + self.batch_size]), min_face))
        return out

    def crop(self, image: np.ndarray, det: FaceDetection) -> np.ndarray:
        """The crop of one detection, framed by this pipeline's spec."""
        if self.spec.align and det.landmarks is not None:
            try:
                return align_face(image, det.landmarks, self.crop_size, self.spec.margin,
                                  self.border, self.spec.shift_y)
            except ValueError:
                pass  # landmarks that fit no similarity: the margin crop below (seed 003)
        return margin_crop(
            image, det.box, self.spec.margin, self.crop_size, self.spec.shift_y, self.border
        )

    def search_step(self, times: Sequence[float]) -> int:
        """`detect_every`, lowered so that searched frames are never more than `max_gap_s`
        apart: farther, every track would end between two searched frames."""
        steps = [b - a for a, b in zip(times, times[1:], strict=False) if b > a]
        if self.detect_every == 1 or self.max_gap_s is None or not steps:
            return self.detect_every
        return max(1, min(self.detect_every, int(self.max_gap_s // max(steps))))

    def _refine(self, image: np.ndarray, det: FaceDetection) -> FaceDetection:
        """The detection with the landmark provider's 5 points, when it fits the face."""
        found = self.landmark_provider.landmarks(image, det)
        return det if found is None else dataclasses.replace(det, landmarks=found.five)

    def process(self, frames: Sequence[Frame],
                found: Sequence[list[FaceDetection]] | None = None) -> list[FaceTrack]:
        """Face tracks of the frames; [] when no face is found and fallback is "none".
        `found`: the faces `read` searched for while decoding (one list per frame)."""
        n = len(frames)
        times = [f.time_s for f in frames]
        k = self.search_step(times)
        keys = sorted(set(range(0, n, k)) | ({n - 1} if n else set()))
        if found is not None and k != 1:
            found = None  # searched for every frame, but only some are keys: search afresh
        key_dets = self.detect([frames[i].image for i in keys],
                               None if found is None else [found[i] for i in keys])
        key_times = [times[i] for i in keys]
        # positions in `key_dets` back to positions in `frames`
        found = [LinkedTrack([(keys[p], d) for p, d in t.items])
                 for t in self._link(key_dets, key_times)]
        if k > 1:
            found = [LinkedTrack(fill_between(t.items, times, self.max_gap_s)) for t in found]
        linked = [smooth_boxes(t.items, times, self.smooth_s) for t in found]
        if self.landmark_provider is not None:
            linked = [[(p, self._refine(frames[p].image, d)) for p, d in items] for items in linked]
        tracks = []
        for track_id, items in enumerate(linked):
            crops = [
                FaceCrop(
                    image=self.crop(frames[pos].image, det),
                    frame_index=frames[pos].index,
                    time_s=frames[pos].time_s,
                    track_id=track_id,
                    detection=det,
                )
                for pos, det in items
            ]
            tracks.append(FaceTrack(track_id=track_id, crops=crops))
        if not tracks and self.fallback == "center" and frames and not any(key_dets):
            crops = [
                FaceCrop(
                    image=center_crop(f.image, self.crop_size),
                    frame_index=f.index,
                    time_s=f.time_s,
                    track_id=FALLBACK_TRACK_ID,
                    detection=None,
                    fallback=True,
                )
                for f in frames
            ]
            tracks.append(FaceTrack(track_id=FALLBACK_TRACK_ID, crops=crops))
        return tracks

    def _link(self, dets: list[list[FaceDetection]], times: Sequence[float]) -> list[LinkedTrack]:
        """Tracks over the given frame positions: by policy, gaps in seconds, short ones dropped."""
        if self.policy == "largest":
            # detect_batch lists faces largest first
            items = [(i, d[0]) for i, d in enumerate(dets) if d]
            return [LinkedTrack(items)] if items else []
        return drop_short_tracks(
            link_tracks(dets, iou_threshold=self.iou_threshold, max_gap=self.max_gap,
                        times=list(times), max_gap_s=self.max_gap_s),
            self.min_track_frames,
            len(dets),
        )

    def process_stream(self, frames: Iterable[Frame]) -> list[FaceTrack]:
        """`process` for more frames than memory holds (every frame of a long video): frames
        are read `batch_size` at a time, every frame is searched, each face is cropped at once
        and its frame let go, so memory grows with the crops, not the frames. Boxes are not
        smoothed here (smoothing needs the frames after the boxes are known); the first batch
        plays the probe frames' part for the minimum face size."""
        meta: list[tuple[int, float]] = []
        dets: list[list[FaceDetection]] = []
        crops: dict[tuple[int, int], np.ndarray] = {}
        centres: list[np.ndarray] = []
        min_face: float | None = None
        for chunk in _batches(frames, self.batch_size):
            found = self._detect([f.image for f in chunk], min_face)
            sizes = [d.size for ds in found for d in ds]
            if min_face is None and self.probe_frames and sizes:
                min_face = max(self.detector.min_face_size, self.probe_min_ratio * min(sizes))
            for frame, ds in zip(chunk, found, strict=True):
                pos = len(meta)
                meta.append((frame.index, frame.time_s))
                if self.landmark_provider is not None:
                    ds = [self._refine(frame.image, d) for d in ds]
                dets.append(ds)
                for k, d in enumerate(ds if self.policy == "all" else ds[:1]):
                    crops[(pos, k)] = self.crop(frame.image, d)
                if self.fallback == "center" and not crops:
                    centres.append(center_crop(frame.image, self.crop_size))
        tracks = []
        for track_id, t in enumerate(self._link(dets, [m[1] for m in meta])):
            tracks.append(FaceTrack(track_id=track_id, crops=[
                FaceCrop(image=crops[(pos, _index_of(dets[pos], det))], frame_index=meta[pos][0],
                         time_s=meta[pos][1], track_id=track_id, detection=det)
                for pos, det in t.items
            ]))
        if not tracks and self.fallback == "center" and meta and not any(dets):
            tracks.append(FaceTrack(track_id=FALLBACK_TRACK_ID, crops=[
                FaceCrop(image=centres[pos], frame_index=index, time_s=time_s,
                         track_id=FALLBACK_TRACK_ID, detection=None, fallback=True)
                for pos, (index, time_s) in enumerate(meta)
            ]))
        return tracks


_END = object()


def decode_ahead(frames: Iterable[Frame], depth: int = 4) -> Iterator[Frame]:
    """The frames of `frames`, pulled (decoded) by a thread up to `depth` ahead of the caller.
    PyAV, OpenCV, MediaPipe and ONNX Runtime release the GIL, so decoding overlaps the
    caller's work. An error while decoding is raised here, in the caller's thread; a caller
    that stops early stops the thread."""
    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        it = iter(frames)
        try:
            for frame in it:
                if not put(frame):
                    break
            put(_END)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
            put(exc)
        finally:
            close = getattr(it, "close", None)
            if close is not None:
                close()  # a generator's own clean-up (the open container) runs here

    worker = threading.Thread(target=produce, name="fakescope-decode", daemon=True)
    worker.start()
    try:
        while True:
            item = q.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        worker.join()


def _batches(frames: Iterable[Frame], size: int) -> Iterator[list[Frame]]:
    it = iter(frames)
    while chunk := list(itertools.islice(it, size)):
        yield chunk


def _index_of(dets: list[FaceDetection], det: FaceDetection) -> int:
    return next(k for k, d in enumerate(dets) if d is det)
