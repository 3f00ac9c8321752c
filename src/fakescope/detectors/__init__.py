"""Detectors: each family = preprocessing + model(s) + weights + postprocessing behind the
`Detector` protocol, built by name with `create_detector`. Families live in `fakescope.families` and are
discovered on first use."""

from fakescope.detectors.base import Detector, DetectorRequirements
from fakescope.detectors.registry import create_detector, list_detectors, register_detector

__all__ = [
    "Detector",
    "DetectorRequirements",
    "create_detector",
    "list_detectors",
    "register_detector",
]
