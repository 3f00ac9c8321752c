"""The detector protocol: what every detector family exposes to the scan pipeline.

A detector is preprocessing + model(s) + weights + postprocessing behind one small interface.
It declares what input it needs (`DetectorRequirements`); the pipeline (media → faces) provides
exactly that, so a detector never opens files or finds faces itself.

Three kinds of scored unit, one protocol (`Detector.score_units`):

- ``crop``: one face crop (``score_crops``);
- ``sequence``: F crops of one person track, 1 of every `frame_step` video frames (seed 003:
  F = 10, 1 in 7), scored together (``score_sequences``);
- ``clip``: F consecutive frames of one track (seed 004: 3D-CNN clips), same array shape.

A temporal detector also says how many units to take per file (`windows`); the frames to
decode follow from that (`DetectorRequirements.sampling`), so sampling is the detector's need,
not a scan option. Every unit gets one fake probability; units → track → file go through the
one aggregation (`evaluate.aggregate`), whatever the unit.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Literal

import numpy as np

from fakescope.types import DetectorInfo


@dataclass(frozen=True)
class DetectorRequirements:
    """What the face stage must hand the detector.

    `crop_preset` names a `fakescope.faces` crop preset: the framing the model was trained on.
    Scanning with another framing is the most common cause of a detector failing on new media,
    so it travels with the weights rather than being a scan option.
    """

    input_size: int  # square crop side in pixels
    crop_preset: str = "dfdc_tight"
    mean: tuple[float, float, float] = (0.5, 0.5, 0.5)  # per-channel, on [0, 1] pixels
    std: tuple[float, float, float] = (0.5, 0.5, 0.5)
    sequence_length: int = 1  # F: crops per scored unit (1 for a crop detector)
    unit: Literal["crop", "sequence", "clip"] = "crop"
    frame_step: int = 1  # video frames between two crops of a unit ("1 of k frames")
    windows: int = 4  # units sampled per file, spread evenly over the video (temporal only)

    def __post_init__(self) -> None:
        if self.unit not in UNITS:
            raise ValueError(f"unit must be one of {UNITS}, got {self.unit!r}")
        if self.sequence_length < 1 or self.frame_step < 1 or self.windows < 1:
            raise ValueError("sequence_length, frame_step and windows must be >= 1")
        if (self.unit == "crop") != (self.sequence_length == 1):
            raise ValueError(f"a {self.unit} detector with sequence_length "
                             f"{self.sequence_length}: crops have length 1, sequences and clips > 1")
        if self.unit == "clip" and self.frame_step != 1:
            raise ValueError("a clip is consecutive frames: frame_step must be 1")

    @property
    def temporal(self) -> bool:
        return self.unit != "crop"

    def sampling(self, windows: int | None = None):
        """The frames a temporal detector needs: `windows` (default: its own) runs of
        F frames, `frame_step` apart, spread over the video. None for crop detectors."""
        if not self.temporal:
            return None
        from fakescope.media.sampling import WindowSampling

        return WindowSampling(windows=windows or self.windows, length=self.sequence_length,
                              step=self.frame_step)


UNITS = ("crop", "sequence", "clip")


class Detector(ABC):
    """Scores face crops (or sequences / clips of them) with a fake probability (1 = fake)."""

    @property
    @abstractmethod
    def info(self) -> DetectorInfo:
        """Name, version and the sha256 of the weights: reported with every result."""

    @property
    @abstractmethod
    def requirements(self) -> DetectorRequirements:
        ...

    @property
    @abstractmethod
    def threshold(self) -> float:
        """Decision threshold on the fake probability that came with the weights."""

    def score_crops(self, crops: np.ndarray) -> np.ndarray:
        """uint8 RGB crops (N, S, S, 3) with S = requirements.input_size → float probabilities
        (N,). N may be 0. Every crop detector implements it."""
        raise TypeError(f"{self.info.name} is a {self.requirements.unit} detector; it scores "
                        f"sequences of {self.requirements.sequence_length} crops (score_sequences)")

    def score_sequences(self, sequences: np.ndarray) -> np.ndarray:
        """uint8 RGB sequences (N, F, S, S, 3) → float probabilities (N,): for sequence and
        clip detectors."""
        raise TypeError(f"{self.info.name} is a {self.requirements.unit} detector; it scores "
                        "single crops (score_crops)")

    def score_units(self, units: np.ndarray) -> np.ndarray:
        """(N, F, S, S, 3) units of this detector's kind → (N,): what the pipeline calls, so
        scan, eval and training treat every kind alike."""
        units = self.check_units(np.asarray(units))
        if self.requirements.temporal:
            return np.asarray(self.score_sequences(units), dtype=np.float64)
        return np.asarray(self.score_crops(units[:, 0]), dtype=np.float64)

    def check_units(self, units: np.ndarray) -> np.ndarray:
        req = self.requirements
        shape = (req.sequence_length, req.input_size, req.input_size, 3)
        if units.ndim != 5 or units.shape[1:] != shape:
            raise ValueError(f"{self.info.name}: expected units of shape (N, {', '.join(map(str, shape))}), "
                             f"got {tuple(units.shape)}")
        if units.dtype != np.uint8:
            raise ValueError(f"{self.info.name}: expected uint8 units, got {units.dtype}")
        return units

    def explain_crops(self, crops: np.ndarray) -> np.ndarray | None:
        """Where the model looked: (N, h, w) non-negative maps, or None when the family has no
        such notion. Maps are at the model's internal resolution; callers resize them."""
        return None

    def embed_crops(self, crops: np.ndarray) -> np.ndarray | None:
        """The model's penultimate-layer features (N, D) float32, for embedding analysis
        (`fakescope analyze`), or None when the family has no such layer."""
        return None

    def check_crops(self, crops: np.ndarray) -> np.ndarray:
        """Validate the input contract shared by every family; returns the array unchanged."""
        size = self.requirements.input_size
        if crops.ndim != 4 or crops.shape[1:] != (size, size, 3):
            raise ValueError(
                f"{self.info.name}: expected crops of shape (N, {size}, {size}, 3), "
                f"got {tuple(crops.shape)}"
            )
        if crops.dtype != np.uint8:
            raise ValueError(f"{self.info.name}: expected uint8 crops, got {crops.dtype}")
        return crops


class BundleDetector(Detector):
    """A detector whose identity, input needs and threshold come from one loaded weights
    bundle (torch or skops): subclasses set `bundle`, `_info` and `_requirements` in
    ``__init__``; the properties are written once here."""

    bundle: object  # fakescope.detectors.bundle.Bundle
    _info: DetectorInfo
    _requirements: DetectorRequirements

    @property
    def info(self) -> DetectorInfo:
        return self._info

    @property
    def requirements(self) -> DetectorRequirements:
        return self._requirements

    @property
    def meta(self):
        """The bundle's `BundleMeta` (a detector loaded from a cached ONNX graph holds only it)."""
        return self.bundle.meta

    @property
    def threshold(self) -> float:
        return float(self.meta.threshold)
