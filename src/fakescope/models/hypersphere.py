"""A hypersphere head (seed 003 §3.3): the fake logit from the distance of an embedding to a
fixed reference centre c, so that a model trained with the hypersphere loss still gives what
every detector gives, one fake probability per unit.

logit = scale · (‖z − c‖₂ − offset). Before training, offset sits half way between the two
radii and scale puts the radii at logit ±2; after training, scale and offset are fitted on
validation (Platt scaling of the distance), which is the calibration seed 003 leaves open.
c, scale and offset are buffers: they travel in the weights file.
"""

from __future__ import annotations

import torch
from torch import nn


class HypersphereHead(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.register_buffer("center", torch.zeros(dim))
        self.register_buffer("offset", torch.tensor(0.0))
        self.register_buffer("scale", torch.tensor(1.0))
        self.last_distance: torch.Tensor | None = None
        self.last_embedding: torch.Tensor | None = None

    def distance(self, z: torch.Tensor) -> torch.Tensor:
        return (z.float() - self.center).norm(dim=1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        self.last_embedding = z
        self.last_distance = self.distance(z)
        return self.scale * (self.last_distance - self.offset)

    def distance_of(self, logits: torch.Tensor) -> torch.Tensor:
        """Invert the logit map (scale > 0): the distance behind each logit."""
        return logits / self.scale + self.offset

    @torch.no_grad()
    def set_radii(self, r_minus: float, r_plus: float) -> None:
        self.offset.fill_((r_minus + r_plus) / 2)
        self.scale.fill_(4.0 / max(r_plus - r_minus, 1e-6))
