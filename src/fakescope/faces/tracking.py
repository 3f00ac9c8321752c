"""Link per-frame detections into tracks, one per person, so later stages score each person.

Frames are sampled sparsely (32 over a 10-s clip is one every ~0.3 s), so a face can move a
good part of its width between samples: matches go by box overlap first and, failing that, by
centre distance relative to face size. Each frame's matches are solved jointly (Hungarian
assignment), so two people side by side cannot swap or merge.

How long a face may go unseen is a time (`max_gap_s`), not a count of sampled frames: the
same count means 0.1 s in a short clip and 3 s in a long one. Boxes are then smoothed over
time (`smooth_boxes`), because a detector's box jitters by several per cent between frames and
sequence models need steady crops; and a track seen in too few frames is dropped when a longer
one exists (`drop_short_tracks`): beside a person, a face seen once or twice is more often a
false detection (a poster, a pattern) than a person.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from fakescope.types import FaceDetection

_NO_MATCH = 1e6


@dataclass
class LinkedTrack:
    """One person's detections as (frame position, detection), in frame order. The position
    indexes the sequence given to `link_tracks`, not the video's frame numbers."""

    items: list[tuple[int, FaceDetection]] = field(default_factory=list)

    @property
    def positions(self) -> list[int]:
        return [p for p, _ in self.items]

    @property
    def mean_size(self) -> float:
        return float(np.mean([_side(d.box) for _, d in self.items])) if self.items else 0.0


def _side(box) -> float:
    return max(box[2] - box[0], box[3] - box[1])


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of (N, 4) and (M, 4) boxes (x0, y0, x1, y1) -> (N, M)."""
    a = np.asarray(a, np.float64).reshape(-1, 4)
    b = np.asarray(b, np.float64).reshape(-1, 4)
    ix0 = np.maximum(a[:, None, 0], b[None, :, 0])
    iy0 = np.maximum(a[:, None, 1], b[None, :, 1])
    ix1 = np.minimum(a[:, None, 2], b[None, :, 2])
    iy1 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(ix1 - ix0, 0, None) * np.clip(iy1 - iy0, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def _match_cost(
    prev: np.ndarray, cur: np.ndarray, iou_threshold: float, max_center_distance: float
) -> np.ndarray:
    """Cost in [0, 1) for overlapping pairs (1 - IoU), in [1, 1 + max_center_distance] for
    nearby non-overlapping pairs of similar size, _NO_MATCH otherwise."""
    iou = box_iou(prev, cur)
    cp = (prev[:, :2] + prev[:, 2:]) / 2
    cc = (cur[:, :2] + cur[:, 2:]) / 2
    sp = np.maximum(prev[:, 2] - prev[:, 0], prev[:, 3] - prev[:, 1])
    sc = np.maximum(cur[:, 2] - cur[:, 0], cur[:, 3] - cur[:, 1])
    scale = (sp[:, None] + sc[None, :]) / 2
    dist = np.linalg.norm(cp[:, None, :] - cc[None, :, :], axis=2) / np.maximum(scale, 1e-6)
    ratio = sp[:, None] / np.maximum(sc[None, :], 1e-6)
    near = (dist <= max_center_distance) & (ratio >= 0.5) & (ratio <= 2.0)
    return np.where(iou >= iou_threshold, 1.0 - iou, np.where(near, 1.0 + dist, _NO_MATCH))


def assign(cost: np.ndarray) -> list[tuple[int, int]]:
    """Minimum-cost one-to-one (row, column) pairs. One face per frame is the usual case and
    needs no solver; scipy's Hungarian solver (0.8 s to import) is loaded only for more."""
    if cost.size == 0:
        return []
    if cost.shape[0] == 1:
        return [(0, int(np.argmin(cost[0])))]
    if cost.shape[1] == 1:
        return [(int(np.argmin(cost[:, 0])), 0)]
    from scipy.optimize import linear_sum_assignment

    rows, cols = linear_sum_assignment(cost)
    return [(int(r), int(c)) for r, c in zip(rows, cols, strict=True)]


def link_tracks(
    detections: Sequence[Sequence[FaceDetection]],
    iou_threshold: float = 0.3,
    max_center_distance: float = 1.0,
    max_gap: int = 3,
    min_length: int = 1,
    times: Sequence[float] | None = None,
    max_gap_s: float | None = None,
) -> list[LinkedTrack]:
    """Tracks from per-frame detections (`detections[i]` = faces of the i-th sampled frame).

    With `times` (seconds of each frame) and `max_gap_s`, a track ends once it has gone
    longer than `max_gap_s` without a match — or, when frames are sampled sparsely, longer than
    `max_gap` + 1 typical sampling steps; otherwise after more than `max_gap` consecutive
    sampled frames without one. A frame earlier than the track's last one (circular padding
    repeats frames) counts as no gap. Tracks with fewer than `min_length` detections are
    dropped. Tracks come back largest face first (mean box side), then by first appearance,
    so track 0 is the main subject.
    """
    if max_gap < 0 or min_length < 1:
        raise ValueError("max_gap must be >= 0 and min_length >= 1")
    by_time = max_gap_s is not None
    if by_time and (times is None or len(times) != len(detections) or max_gap_s < 0):
        raise ValueError("max_gap_s needs one time per frame in `times` and must be >= 0")

    # Sparse sampling (32 frames over a 30-s clip: ~1 s apart) must not end a track at every
    # sampled frame: the gap allowed is never less than `max_gap` missed samples' worth of the
    # typical sampling step. Dense sampling keeps `max_gap_s` (measured: with the limit in
    # seconds alone, every real DFD video split into one track per frame and the max over
    # tracks turned 5 of 10 into false alarms).
    if by_time:
        steps = np.diff(np.asarray(times, np.float64))
        steps = steps[steps > 0]
        step = float(np.median(steps)) if steps.size else 0.0
        limit_s = max(float(max_gap_s), (max_gap + 1) * step) + 1e-9

    def lost(t: LinkedTrack, pos: int) -> bool:
        last = t.items[-1][0]
        if by_time:
            return times[pos] - times[last] > limit_s
        return pos - last - 1 > max_gap

    active: list[LinkedTrack] = []
    done: list[LinkedTrack] = []
    for pos, dets in enumerate(detections):
        still = []
        for t in active:
            (done if lost(t, pos) else still).append(t)
        active = still
        dets = list(dets)
        matched: set[int] = set()
        if active and dets:
            prev = np.array([t.items[-1][1].box for t in active], np.float64)
            cur = np.array([d.box for d in dets], np.float64)
            cost = _match_cost(prev, cur, iou_threshold, max_center_distance)
            for r, c in assign(cost):
                if cost[r, c] < _NO_MATCH:
                    active[r].items.append((pos, dets[c]))
                    matched.add(int(c))
        active.extend(LinkedTrack([(pos, d)]) for i, d in enumerate(dets) if i not in matched)
    done.extend(active)
    kept = [t for t in done if len(t.items) >= min_length]
    kept.sort(key=lambda t: (-t.mean_size, t.items[0][0]))
    return kept


def smooth_boxes(
    items: Sequence[tuple[int, FaceDetection]], times: Sequence[float], sigma_s: float
) -> list[tuple[int, FaceDetection]]:
    """One track's boxes averaged with their neighbours in time (Gaussian weights, `sigma_s`
    seconds), so crops of a still face stay still. Centre and side are smoothed (a box keeps
    its aspect ratio); landmarks and confidences stay as detected. `sigma_s` = 0: unchanged."""
    if sigma_s < 0:
        raise ValueError(f"sigma_s must be >= 0, got {sigma_s}")
    if sigma_s == 0 or len(items) < 2:
        return list(items)
    t = np.array([times[p] for p, _ in items], np.float64)
    b = np.array([d.box for _, d in items], np.float64)
    centre = (b[:, :2] + b[:, 2:]) / 2
    half = (b[:, 2:] - b[:, :2]) / 2
    w = np.exp(-0.5 * ((t[:, None] - t[None, :]) / sigma_s) ** 2)
    w /= w.sum(axis=1, keepdims=True)
    centre, half = w @ centre, w @ half
    out = []
    for (pos, d), c, h in zip(items, centre, half, strict=True):
        box = tuple(float(v) for v in (*(c - h), *(c + h)))
        out.append((pos, FaceDetection(box=box, confidence=d.confidence, landmarks=d.landmarks,
                                       landmarks68=d.landmarks68)))
    return out


def drop_short_tracks(tracks: list[LinkedTrack], min_detections: int, n_frames: int) -> list[LinkedTrack]:
    """The tracks seen in at least min(`min_detections`, `n_frames`) frames, or all of them
    when none is that long: a face the tracker lost and found again, or a short clip, still
    has its evidence."""
    if min_detections < 1:
        raise ValueError(f"min_detections must be >= 1, got {min_detections}")
    need = min(min_detections, n_frames)
    long_enough = [t for t in tracks if len(t.items) >= need]
    return long_enough or list(tracks)


def fill_between(
    items: Sequence[tuple[int, FaceDetection]], times: Sequence[float], max_gap_s: float | None
) -> list[tuple[int, FaceDetection]]:
    """One track's detections with the frames between two of them filled in: box and
    landmarks interpolated linearly in time, confidence the lower of the two. Used when only
    some sampled frames are searched (FacePipeline `detect_every`). Pairs further apart than
    `max_gap_s` (None: any) are left unfilled; nothing is extrapolated past a track's ends."""
    out: list[tuple[int, FaceDetection]] = []
    for (pa, da), (pb, db) in zip(items, items[1:], strict=False):
        out.append((pa, da))
        span = times[pb] - times[pa]
        if pb - pa < 2 or (max_gap_s is not None and span > max_gap_s):
            continue
        a, b = np.asarray(da.box, np.float64), np.asarray(db.box, np.float64)
        for q in range(pa + 1, pb):
            f = (times[q] - times[pa]) / span if span > 0 else (q - pa) / (pb - pa)
            f = min(max(f, 0.0), 1.0)
            lm = None
            if da.landmarks is not None and db.landmarks is not None:
                lm = ((1 - f) * da.landmarks + f * db.landmarks).astype(np.float32)
            box = tuple(float(v) for v in (1 - f) * a + f * b)
            out.append((q, FaceDetection(box=box, confidence=min(da.confidence, db.confidence), landmarks=lm)))
    if items:
        out.append(items[-1])
    return out
