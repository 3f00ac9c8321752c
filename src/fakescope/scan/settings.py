"""The settings of a scan, as plain data: they build a `Scanner` in this process or in a worker
process, and (resolved by the Scanner) they key the reuse of earlier results."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from typing import Any

from fakescope.faces.detectors import DEFAULT_FACE_DETECTOR

# Bump when a change to the scan logic changes results for the same settings (a re-run must
# not reuse answers the new logic would give differently).
SCAN_LOGIC_VERSION = 3  # 3: verdict bands and probability from a file-level calibration


@dataclass(frozen=True)
class ScanSettings:
    """What `fakescope scan` was asked for; `build()` resolves defaults (packaged weights, the
    detector's threshold) into a Scanner."""

    detector: str | None = None
    weights: str | None = None
    device: str | None = None
    runtime: str = "auto"
    face_detector: str | None = None  # None: DEFAULT_FACE_DETECTOR where its framing of the
                                      # model's crop preset was measured, else one that has one
    min_face: float | None = None
    sampling: str | None = None  # None: the detector's (its default_sampling, else uniform:32;
                                 # a temporal detector's own runs)
    policy: str = "all"
    aggregation: str = "mean"
    threshold: float | None = None
    min_track_frames: int = 3
    calibration: str | None = "packaged"  # a calibration file, "packaged" or None (none)

    def build(self):
        from fakescope.detectors import create_detector
        from fakescope.faces import create_face_detector
        from fakescope.scan.scanner import Scanner

        detector = create_detector(self.detector, weights=self.weights, device=self.device,
                                   runtime=self.runtime)
        from fakescope.faces.presets import face_detector_for

        name = self.face_detector or face_detector_for(detector.requirements.crop_preset,
                                                       DEFAULT_FACE_DETECTOR)
        faces = create_face_detector(name, device=self.device, min_face_size=self.min_face)
        return Scanner(detector, face_detector=faces, sampling=self.sampling,
                       policy=self.policy, aggregation=self.aggregation,
                       threshold=self.threshold, min_track_frames=self.min_track_frames,
                       calibration=self.calibration)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def settings_key(resolved: dict[str, Any]) -> str:
    """A short stable hash of everything that changes a result (see `Scanner.settings`)."""
    text = json.dumps(resolved, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
