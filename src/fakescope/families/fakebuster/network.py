"""Fake-Buster classifier (seed 002 §3.2): a lightweight CNN of inverted-residual blocks with
Squeeze-Excite and one self-attention module, sized to run fast on CPU.

Layout: a stem of 3 convolutions, then 4 "double blocks" (two inverted-residual modules each),
each followed by max-pooling; self-attention after the first double block; global pooling and a
single linear layer. Every convolution is followed by BatchNorm and ReLU (the paper's choice;
the last pointwise squeeze is linear, as in MobileNetV2, so the residual sum stays unbounded).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


def conv_bn_relu(c_in: int, c_out: int, kernel: int = 3, stride: int = 1, groups: int = 1,
                 relu: bool = True) -> nn.Sequential:
    layers: list[nn.Module] = [
        nn.Conv2d(c_in, c_out, kernel, stride, kernel // 2, groups=groups, bias=False),
        nn.BatchNorm2d(c_out),
    ]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class SqueezeExcite(nn.Module):
    """Channel re-weighting from globally pooled features (Hu et al.)."""

    def __init__(self, channels: int, reduction: int = 4) -> None:
        super().__init__()
        hidden = max(8, channels // reduction)
        self.fc1 = nn.Conv2d(channels, hidden, 1)
        self.fc2 = nn.Conv2d(hidden, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = x.mean(dim=(2, 3), keepdim=True)
        w = torch.sigmoid(self.fc2(torch.relu(self.fc1(w))))
        return x * w


class InvertedResidual(nn.Module):
    """Pointwise expand → depthwise 3×3 → pointwise squeeze, then (optional) SE before the
    residual sum (seed 002 Fig. 2)."""

    def __init__(self, c_in: int, c_out: int, expand: int = 4, use_se: bool = True) -> None:
        super().__init__()
        hidden = c_in * expand
        self.expand = conv_bn_relu(c_in, hidden, kernel=1)
        self.depthwise = conv_bn_relu(hidden, hidden, kernel=3, groups=hidden)
        self.squeeze = conv_bn_relu(hidden, c_out, kernel=1, relu=False)
        self.se = SqueezeExcite(c_out) if use_se else nn.Identity()
        self.shortcut = (
            nn.Identity() if c_in == c_out else conv_bn_relu(c_in, c_out, kernel=1, relu=False)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.se(self.squeeze(self.depthwise(self.expand(x))))
        return torch.relu(y + self.shortcut(x))


class SelfAttention(nn.Module):
    """SAGAN-style self-attention. Keeps the attention each position receives (averaged over
    queries) in `last_map`, which is what seed 002 Fig. 5 shows as the explanation."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        inner = max(1, channels // 8)
        self.query = nn.Conv2d(channels, inner, 1)
        self.key = nn.Conv2d(channels, inner, 1)
        self.value = nn.Conv2d(channels, channels, 1)
        self.gamma = nn.Parameter(torch.zeros(1))
        self.last_map: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        q = self.query(x).flatten(2).transpose(1, 2)  # (n, hw, inner)
        k = self.key(x).flatten(2)  # (n, inner, hw)
        attn = torch.softmax(torch.bmm(q, k), dim=-1)  # (n, hw_query, hw_key)
        v = self.value(x).flatten(2)  # (n, c, hw)
        out = torch.bmm(v, attn.transpose(1, 2)).view(n, c, h, w)
        self.last_map = attn.mean(dim=1).view(n, h, w).detach()
        return x + self.gamma * out


class DoubleBlock(nn.Sequential):
    def __init__(self, c_in: int, c_out: int, expand: int, use_se: bool) -> None:
        super().__init__(
            InvertedResidual(c_in, c_out, expand, use_se),
            InvertedResidual(c_out, c_out, expand, use_se),
        )


class FakeBuster(nn.Module):
    """Face crop (N, 3, S, S), normalised → one fake logit per crop (N,)."""

    def __init__(
        self,
        widths: Sequence[int] = (24, 40, 64, 96),
        stem_width: int = 16,
        expand: int = 4,
        use_attention: bool = True,
        use_se: bool = True,
        dropout: float = 0.2,
    ) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            conv_bn_relu(3, stem_width, stride=2),
            conv_bn_relu(stem_width, stem_width),
            conv_bn_relu(stem_width, stem_width),
        )
        stages: list[nn.Module] = []
        c_in = stem_width
        for i, c_out in enumerate(widths):
            stages.append(DoubleBlock(c_in, c_out, expand, use_se))
            stages.append(nn.MaxPool2d(2))
            if i == 0 and use_attention:
                stages.append(SelfAttention(c_out))
            c_in = c_out
        self.features = nn.Sequential(*stages)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(c_in, 1)

    @property
    def attention(self) -> SelfAttention | None:
        for m in self.features:
            if isinstance(m, SelfAttention):
                return m
        return None

    @property
    def last_attention(self) -> torch.Tensor | None:
        """(N, h, w) attention map from the last forward pass, or None without attention."""
        att = self.attention
        return None if att is None else att.last_map

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(self.stem(x))
        x = torch.flatten(torch.nn.functional.adaptive_avg_pool2d(x, 1), 1)
        return self.head(self.dropout(x)).squeeze(1)
