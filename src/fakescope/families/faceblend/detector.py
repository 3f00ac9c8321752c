"""The default detector: an ImageNet backbone fine-tuned on face crops with self-blended fakes,
behind the `Detector` protocol; explanations are Grad-CAM maps (captum) of its last conv stage.

Weights come from a bundle file the user names, or from the one packaged with fakescope
(``fakescope/weights/faceblend_dfdc.pt``, pinned by sha256 in ``faceblend_dfdc.json``).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from fakescope.detectors.registry import register_detector
from fakescope.detectors.torch_bundle import BundleCropDetector, PackagedGraph
from fakescope.detectors.torch_bundle import packaged_graph as _packaged_graph
from fakescope.detectors.torch_bundle import packaged_weights as _packaged

if TYPE_CHECKING:  # torch loads when a model runs in it, not with this module
    import torch

PACKAGED_WEIGHTS = "faceblend_dfdc.pt"
PACKAGED_CARD = "faceblend_dfdc.json"


def packaged_weights() -> tuple[Path, str]:
    return _packaged(PACKAGED_WEIGHTS, PACKAGED_CARD, "FaceBlend")


def packaged_graph() -> PackagedGraph | None:
    """The ONNX graph shipped beside the weights (scripts/ship_onnx.py): a first scan on a
    new machine runs it without importing torch."""
    return _packaged_graph(PACKAGED_WEIGHTS, PACKAGED_CARD)


def gradcam_maps(model: torch.nn.Module, x: torch.Tensor) -> np.ndarray:
    """Grad-CAM (Selvaraju et al.) of the fake logit at the model's `cam_layer`: ReLU of the
    channel-weighted activations, (N, h, w) float32, each map scaled to max 1 (0 where flat).
    The weights are the spatially averaged gradients of the logit, so the map shows what
    pushes this crop's score towards fake."""
    import torch
    from captum.attr import LayerGradCam

    cam = LayerGradCam(model, model.cam_layer)
    with torch.enable_grad():
        attr = cam.attribute(x.requires_grad_(True), relu_attributions=True)
    maps = attr.detach().float().sum(1).cpu().numpy()
    peak = maps.reshape(len(maps), -1).max(axis=1).reshape(-1, 1, 1)
    return np.where(peak > 0, maps / np.maximum(peak, 1e-12), 0.0).astype(np.float32)


class FaceBlendDetector(BundleCropDetector):
    """Per-crop fake probability; `explain_crops` gives Grad-CAM maps at the backbone's last
    feature resolution (input / 32)."""

    family = "faceblend"
    default_cpu_batch = 32

    def explain_crops(self, crops: np.ndarray) -> np.ndarray | None:
        import torch

        crops = self.check_crops(np.asarray(crops))
        if not hasattr(self.model, "cam_layer"):
            return None
        self.model.to(self.device).eval()
        maps = []
        for i in range(0, len(crops), self.batch_size):
            x = torch.from_numpy(self.preprocess(crops[i : i + self.batch_size])).to(self.device)
            maps.append(gradcam_maps(self.model, x))
        return np.concatenate(maps) if maps else None


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
