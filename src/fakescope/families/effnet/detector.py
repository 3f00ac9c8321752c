"""The EffNet detector (seed 001): a bundle of `EffNetSoftmax` behind the `Detector`
protocol. A crop's score is the softmax probability of "fake" (the model's logit is the
softmax log-odds, see `network`); explanations are Grad-CAM maps of its last conv stage.

Weights come from a bundle file the user names, or from the one packaged with fakescope
(``fakescope/weights/effnet_dfdc.pt``, pinned by sha256 in ``effnet_dfdc.json``). There is no
fallback to an untrained network: a missing or mismatched file is a `WeightsError`.
"""

from __future__ import annotations

from pathlib import Path

from fakescope.detectors.gradcam import GradCamCropDetector
from fakescope.detectors.registry import register_detector
from fakescope.detectors.torch_bundle import packaged_weights as _packaged

PACKAGED_WEIGHTS = "effnet_dfdc.pt"
PACKAGED_CARD = "effnet_dfdc.json"


def packaged_weights() -> tuple[Path, str]:
    return _packaged(PACKAGED_WEIGHTS, PACKAGED_CARD, "EffNet")


class EffNetDetector(GradCamCropDetector):
    """Per-crop softmax probability of "fake"; `explain_crops` gives Grad-CAM maps of the
    fake log-odds at the trunk's last feature resolution (input / 32)."""

    family = "effnet"
    default_cpu_batch = 32


@register_detector("effnet", packaged=lambda: packaged_weights())
def create_effnet(
    weights: str | Path | None = None,
    device: str | None = None,
    runtime: str = "auto",
    **kwargs,
) -> EffNetDetector:
    """`weights=None`: the packaged, sha256-pinned bundle; otherwise a bundle file path."""
    return EffNetDetector.create(weights, packaged_weights, device=device, runtime=runtime,
                                 **kwargs)
