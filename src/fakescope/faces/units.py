"""Person tracks → the units a detector scores: single crops, or per track the sequences /
clips of F crops that fall in the sampled runs (`media.WindowSampling.runs`).

Why here: the face stage knows tracks and frames, not models; a unit is only "which crops of
one person, in which order". Boxes are already smoothed over the track
(`tracking.smooth_boxes`), so the F crops of a unit are steady.

A face the detector missed on a few frames of a run does not lose the run: the gap takes the
nearest crop of the same run (as a still frame would), as long as at least `min_present` of
the run's frames hold the face. A video shorter than one run loops the crops it has (seed 003
and seed 004 pad short inputs the same way). `filled` counts such stand-ins per unit.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from fakescope.types import FaceCrop, FaceTrack


@dataclass
class TrackUnit:
    """One scored unit of one person: F crops in frame order."""

    track_id: int
    crops: list[FaceCrop]
    filled: int = 0  # positions that took a neighbouring crop (face missed there)

    @property
    def frames(self) -> list[int]:
        return [c.frame_index for c in self.crops]

    @property
    def middle(self) -> FaceCrop:
        """The crop that stands for the unit on a timeline."""
        return self.crops[len(self.crops) // 2]

    def images(self) -> np.ndarray:
        return np.stack([c.image for c in self.crops])


def crop_units(track: FaceTrack) -> list[TrackUnit]:
    """A crop detector's units: each crop on its own."""
    return [TrackUnit(track.track_id, [c]) for c in track.crops]


def sequence_units(
    track: FaceTrack,
    runs: Sequence[Sequence[int]],
    length: int,
    step: int = 1,
    min_present: float = 0.5,
) -> list[TrackUnit]:
    """The units of `track` in the sampled `runs` (lists of frame indices, see
    `WindowSampling.runs`): one per run where the person is seen on at least `min_present`
    of the run's frames. A crop belongs to the run position whose frame index is nearest
    (within half a step: the decoder returns the frame nearest each target time)."""
    if length < 1 or step < 1 or not 0.0 < min_present <= 1.0:
        raise ValueError("length and step must be >= 1 and min_present in (0, 1]")
    by_frame = {c.frame_index: c for c in track.crops}
    frames = np.array(sorted(by_frame), dtype=np.int64)
    tol = max(1.0, step / 2)
    units = []
    for run in runs:
        slots: list[FaceCrop | None] = []
        for idx in run:
            if frames.size == 0:
                slots.append(None)
                continue
            j = int(np.argmin(np.abs(frames - idx)))
            slots.append(by_frame[int(frames[j])] if abs(frames[j] - idx) <= tol else None)
        present = [i for i, c in enumerate(slots) if c is not None]
        if not run or len(present) < max(1, math.ceil(min_present * len(run))):
            continue
        filled = len(slots) - len(present)
        crops = [c if c is not None else slots[min(present, key=lambda p: abs(p - i))]
                 for i, c in enumerate(slots)]
        if len(crops) < length:  # a video shorter than one run: loop what there is
            filled += length - len(crops)
            crops = [crops[k % len(crops)] for k in range(length)]
        units.append(TrackUnit(track.track_id, crops[:length], filled))
    return units
