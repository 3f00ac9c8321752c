"""Link per-frame detections into tracks, one per person, so later stages score each person.

Frames are sampled sparsely (32 over a 10-s clip is one every ~0.3 s), so a face can move a
good part of its width between samples: matches go by box overlap first and, failing that, by
centre distance relative to face size. Each frame's matches are solved jointly (Hungarian
assignment), so two people side by side cannot swap or merge.
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
) -> list[LinkedTrack]:
    """Tracks from per-frame detections (`detections[i]` = faces of the i-th sampled frame).

    A track survives up to `max_gap` consecutive frames without a match; tracks with fewer
    than `min_length` detections are dropped. Tracks come back largest face first (mean box
    side), then by first appearance, so track 0 is the main subject.
    """
    if max_gap < 0 or min_length < 1:
        raise ValueError("max_gap must be >= 0 and min_length >= 1")
    active: list[LinkedTrack] = []
    done: list[LinkedTrack] = []
    for pos, dets in enumerate(detections):
        still = []
        for t in active:
            (done if pos - t.items[-1][0] - 1 > max_gap else still).append(t)
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
