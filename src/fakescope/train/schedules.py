"""Optimiser, parameter groups and learning-rate / augmentation schedules.

* Per-block learning rates (seed 003): the network is cut into blocks from input to output
  (stem, each feature stage, head); the head trains at the base rate and each block further
  upstream at `layer_decay` times the one after it, so early, generic layers move less.
* Schedules: SGDR cosine annealing with warm restarts stepped per batch in fractional epochs
  (seed 004: T0 = 10 epochs, doubling, eta_min = lr/100), one-cycle (per batch), and
  reduce-on-plateau on the validation loss (per epoch). All scale every group's own rate, so
  the per-block ratios hold throughout.
* Progressive learning (seed 002 §3.3): augmentation strength rises linearly over epochs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.optim import lr_scheduler

from fakescope.train.config import (
    AugmentConfig,
    OptimConfig,
    ProgressiveConfig,
    ScheduleConfig,
)

_NORM_TYPES = (nn.modules.batchnorm._BatchNorm, nn.GroupNorm, nn.LayerNorm, nn.InstanceNorm2d)


def model_blocks(model: nn.Module) -> list[tuple[str, list[nn.Parameter]]]:
    """The parameters cut into blocks, ordered input → output.

    A model with an ``lr_blocks()`` method gives its own blocks (name, parameters), input →
    output. Models with a ``stem`` and a ``features`` Sequential (FakeBuster) give the stem, each
    feature stage, then everything else (the head) as one block; any other model gives its
    top-level children in registration order. Parameters registered on the model itself go
    with the last block. Blocks without parameters (pooling) are left out.
    """
    if hasattr(model, "lr_blocks"):  # the model cuts itself (e.g. a two-branch network)
        return [(n, list(ps)) for n, ps in model.lr_blocks() if list(ps)]
    children = dict(model.named_children())
    if "stem" in children and isinstance(children.get("features"), nn.Sequential):
        parts = [("stem", children["stem"])]
        parts += [(f"features.{n}", m) for n, m in children["features"].named_children()]
        parts += [("head", m) for n, m in children.items() if n not in ("stem", "features")]
    else:
        parts = list(children.items())
    blocks: dict[str, list[nn.Parameter]] = {}
    for name, module in parts:
        blocks.setdefault(name, []).extend(module.parameters())
    out = [(n, ps) for n, ps in blocks.items() if ps]
    own = list(model.parameters(recurse=False))
    if own:
        if out:
            out[-1][1].extend(own)
        else:
            out.append(("model", own))
    return out


def _no_decay_ids(model: nn.Module) -> set[int]:
    ids: set[int] = set()
    for module in model.modules():
        for name, p in module.named_parameters(recurse=False):
            if isinstance(module, _NORM_TYPES) or name == "bias" or p.ndim <= 1:
                ids.add(id(p))
    return ids


def param_groups(model: nn.Module, cfg: OptimConfig) -> list[dict]:
    """Optimizer parameter groups: one per (block, decay / no-decay), each with its own lr."""
    blocks = model_blocks(model)
    no_decay = _no_decay_ids(model) if cfg.no_decay_norm_bias else set()
    seen: set[int] = set()
    groups: list[dict] = []
    # Blocks a model names in `full_lr_blocks` train at the base rate and do not count in
    # the depth (seed 003: the Deep LoG branch and the fusion, new layers that must adapt).
    full = set(getattr(model, "full_lr_blocks", ()))
    decayed = [name for name, _ in blocks if name not in full]
    for name, params in blocks:
        scale = 1.0 if name in full else cfg.layer_decay ** (len(decayed) - 1 - decayed.index(name))
        decay, plain = [], []
        for p in params:
            if not p.requires_grad or id(p) in seen:
                continue
            seen.add(id(p))
            (plain if id(p) in no_decay else decay).append(p)
        for params, wd, tag in ((decay, cfg.weight_decay, ""), (plain, 0.0, ".no_decay")):
            if params:
                groups.append(
                    {"params": params, "lr": cfg.lr * scale, "weight_decay": wd,
                     "name": f"{name}{tag}", "lr_scale": scale}
                )
    missing = [n for n, p in model.named_parameters() if p.requires_grad and id(p) not in seen]
    if missing:  # cannot happen with model_blocks, but never silently freeze parameters
        raise RuntimeError(f"parameters not assigned to any group: {missing[:5]}")
    return groups


def build_optimizer(model: nn.Module, cfg: OptimConfig) -> torch.optim.Optimizer:
    groups = param_groups(model, cfg)
    if cfg.name == "adamw":
        return torch.optim.AdamW(groups, lr=cfg.lr, betas=tuple(cfg.betas))
    if cfg.name == "adam":  # seed 003: Adam, weight decay as an L2 term
        return torch.optim.Adam(groups, lr=cfg.lr, betas=tuple(cfg.betas))
    if cfg.name == "sgd":
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov)
    raise ValueError(f"unknown optimizer {cfg.name!r}")


class LRSchedule:
    """One interface over the three schedulers: `after_batch()` after every optimiser
    step, `after_epoch(val_loss)` after validation. State round-trips through checkpoints."""

    def __init__(self, optimizer: torch.optim.Optimizer, cfg: ScheduleConfig, epochs: int,
                 steps_per_epoch: int) -> None:
        self.name = cfg.name
        self.steps_per_epoch = max(1, steps_per_epoch)
        self.scheduler: object | None
        base = [g["lr"] for g in optimizer.param_groups]
        if cfg.name == "cosine_restarts":
            spe, t0, mult, ratio = self.steps_per_epoch, cfg.t0_epochs, cfg.t_mult, cfg.eta_min_ratio
            self.scheduler = lr_scheduler.LambdaLR(
                optimizer, lambda step: sgdr_factor(step / spe, t0, mult, ratio)
            )
        elif cfg.name == "onecycle":
            self.scheduler = lr_scheduler.OneCycleLR(
                optimizer, max_lr=base, total_steps=epochs * self.steps_per_epoch,
                pct_start=cfg.pct_start, div_factor=cfg.div_factor,
                final_div_factor=cfg.final_div_factor,
                cycle_momentum=isinstance(optimizer, torch.optim.SGD),
            )
        elif cfg.name == "plateau":
            self.scheduler = lr_scheduler.ReduceLROnPlateau(
                optimizer, mode="min", factor=cfg.factor, patience=cfg.patience
            )
        elif cfg.name == "constant":
            self.scheduler = None
        else:
            raise ValueError(f"unknown schedule {cfg.name!r}")

    def after_batch(self) -> None:
        if self.name == "onecycle" and self.scheduler.last_epoch >= self.scheduler.total_steps - 1:
            return  # the cycle is over (the last step ran at the floor); stepping on would wrap
        if self.name in ("cosine_restarts", "onecycle"):
            self.scheduler.step()

    def after_epoch(self, val_loss: float) -> None:
        if self.name == "plateau":
            self.scheduler.step(val_loss)

    def state_dict(self) -> dict:
        return {} if self.scheduler is None else self.scheduler.state_dict()

    def load_state_dict(self, state: dict) -> None:
        if self.scheduler is not None:
            self.scheduler.load_state_dict(state)


def sgdr_factor(epoch: float, t0: float, t_mult: int, eta_min_ratio: float) -> float:
    """SGDR (Loshchilov & Hutter) multiplier of a group's base rate at fractional `epoch`:
    cosine from 1 down to `eta_min_ratio` over cycles of t0, t0*t_mult, t0*t_mult^2, ... epochs.

    Applied per group through LambdaLR, so the floor is a fraction of *each group's* rate
    (seed 004 defines the range as [lr/100, lr]); torch's CosineAnnealingWarmRestarts takes one
    absolute eta_min for all groups, which would flatten the per-block rates.
    """
    if t_mult == 1:
        t_cur, t_i = epoch % t0, t0
    else:
        n = int(math.log(epoch / t0 * (t_mult - 1) + 1, t_mult)) if epoch >= t0 else 0
        start = t0 * (t_mult**n - 1) / (t_mult - 1)
        t_cur, t_i = epoch - start, t0 * t_mult**n
        if t_cur >= t_i:  # floating-point edge at a restart
            t_cur, t_i = t_cur - t_i, t_i * t_mult
        elif t_cur < 0:
            t_i = t_i / t_mult
            t_cur = t_cur + t_i
    return eta_min_ratio + (1.0 - eta_min_ratio) * 0.5 * (1.0 + math.cos(math.pi * t_cur / t_i))


@dataclass(frozen=True)
class AugmentSchedule:
    """Augmentation strength per epoch; constant unless progressive learning is on."""

    augment: AugmentConfig
    progressive: ProgressiveConfig
    epochs: int

    def strength(self, epoch: int) -> float | None:
        """Strength in [0, 1] for `epoch` (0-based), or None when augmentation is off."""
        if not self.augment.enabled:
            return None
        if not self.progressive.enabled:
            return self.augment.strength
        t = epoch / (self.epochs - 1) if self.epochs > 1 else 1.0
        return self.progressive.start + (self.progressive.end - self.progressive.start) * t


def warm_restarts(optimizer: torch.optim.Optimizer, t0_epochs: int = 10, t_mult: int = 2,
                  eta_min_ratio: float = 0.01) -> lr_scheduler.CosineAnnealingWarmRestarts:
    """torch's SGDR scheduler (seed 004: T0 = 10 epochs, doubling, eta_min = lr/100) for an
    optimiser whose groups share one base rate (a head trained on cached features); step it
    with fractional epochs, ``sched.step(epoch + i / batches)``. Restarts fall at epochs
    t0, t0·(1 + t_mult), ... (10, 30, 70 with the defaults)."""
    base = {g["lr"] for g in optimizer.param_groups}
    if len(base) != 1:
        raise ValueError("warm_restarts: groups with different rates; use LRSchedule "
                         "(cosine_restarts), which keeps each group's own floor")
    return lr_scheduler.CosineAnnealingWarmRestarts(optimizer, T_0=int(t0_epochs), T_mult=int(t_mult),
                                                    eta_min=base.pop() * eta_min_ratio)


class EarlyStopping:
    """Stop when the monitored value (validation loss: lower is better) has not improved by
    more than `min_delta` for `patience` epochs in a row (seed 004: patience 12).
    ``step(value)`` → True when training should stop; `best`, `best_epoch`, `improved`."""

    def __init__(self, patience: int = 12, min_delta: float = 0.0) -> None:
        if patience < 1:
            raise ValueError(f"patience must be >= 1, got {patience}")
        self.patience, self.min_delta = int(patience), float(min_delta)
        self.best: float = math.inf
        self.best_epoch: int | None = None
        self.bad_epochs, self.epoch, self.improved = 0, 0, False

    def step(self, value: float) -> bool:
        self.epoch += 1
        self.improved = value < self.best - self.min_delta
        if self.improved:
            self.best, self.best_epoch, self.bad_epochs = float(value), self.epoch, 0
        else:
            self.bad_epochs += 1
        return self.bad_epochs >= self.patience
