"""Mixup (Zhang et al. 2018; seeds 002 and 004): blend pairs of samples and their labels.

Only a fraction `prob` of batches is mixed (seed 004 mixes 70 %); the rest pass unchanged.
Labels become soft targets in [0, 1], which ``BCEWithLogitsLoss`` accepts as they are.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from scipy.special import betaincinv


@dataclass(frozen=True)
class MixupResult:
    x: torch.Tensor  # mixed inputs, same shape as the input batch
    y: torch.Tensor  # soft labels, float
    lam: float  # weight of the original order (1.0: batch left unmixed)
    perm: torch.Tensor | None  # partner index of each sample (None when unmixed)


def mixup_batch(
    x: torch.Tensor,
    y: torch.Tensor,
    alpha: float = 0.2,
    prob: float = 1.0,
    generator: torch.Generator | None = None,
) -> MixupResult:
    """Mix a batch with a shuffled copy of itself: ``x' = lam*x + (1-lam)*x[perm]``, same
    for `y`; ``lam ~ Beta(alpha, alpha)``, one per batch.

    Works for any input shape (N, ...) — images or sequences. `generator` (a CPU
    torch.Generator) makes the choice to mix, `lam` and the pairing reproducible; lam is drawn
    by inverting the Beta CDF at a uniform sample so one torch generator drives everything.
    """
    if alpha <= 0:
        raise ValueError(f"mixup alpha must be > 0, got {alpha}")
    if not 0.0 <= prob <= 1.0:
        raise ValueError(f"mixup prob must be in [0, 1], got {prob}")
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"batch sizes differ: x {tuple(x.shape)}, y {tuple(y.shape)}")
    if not x.is_floating_point():
        raise TypeError(f"mixup needs float inputs (normalised tensors), got {x.dtype}")
    y = y.float()
    u = torch.rand(2, generator=generator)
    if x.shape[0] < 2 or float(u[0]) >= prob:
        return MixupResult(x, y, 1.0, None)
    lam = float(betaincinv(alpha, alpha, float(u[1])))
    perm = torch.randperm(x.shape[0], generator=generator).to(x.device)
    xm = x.mul(lam).add_(x[perm], alpha=1.0 - lam)
    ym = y * lam + y[perm] * (1.0 - lam)
    return MixupResult(xm, ym, lam, perm)


@dataclass(frozen=True)
class StreamsMixup:
    xs: tuple[torch.Tensor, ...]  # each stream mixed with the same lam and pairing
    y: torch.Tensor
    lam: float
    perm: torch.Tensor | None


def mixup_streams(
    xs: tuple[torch.Tensor, ...] | list[torch.Tensor],
    y: torch.Tensor,
    alpha: float = 0.2,
    prob: float = 1.0,
    generator: torch.Generator | None = None,
) -> StreamsMixup:
    """Mixup of several input streams of one batch and its target (seed 004: content x, style
    y and target z): one draw of lam and of the pairing, applied to every stream and the
    target alike — ``x' = lam*x + (1-lam)*x[perm]`` for each."""
    xs = tuple(xs)
    if not xs:
        raise ValueError("mixup_streams needs at least one stream")
    n = xs[0].shape[0]
    if any(x.shape[0] != n for x in xs):
        raise ValueError(f"streams have different batch sizes: {[tuple(x.shape) for x in xs]}")
    first = mixup_batch(xs[0], y, alpha, prob, generator)
    if first.perm is None:
        return StreamsMixup(xs, first.y, 1.0, None)
    lam, perm = first.lam, first.perm
    rest = tuple(x.mul(lam).add(x[perm], alpha=1.0 - lam) for x in xs[1:])
    return StreamsMixup((first.x, *rest), first.y, lam, perm)
