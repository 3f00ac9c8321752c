"""StyleGAN2 (Karras et al. 2020) generator and a W+ encoder, written here, loading a user's
weights file; optimisation-based inversion (Zhu et al. 2020, as seed 000 uses) and the
`stylegan` projector.

No StyleGAN or encoder weights ship with fakescope. A weights file is a torch file of plain
tensors (read with ``weights_only=True``, so it cannot run code):

    {"format": "fakescope-stylegan2", "version": 1,
     "generator": {"kwargs": {...Generator args}, "state_dict": {...}},
     "encoder":   {"kwargs": {...Encoder args}, "state_dict": {...}}}   # encoder optional

with this module's parameter names (`save_stylegan_weights` writes one); official NVIDIA
checkpoints need their names mapped first (not provided). Differences from the official
network, stated: bilinear up/down-sampling instead of the FIR blur, constant (not random)
noise so an inversion is deterministic; the encoder is a plain strided CNN, not Zhu et al.'s.
"""

from __future__ import annotations

import hashlib
import io
import logging
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from fakescope.errors import WeightsError
from fakescope.families.latentforensics.projectors import (
    Projector,
    from_vectors,
    register_projector,
    resize_faces,
)

log = logging.getLogger(__name__)
WEIGHTS_FORMAT = "fakescope-stylegan2"


class EqualLinear(nn.Module):
    """Linear layer with equalised learning rate (weights scaled at run time)."""

    def __init__(self, cin: int, cout: int, bias_init: float = 0.0, lr_mul: float = 1.0,
                 act: bool = False) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(cout, cin) / lr_mul)
        self.bias = nn.Parameter(torch.full((cout,), float(bias_init)))
        self.scale, self.lr_mul, self.act = lr_mul / math.sqrt(cin), lr_mul, act

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.linear(x, self.weight * self.scale, self.bias * self.lr_mul)
        return F.leaky_relu(out, 0.2) * math.sqrt(2) if self.act else out


class ModulatedConv(nn.Module):
    """Convolution whose weights are scaled per input channel by the style (modulation) and
    renormalised per output channel (demodulation), grouped over the batch."""

    def __init__(self, cin: int, cout: int, k: int, w_dim: int, demodulate: bool = True,
                 upsample: bool = False) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(1, cout, cin, k, k))
        self.scale = 1.0 / math.sqrt(cin * k * k)
        self.modulation = EqualLinear(w_dim, cin, bias_init=1.0)
        self.demodulate, self.upsample, self.pad = demodulate, upsample, k // 2

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        b, cin, h, wd = x.shape
        style = self.modulation(w).view(b, 1, cin, 1, 1)
        weight = self.scale * self.weight * style
        if self.demodulate:
            weight = weight * torch.rsqrt(weight.pow(2).sum((2, 3, 4), keepdim=True) + 1e-8)
        cout = weight.shape[1]
        if self.upsample:
            x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
            h, wd = h * 2, wd * 2
        out = F.conv2d(x.reshape(1, b * cin, h, wd), weight.view(b * cout, cin, *weight.shape[3:]),
                       padding=self.pad, groups=b)
        return out.view(b, cout, h, wd)


class StyledConv(nn.Module):
    def __init__(self, cin: int, cout: int, w_dim: int, size: int, upsample: bool = False) -> None:
        super().__init__()
        self.conv = ModulatedConv(cin, cout, 3, w_dim, upsample=upsample)
        self.noise_strength = nn.Parameter(torch.zeros(()))
        self.register_buffer("noise", torch.randn(1, 1, size, size))
        self.bias = nn.Parameter(torch.zeros(1, cout, 1, 1))

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        out = self.conv(x, w) + self.noise_strength * self.noise
        return F.leaky_relu(out + self.bias, 0.2) * math.sqrt(2)


class ToRGB(nn.Module):
    def __init__(self, cin: int, w_dim: int) -> None:
        super().__init__()
        self.conv = ModulatedConv(cin, 3, 1, w_dim, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(1, 3, 1, 1))

    def forward(self, x: torch.Tensor, w: torch.Tensor, skip: torch.Tensor | None) -> torch.Tensor:
        out = self.conv(x, w) + self.bias
        if skip is not None:
            out = out + F.interpolate(skip, scale_factor=2, mode="bilinear", align_corners=False)
        return out


def _channels(res: int, channel_base: int, channel_max: int) -> int:
    return min(channel_max, channel_base // res)


class Generator(nn.Module):
    """Mapping network (8 layers, lr x0.01) + synthesis from a learnt 4x4 constant. At 256 px
    it takes W+ codes of 14 x 512 (seed 000's 512 x 14): 2 log2(resolution) - 2 styles."""

    def __init__(self, resolution: int = 256, z_dim: int = 512, w_dim: int = 512,
                 n_mlp: int = 8, channel_base: int = 16384, channel_max: int = 512) -> None:
        super().__init__()
        log2 = int(math.log2(resolution))
        if 2**log2 != resolution or resolution < 8:
            raise ValueError(f"resolution must be a power of two >= 8, got {resolution}")
        self.resolution, self.z_dim, self.w_dim = resolution, z_dim, w_dim
        self.num_ws = 2 * log2 - 2
        layers: list[nn.Module] = [EqualLinear(z_dim, w_dim, lr_mul=0.01, act=True)]
        layers += [EqualLinear(w_dim, w_dim, lr_mul=0.01, act=True) for _ in range(n_mlp - 1)]
        self.mapping = nn.Sequential(*layers)
        ch = _channels(4, channel_base, channel_max)
        self.const = nn.Parameter(torch.randn(1, ch, 4, 4))
        self.conv1 = StyledConv(ch, ch, w_dim, 4)
        self.rgb1 = ToRGB(ch, w_dim)
        self.convs, self.rgbs = nn.ModuleList(), nn.ModuleList()
        for r in range(3, log2 + 1):
            cout = _channels(2**r, channel_base, channel_max)
            self.convs.append(StyledConv(ch, cout, w_dim, 2**r, upsample=True))
            self.convs.append(StyledConv(cout, cout, w_dim, 2**r))
            self.rgbs.append(ToRGB(cout, w_dim))
            ch = cout

    def map(self, z: torch.Tensor) -> torch.Tensor:
        z = z * torch.rsqrt(z.pow(2).mean(1, keepdim=True) + 1e-8)  # pixel norm
        return self.mapping(z)

    @torch.no_grad()
    def mean_w(self, n: int = 4096, seed: int = 0) -> torch.Tensor:
        g = torch.Generator().manual_seed(seed)
        z = torch.randn(n, self.z_dim, generator=g).to(self.const.device)
        return self.map(z).mean(0)

    def synthesis(self, ws: torch.Tensor) -> torch.Tensor:
        """W+ codes (B, num_ws, w_dim) → images (B, 3, R, R), about [-1, 1]."""
        if ws.shape[1:] != (self.num_ws, self.w_dim):
            raise ValueError(f"expected W+ codes (B, {self.num_ws}, {self.w_dim}), got {tuple(ws.shape)}")
        x = self.const.expand(len(ws), -1, -1, -1)
        x = self.conv1(x, ws[:, 0])
        skip = self.rgb1(x, ws[:, 1], None)
        i = 1
        for k, rgb in enumerate(self.rgbs):
            x = self.convs[2 * k](x, ws[:, i])
            x = self.convs[2 * k + 1](x, ws[:, i + 1])
            skip = rgb(x, ws[:, i + 2], skip)
            i += 2
        return skip

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.synthesis(self.map(z).unsqueeze(1).expand(-1, self.num_ws, -1))


class Encoder(nn.Module):
    """Image → W+ code: strided convolutions to 4x4, then one linear layer, added to an
    offset (the generator's mean w once trained)."""

    def __init__(self, resolution: int = 256, num_ws: int = 14, w_dim: int = 512,
                 channels: int = 64) -> None:
        super().__init__()
        blocks, ch, r = [nn.Conv2d(3, channels, 3, padding=1), nn.LeakyReLU(0.2)], channels, resolution
        while r > 4:
            cout = min(ch * 2, 512)
            blocks += [nn.Conv2d(ch, cout, 4, 2, 1), nn.LeakyReLU(0.2)]
            ch, r = cout, r // 2
        self.body = nn.Sequential(*blocks)
        self.head = nn.Linear(ch * 16, num_ws * w_dim)
        self.register_buffer("offset", torch.zeros(num_ws, w_dim))
        self.num_ws, self.w_dim = num_ws, w_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x).flatten(1)).view(-1, self.num_ws, self.w_dim) + self.offset


def save_stylegan_weights(path: str | Path, generator: Generator, gen_kwargs: dict[str, Any],
                          encoder: Encoder | None = None, enc_kwargs: dict[str, Any] | None = None) -> str:
    """Write a weights file in the documented format; returns its sha256."""
    raw: dict[str, Any] = {"format": WEIGHTS_FORMAT, "version": 1,
                           "generator": {"kwargs": gen_kwargs, "state_dict": generator.state_dict()}}
    if encoder is not None:
        raw["encoder"] = {"kwargs": enc_kwargs or {}, "state_dict": encoder.state_dict()}
    buf = io.BytesIO()
    torch.save(raw, buf)
    Path(path).write_bytes(buf.getvalue())
    return hashlib.sha256(buf.getvalue()).hexdigest()


def load_stylegan_weights(path: str | Path, expected_sha256: str | None = None
                          ) -> tuple[Generator, Encoder | None, str]:
    """A user's weights file → (generator, encoder or None, sha256); the sha256 is logged so
    a result can name the weights it came from."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"{path}: StyleGAN2 weights file not found (none ship with fakescope)")
    data = path.read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    if expected_sha256 is not None and sha != expected_sha256:
        raise WeightsError(f"{path}: sha256 {sha} is not the expected {expected_sha256}")
    try:
        raw = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
        if raw.get("format") != WEIGHTS_FORMAT:
            raise ValueError(f"format {raw.get('format')!r}, expected {WEIGHTS_FORMAT!r}")
        gen = Generator(**raw["generator"]["kwargs"])
        gen.load_state_dict(raw["generator"]["state_dict"], strict=True)
        enc = None
        if "encoder" in raw:
            enc = Encoder(**raw["encoder"]["kwargs"])
            enc.load_state_dict(raw["encoder"]["state_dict"], strict=True)
    except Exception as exc:  # noqa: BLE001 - every failure means "not such a file"
        raise WeightsError(f"{path}: not a {WEIGHTS_FORMAT} weights file ({type(exc).__name__}: "
                           f"{exc})") from exc
    log.info("StyleGAN2 weights %s sha256 %s", path, sha)
    return gen.eval(), (enc.eval() if enc is not None else None), sha


def invert(generator: Generator, images: torch.Tensor, distance: nn.Module,
           encoder: Encoder | None = None, steps: int = 100, lr: float = 0.01,
           alpha: float = 1.0) -> tuple[torch.Tensor, list[float]]:
    """W+ codes of `images` (B, 3, R, R) in [-1, 1]: start from the encoder's code (or the
    mean w), then `steps` of Adam on L(w) = d(G(w), x) + alpha * MSE(G(w), x) (seed 000 §3.2).
    Returns the codes and the mean loss at each step (the first is the starting loss)."""
    for p in generator.parameters():
        p.requires_grad_(False)
    with torch.no_grad():
        if encoder is not None:
            w0 = encoder(images)
        else:
            w0 = generator.mean_w().expand(len(images), generator.num_ws, -1)
    w = w0.detach().clone().requires_grad_(True)
    opt = torch.optim.Adam([w], lr=lr)
    losses = []
    for _ in range(steps + 1):
        rec = generator.synthesis(w)
        loss = (distance(rec, images) + alpha * (rec - images).pow(2).mean((1, 2, 3))).mean()
        losses.append(float(loss.detach()))
        if len(losses) > steps:
            break
        opt.zero_grad()
        loss.backward()
        opt.step()
    return w.detach(), losses


@register_projector
class StyleGANProjector(Projector):
    """W+ code (num_ws x w_dim, flattened) of a face by inversion of a user's StyleGAN2.
    `fit` changes nothing (the generator and encoder are pretrained and frozen, as in the
    seed). The state names the weights file and its sha256; it is re-read from that path."""

    kind = "stylegan"

    def __init__(self, weights: str, steps: int = 100, lr: float = 0.01, alpha: float = 1.0,
                 expected_sha256: str | None = None) -> None:
        from fakescope.families.latentforensics.perceptual import PerceptualDistance

        self.weights, self.steps, self.lr, self.alpha = str(weights), steps, lr, alpha
        self.generator, self.encoder, self.sha256 = load_stylegan_weights(weights, expected_sha256)
        self.resolution = self.generator.resolution
        self.distance = PerceptualDistance()

    def fit(self, batches) -> StyleGANProjector:
        return self

    def _images(self, faces: np.ndarray) -> torch.Tensor:
        small = resize_faces(faces, self.resolution)
        return torch.from_numpy(np.ascontiguousarray(small)).permute(0, 3, 1, 2).float() / 127.5 - 1.0

    def codes(self, faces: np.ndarray) -> np.ndarray:
        """(N, num_ws, w_dim) W+ codes: what the per-channel study classifies."""
        w, _ = invert(self.generator, self._images(faces), self.distance, self.encoder,
                      self.steps, self.lr, self.alpha)
        return w.numpy()

    def transform(self, faces: np.ndarray) -> np.ndarray:
        return self.codes(faces).reshape(len(faces), -1)

    @torch.no_grad()
    def reconstruct(self, faces: np.ndarray) -> np.ndarray:
        w = torch.from_numpy(self.codes(faces))
        rec = ((self.generator.synthesis(w) + 1.0) / 2.0).permute(0, 2, 3, 1)
        return from_vectors(rec.reshape(len(faces), -1).numpy(), self.resolution)

    def state(self) -> dict[str, Any]:
        return {"kind": self.kind, "weights": self.weights, "weights_sha256": self.sha256,
                "steps": self.steps, "lr": self.lr, "alpha": self.alpha}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> StyleGANProjector:
        return cls(state["weights"], int(state["steps"]), float(state["lr"]), float(state["alpha"]),
                   expected_sha256=state["weights_sha256"])
