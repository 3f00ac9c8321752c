"""A small two-level VQ-VAE-2 (Razavi et al. 2019) and the `vqvae` projector over it.

As in the paper: a bottom encoder (x4 down), a top encoder (x2 further), a top codebook, the
top decoder's output joined to the bottom features before the bottom codebook, and a decoder
from both quantised maps; codebooks are updated by exponential moving averages (decay 0.99)
with a commitment cost of 0.25. Smaller than the paper's (64 px input, 64 channels, 128 codes
of 32 dimensions) so it trains on a CPU here. Seed 000 takes the code *indices* as the face's
code (its 512x10 notation): here 8x8 top + 16x16 bottom = 320 indices per 64 px face.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from fakescope.families.latentforensics.projectors import (
    Projector,
    from_vectors,
    register_projector,
    resize_faces,
)


class Quantize(nn.Module):
    """Nearest-code vector quantisation with EMA codebook updates (VQ-VAE-2 §3.1).

    Beyond the paper, two standard fixes against codebook collapse (measured here: with
    random codes a 64 px run used few codes and its loss did not fall): codes start as random
    encoder outputs of the first training batch, and a code that has gone unused (EMA count
    below `dead`) is moved onto a random encoder output of the current batch."""

    def __init__(self, dim: int, n_embed: int, decay: float = 0.99, eps: float = 1e-5) -> None:
        super().__init__()
        self.dim, self.n_embed, self.decay, self.eps = dim, n_embed, decay, eps
        embed = torch.randn(dim, n_embed)
        self.register_buffer("embed", embed)
        self.register_buffer("cluster_size", torch.zeros(n_embed))
        self.register_buffer("embed_avg", embed.clone())
        self.register_buffer("initialised", torch.tensor(False))
        self.dead = 1.0  # EMA count of vectors per batch

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """z (B, H, W, dim) → quantised (straight-through), commitment loss, indices (B, H, W)."""
        flat = z.reshape(-1, self.dim)
        if self.training:
            self._restart(flat)
        dist = flat.pow(2).sum(1, keepdim=True) - 2 * flat @ self.embed + self.embed.pow(2).sum(0, keepdim=True)
        ind = dist.argmin(1)
        onehot = F.one_hot(ind, self.n_embed).type(flat.dtype)
        ind = ind.view(*z.shape[:-1])
        q = F.embedding(ind, self.embed.t())
        if self.training:
            with torch.no_grad():
                self.cluster_size.mul_(self.decay).add_(onehot.sum(0), alpha=1 - self.decay)
                self.embed_avg.mul_(self.decay).add_(flat.t() @ onehot, alpha=1 - self.decay)
                n = self.cluster_size.sum()
                size = (self.cluster_size + self.eps) / (n + self.n_embed * self.eps) * n
                self.embed.copy_(self.embed_avg / size.unsqueeze(0))
        diff = (q.detach() - z).pow(2).mean()
        return z + (q - z).detach(), diff, ind

    @torch.no_grad()
    def _restart(self, flat: torch.Tensor) -> None:
        dead = torch.ones(self.n_embed, dtype=torch.bool) if not bool(self.initialised) \
            else self.cluster_size < self.dead
        n = int(dead.sum())
        if n == 0:
            return
        pick = flat[torch.randint(0, len(flat), (n,))].t()
        self.embed[:, dead] = pick
        self.embed_avg[:, dead] = pick
        self.cluster_size[dead] = 1.0
        self.initialised.fill_(True)

    def lookup(self, ind: torch.Tensor) -> torch.Tensor:
        return F.embedding(ind, self.embed.t())


class ResBlock(nn.Module):
    def __init__(self, ch: int, hidden: int) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.ReLU(), nn.Conv2d(ch, hidden, 3, padding=1), nn.ReLU(),
                                  nn.Conv2d(hidden, ch, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


def _encoder(cin: int, ch: int, stride: int) -> nn.Sequential:
    if stride == 4:
        layers = [nn.Conv2d(cin, ch // 2, 4, 2, 1), nn.ReLU(), nn.Conv2d(ch // 2, ch, 4, 2, 1),
                  nn.ReLU(), nn.Conv2d(ch, ch, 3, padding=1)]
    else:
        layers = [nn.Conv2d(cin, ch // 2, 4, 2, 1), nn.ReLU(), nn.Conv2d(ch // 2, ch, 3, padding=1)]
    return nn.Sequential(*layers, ResBlock(ch, ch // 2), ResBlock(ch, ch // 2), nn.ReLU())


def _decoder(cin: int, cout: int, ch: int, stride: int) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Conv2d(cin, ch, 3, padding=1), ResBlock(ch, ch // 2),
                               ResBlock(ch, ch // 2), nn.ReLU()]
    if stride == 4:
        layers += [nn.ConvTranspose2d(ch, ch // 2, 4, 2, 1), nn.ReLU(),
                   nn.ConvTranspose2d(ch // 2, cout, 4, 2, 1)]
    else:
        layers += [nn.ConvTranspose2d(ch, cout, 4, 2, 1)]
    return nn.Sequential(*layers)


class VQVAE2(nn.Module):
    """Two-level VQ-VAE-2; inputs in [-1, 1], side divisible by 8."""

    def __init__(self, channels: int = 64, embed_dim: int = 32, n_embed: int = 128) -> None:
        super().__init__()
        self.enc_b = _encoder(3, channels, 4)
        self.enc_t = _encoder(channels, channels, 2)
        self.pre_t = nn.Conv2d(channels, embed_dim, 1)
        self.q_t = Quantize(embed_dim, n_embed)
        self.dec_t = _decoder(embed_dim, embed_dim, channels, 2)
        self.pre_b = nn.Conv2d(embed_dim + channels, embed_dim, 1)
        self.q_b = Quantize(embed_dim, n_embed)
        self.up_t = nn.ConvTranspose2d(embed_dim, embed_dim, 4, 2, 1)
        self.dec = _decoder(2 * embed_dim, 3, channels, 4)

    def encode(self, x: torch.Tensor):
        h_b = self.enc_b(x)
        h_t = self.enc_t(h_b)
        q_t, d_t, i_t = self.q_t(self.pre_t(h_t).permute(0, 2, 3, 1))
        q_t = q_t.permute(0, 3, 1, 2)
        h_b = torch.cat([self.dec_t(q_t), h_b], 1)
        q_b, d_b, i_b = self.q_b(self.pre_b(h_b).permute(0, 2, 3, 1))
        return q_t, q_b.permute(0, 3, 1, 2), d_t + d_b, i_t, i_b

    def decode(self, q_t: torch.Tensor, q_b: torch.Tensor) -> torch.Tensor:
        return self.dec(torch.cat([self.up_t(q_t), q_b], 1))

    def decode_codes(self, i_t: torch.Tensor, i_b: torch.Tensor) -> torch.Tensor:
        q_t = self.q_t.lookup(i_t).permute(0, 3, 1, 2)
        q_b = self.q_b.lookup(i_b).permute(0, 3, 1, 2)
        return self.decode(q_t, q_b)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        q_t, q_b, diff, _, _ = self.encode(x)
        return self.decode(q_t, q_b), diff


COMMITMENT = 0.25  # VQ-VAE-2's beta


def _to_tensor(faces: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(faces)).permute(0, 3, 1, 2).float() / 127.5 - 1.0


@register_projector
class VQVAEProjector(Projector):
    """Codebook indices of a VQ-VAE-2 trained here on real faces (Adam, MSE + 0.25 x
    commitment). `epochs`/`batch_size`/`lr` set the training; CPU by default."""

    kind = "vqvae"

    def __init__(self, resolution: int = 64, channels: int = 64, embed_dim: int = 32,
                 n_embed: int = 128, epochs: int = 6, batch_size: int = 64, lr: float = 1e-3,
                 seed: int = 0) -> None:
        if resolution % 8:
            raise ValueError(f"resolution must be a multiple of 8, got {resolution}")
        self.resolution, self.epochs, self.batch_size, self.lr, self.seed = \
            resolution, epochs, batch_size, lr, seed
        self.config = {"channels": channels, "embed_dim": embed_dim, "n_embed": n_embed}
        torch.manual_seed(seed)
        self.model = VQVAE2(**self.config).eval()
        self.losses: list[float] = []  # mean training loss per epoch

    def fit(self, batches: Iterable[np.ndarray]) -> VQVAEProjector:
        data = _to_tensor(np.concatenate([resize_faces(b, self.resolution) for b in batches]))
        gen = torch.Generator().manual_seed(self.seed)
        opt = torch.optim.Adam(self.model.parameters(), lr=self.lr)
        self.model.train()
        for _ in range(self.epochs):
            order = torch.randperm(len(data), generator=gen)
            total = 0.0
            for i in range(0, len(data), self.batch_size):
                x = data[order[i : i + self.batch_size]]
                rec, diff = self.model(x)
                loss = F.mse_loss(rec, x) + COMMITMENT * diff
                opt.zero_grad()
                loss.backward()
                opt.step()
                total += float(loss.detach()) * len(x)
            self.losses.append(total / len(data))
        self.model.eval()
        return self

    @torch.inference_mode()
    def _encode(self, faces: np.ndarray):
        return self.model.encode(_to_tensor(resize_faces(faces, self.resolution)))

    def transform(self, faces: np.ndarray) -> np.ndarray:
        _, _, _, i_t, i_b = self._encode(faces)
        return torch.cat([i_t.flatten(1), i_b.flatten(1)], 1).float().numpy()

    @torch.inference_mode()
    def reconstruct(self, faces: np.ndarray) -> np.ndarray:
        q_t, q_b, _, _, _ = self._encode(faces)
        rec = (self.model.decode(q_t, q_b) + 1.0) / 2.0
        return from_vectors(rec.permute(0, 2, 3, 1).reshape(len(faces), -1).numpy(), self.resolution)

    def state(self) -> dict[str, Any]:
        return {"kind": self.kind, "resolution": self.resolution, **self.config,
                "losses": list(self.losses),
                "weights": {k: v.numpy() for k, v in self.model.state_dict().items()}}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> VQVAEProjector:
        p = cls(int(state["resolution"]), int(state["channels"]), int(state["embed_dim"]),
                int(state["n_embed"]))
        p.model.load_state_dict({k: torch.from_numpy(np.asarray(v)) for k, v in state["weights"].items()})
        p.losses = [float(x) for x in state.get("losses", [])]
        return p.eval_mode()

    def eval_mode(self) -> VQVAEProjector:
        self.model.eval()
        return self
