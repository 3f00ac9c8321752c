"""The detector protocol: what every detector family exposes to the scan pipeline.

A detector is preprocessing + model(s) + weights + postprocessing behind one small interface.
It declares what input it needs (`DetectorRequirements`); the pipeline (media → faces) provides
exactly that, so a detector never opens files or finds faces itself.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

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
    sequence_length: int = 1  # 1 = scores single crops; >1 = scores sequences of crops


class Detector(ABC):
    """Scores face crops with a fake probability (1 = fake, 0 = real)."""

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

    @abstractmethod
    def score_crops(self, crops: np.ndarray) -> np.ndarray:
        """uint8 RGB crops (N, S, S, 3) with S = requirements.input_size → float probabilities
        (N,). N may be 0."""

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
