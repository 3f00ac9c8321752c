"""Grad-CAM explanations for crop detectors whose network names a `cam_layer` (the ImageNet
backbones: faceblend, effnet). torch and captum load only when a map is asked for."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from fakescope.detectors.torch_bundle import BundleCropDetector

if TYPE_CHECKING:
    import torch


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


class GradCamCropDetector(BundleCropDetector):
    """A bundle crop detector whose `explain_crops` gives Grad-CAM maps at the backbone's last
    feature resolution (input / 32)."""

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
