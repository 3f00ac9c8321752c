"""Typed records passed between stages (media → faces → detector → aggregate → output).

Images are ``numpy.ndarray`` of shape (H, W, 3), dtype uint8, RGB, with rotation already applied.
Boxes are ``(x0, y0, x1, y1)`` in full-resolution pixel coordinates of that image.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

MediaKind = Literal["video", "image"]
Verdict = Literal["fake", "inconclusive", "real", "abstain", "error"]


@dataclass(frozen=True)
class MediaInfo:
    """What `media.probe` learns about a file without decoding it all."""

    path: str
    kind: MediaKind
    sha256: str
    width: int  # display width, after rotation
    height: int  # display height, after rotation
    rotation: int = 0  # degrees clockwise applied to decoded frames
    fps: float | None = None  # average frame rate; None for images
    duration_s: float | None = None
    frame_count: int | None = None  # container's count or an estimate from duration × fps
    codec: str | None = None


@dataclass
class Frame:
    """One decoded frame. `index` counts frames in presentation order (0 for an image)."""

    index: int
    time_s: float
    image: np.ndarray


@dataclass
class FaceDetection:
    """A face found in one frame; coordinates are in that frame's full resolution."""

    box: tuple[float, float, float, float]
    confidence: float
    landmarks: np.ndarray | None = None  # (5, 2): left eye, right eye, nose, mouth left, mouth right
    landmarks68: np.ndarray | None = None  # (68, 2) when the detector gives them (dlib)

    @property
    def size(self) -> float:
        x0, y0, x1, y1 = self.box
        return max(0.0, min(x1 - x0, y1 - y0))


@dataclass
class FaceCrop:
    """A face cut out of a frame, ready for a detector. `fallback` marks a center crop made
    because no face was found; it must never be mixed silently with real detections."""

    image: np.ndarray  # (S, S, 3) uint8 RGB
    frame_index: int
    time_s: float
    track_id: int
    detection: FaceDetection | None
    fallback: bool = False


@dataclass
class FaceTrack:
    """All crops of one person across the sampled frames."""

    track_id: int
    crops: list[FaceCrop] = field(default_factory=list)


@dataclass(frozen=True)
class DetectorInfo:
    name: str
    version: str
    weights_sha256: str


@dataclass
class TimelinePoint:
    frame: int
    time_s: float
    score: float


@dataclass
class TrackResult:
    """`frames` and `boxes`: every crop of the track. `scores`: one per scored unit — per
    crop for a crop detector (`units` is None), per sequence / clip for a temporal one, whose
    frames are then `units[i]`."""

    id: int
    score: float
    frames: list[int]
    boxes: list[list[float]]
    scores: list[float]
    units: list[list[int]] | None = None


@dataclass
class ScanResult:
    """One per input; the shape of `ARCHITECTURE.md`'s JSON result."""

    path: str
    sha256: str | None
    kind: MediaKind | None
    verdict: Verdict
    score: float | None
    threshold: float | None
    reason: str | None
    detector: DetectorInfo | None
    tracks: list[TrackResult] = field(default_factory=list)
    timeline: list[TimelinePoint] = field(default_factory=list)
    timings_s: dict[str, float] = field(default_factory=dict)
    frames_read: int | None = None  # sampled frames that decoded (videos)
    frames_unreadable: int | None = None  # sampled frames that did not (corrupt, cut off)
    settings_key: str | None = None  # hash of the settings that produced it (resume key)
    # The file score's calibrated probability of manipulation (None without a calibration for
    # this kind of file) and the lower edge of the `inconclusive` band (None: two bands only);
    # both from `evaluate.calibration.Verdicts`.
    probability: float | None = None
    inconclusive_threshold: float | None = None
    # The file's facts (format, size, resolution, duration, codec; `media.provenance.file_facts`)
    # and its provenance (C2PA manifest, EXIF, container tags; `media.provenance.read_provenance`).
    # Shown beside the verdict, never used in the score. None for records made before them.
    media: dict | None = None
    provenance: dict | None = None
