"""The style + content detector (seed 004) behind the `Detector` protocol: a clip detector —
per person track, `windows` clips of F = 16 consecutive 256-px crops (``windows:2:16:1``:
seed 004's 32 frames per video) — one fake probability per clip, aggregated clip → track →
file by `evaluate.aggregate` like every other unit.

No weights ship with fakescope for this family (see README.md and docs/stylecontent.md):
`fakescope detectors` says so, and `--weights` names a bundle that
`scripts/stylecontent_train.py` (recipe configs/stylecontent_sbi.yaml) wrote. There is no
fallback to an untrained network.
"""

from __future__ import annotations

from pathlib import Path

from fakescope.detectors.registry import register_detector
from fakescope.detectors.torch_bundle import load_family_bundle
from fakescope.detectors.torch_sequence import BundleSequenceDetector
from fakescope.errors import WeightsError


def packaged_weights() -> tuple[Path, str]:
    raise WeightsError("no packaged stylecontent weights: none was trained and measured well "
                       "enough to ship (docs/stylecontent.md); pass a bundle with --weights PATH "
                       "(`python scripts/stylecontent_train.py configs/stylecontent_sbi.yaml` "
                       "writes one)")


class StyleContentDetector(BundleSequenceDetector):
    family = "stylecontent"
    default_cpu_batch = 2  # clips of 16 frames through a 3D ResNet: memory, not speed


@register_detector("stylecontent", unit="clip")
def create_stylecontent(weights: str | Path | None = None, device: str | None = None,
                        runtime: str = "auto", **kwargs) -> StyleContentDetector:
    """`weights`: a stylecontent bundle (there are no packaged ones)."""
    bundle = load_family_bundle(weights, packaged_weights)
    return StyleContentDetector(bundle, device=device, runtime=runtime, **kwargs)
