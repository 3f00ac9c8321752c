"""The two-branch recurrent detector (seed 003) behind the `Detector` protocol: a sequence
detector — per person track, `windows` sequences of F = 10 aligned crops, 1 frame in 7 — whose
score per sequence is the calibrated distance of its embedding to the real-face centre.

No weights ship with fakescope for this family (see README.md): `fakescope detectors` says
so, and `--weights` names a bundle that `fakescope train` wrote with this family's recipe
(configs/twobranch_sbi.yaml). There is no fallback to an untrained network.
"""

from __future__ import annotations

from pathlib import Path

from fakescope.detectors.registry import register_detector
from fakescope.detectors.torch_bundle import load_family_bundle
from fakescope.detectors.torch_sequence import BundleSequenceDetector
from fakescope.errors import WeightsError


def packaged_weights() -> tuple[Path, str]:
    raise WeightsError("no packaged twobranch weights: none was trained and measured well "
                       "enough to ship (docs/twobranch.md); pass a bundle with --weights PATH "
                       "(`fakescope train configs/twobranch_sbi.yaml --out RUN` writes RUN/detector.pt)")


class TwoBranchDetector(BundleSequenceDetector):
    family = "twobranch"
    default_cpu_batch = 2  # sequences of 10 crops through a DenseNet: memory, not speed


@register_detector("twobranch", unit="sequence")
def create_twobranch(weights: str | Path | None = None, device: str | None = None,
                     runtime: str = "auto", **kwargs) -> TwoBranchDetector:
    """`weights`: a twobranch bundle (there are no packaged ones)."""
    bundle = load_family_bundle(weights, packaged_weights)
    return TwoBranchDetector(bundle, device=device, runtime=runtime, **kwargs)
