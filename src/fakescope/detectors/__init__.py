"""Detectors: each family = preprocessing + model(s) + weights + postprocessing behind the
`Detector` protocol, built by name with `create_detector`."""

from fakescope.detectors import fakebuster as _fakebuster  # noqa: F401  (registers "fakebuster")
from fakescope.detectors.base import Detector, DetectorRequirements
from fakescope.detectors.registry import create_detector, list_detectors, register_detector

__all__ = [
    "Detector",
    "DetectorRequirements",
    "create_detector",
    "list_detectors",
    "register_detector",
]
