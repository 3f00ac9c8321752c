"""The default detector: an ImageNet backbone fine-tuned on face crops with self-blended fakes,
behind the `Detector` protocol; explanations are Grad-CAM maps (captum) of its last conv stage.

Weights come from a bundle file the user names, or from the one packaged with fakescope
(``fakescope/weights/faceblend_dfdc.pt``, pinned by sha256 in ``faceblend_dfdc.json``).
"""

from __future__ import annotations

from pathlib import Path

from fakescope.detectors.gradcam import GradCamCropDetector
from fakescope.detectors.registry import register_detector
from fakescope.detectors.torch_bundle import PackagedGraph
from fakescope.detectors.torch_bundle import packaged_graph as _packaged_graph
from fakescope.detectors.torch_bundle import packaged_weights as _packaged

PACKAGED_WEIGHTS = "faceblend_dfdc.pt"
PACKAGED_CARD = "faceblend_dfdc.json"


def packaged_weights() -> tuple[Path, str]:
    return _packaged(PACKAGED_WEIGHTS, PACKAGED_CARD, "FaceBlend")


def packaged_graph() -> PackagedGraph | None:
    """The ONNX graph shipped beside the weights (scripts/ship_onnx.py): a first scan on a
    new machine runs it without importing torch."""
    return _packaged_graph(PACKAGED_WEIGHTS, PACKAGED_CARD)


class FaceBlendDetector(GradCamCropDetector):
    """Per-crop fake probability; `explain_crops` gives Grad-CAM maps (captum)."""

    family = "faceblend"
    default_cpu_batch = 32


@register_detector("faceblend", packaged=lambda: packaged_weights())
def create_faceblend(
    weights: str | Path | None = None,
    device: str | None = None,
    runtime: str = "auto",
    **kwargs,
) -> FaceBlendDetector:
    """`weights=None`: the packaged, sha256-pinned bundle; otherwise a bundle file path."""
    return FaceBlendDetector.create(weights, packaged_weights, device=device, runtime=runtime,
                                    packaged_graph=packaged_graph, **kwargs)
