"""Training losses chosen by the config (`loss.name`): what turns a batch into a loss and the
logits the trainer reports. Any model works with ``bce``; ``ce`` needs a two-class softmax
head (`families.effnet`); ``hypersphere`` needs a model with a
`models.hypersphere.HypersphereHead` as its ``hypersphere`` attribute."""

from __future__ import annotations

import logging

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from fakescope.train.config import ConfigError, LossConfig

log = logging.getLogger(__name__)


def hypersphere_loss(distance: torch.Tensor, fake: torch.Tensor, r_minus: float,
                     r_plus: float) -> torch.Tensor:
    """Seed 003 Eq. 2: mean over real units of max(0, d − r⁻) plus mean over fake units of
    max(0, r⁺ − d); a class absent from the batch adds nothing."""
    fake = fake.bool()
    loss = distance.new_zeros(())
    if (~fake).any():
        loss = loss + F.relu(distance[~fake] - r_minus).mean()
    if fake.any():
        loss = loss + F.relu(r_plus - distance[fake]).mean()
    return loss


class BCELoss:
    name = "bce"

    def __init__(self, cfg: LossConfig) -> None:
        self.cfg = cfg

    def prepare(self, model: nn.Module, batches, device) -> None:
        """Nothing to set up before training."""

    def __call__(self, net: nn.Module, model: nn.Module, x: torch.Tensor,
                 y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits = net(x)
        return F.binary_cross_entropy_with_logits(logits.float(), y), logits

    def from_logits(self, model: nn.Module, logits: torch.Tensor, y: torch.Tensor) -> float:
        return float(F.binary_cross_entropy_with_logits(logits.double(), y.double()))


class HypersphereLoss(BCELoss):
    name = "hypersphere"

    @staticmethod
    def head(model: nn.Module):
        head = getattr(model, "hypersphere", None)
        if head is None:
            raise ConfigError(f"loss hypersphere needs a model with a hypersphere head; "
                              f"{type(model).__name__} has none (model.kwargs head: hypersphere)")
        return head

    @torch.no_grad()
    def prepare(self, model: nn.Module, batches, device) -> None:
        """c = mean embedding of real training units under the network as it is now (before
        the first step: the untrained / ImageNet-initialised encoder, seed 003 §3.3)."""
        head = self.head(model)
        head.set_radii(self.cfg.r_minus, self.cfg.r_plus)
        was = model.training
        model.eval()
        total, n = None, 0
        for i, (x, y) in enumerate(batches):
            if i >= self.cfg.center_batches:
                break
            real = y < 0.5
            if not real.any():
                continue
            model(x[real].to(device))
            z = head.last_embedding.float().sum(0)
            total = z if total is None else total + z
            n += int(real.sum())
        model.train(was)
        if n == 0:
            raise ConfigError("loss hypersphere: no real unit in the training data to place "
                              "the centre")
        head.center.copy_(total / n)
        log.info("hypersphere centre from %d real units (|c| = %.4g)", n, float(head.center.norm()))

    def __call__(self, net, model, x, y):
        logits = net(x)
        d = self.head(model).last_distance
        return hypersphere_loss(d, y >= 0.5, self.cfg.r_minus, self.cfg.r_plus), logits

    def from_logits(self, model, logits, y) -> float:
        head = self.head(model)
        d = head.distance_of(logits.to(head.scale.device).float())
        return float(hypersphere_loss(d, y >= 0.5, self.cfg.r_minus, self.cfg.r_plus))

    @torch.no_grad()
    def calibrate(self, model: nn.Module, logits: np.ndarray, labels: np.ndarray) -> bool:
        """Platt scaling of the distance on validation: the head's logit becomes the fitted
        log-odds. False (and unchanged) when it cannot be fitted (one class, or a fit where
        a larger distance would mean less fake)."""
        from sklearn.linear_model import LogisticRegression

        head = self.head(model)
        if len(np.unique(labels)) < 2:
            return False
        d = head.distance_of(torch.as_tensor(logits).float().to(head.scale.device)).cpu().numpy()
        d = d.astype(np.float64)
        mu, sd = float(d.mean()), float(d.std())
        if not sd > 0:
            return False
        # fitted on the standardised distance (distances may all be within 1e-4 of each other)
        fit = LogisticRegression(C=1e4).fit(((d - mu) / sd).reshape(-1, 1), labels)
        a, b = float(fit.coef_[0, 0]) / sd, float(fit.intercept_[0]) - float(fit.coef_[0, 0]) * mu / sd
        if not a > 0:
            log.warning("distance does not rise with fakeness on validation (slope %.3g); "
                        "the logit map is left at the radii", a)
            return False
        head.scale.fill_(a)
        head.offset.fill_(-b / a)
        return True


class CrossEntropyLoss(BCELoss):
    """Softmax cross-entropy (log loss, seed 001) over a two-class head. The model must keep
    its (N, 2) [real, fake] logits of the last forward in ``last_class_logits`` and return
    their difference as its logit (`families.effnet.EffNetSoftmax`). Soft targets (mixup)
    become the class distribution [1 − y, y]. On the reported logit d = z_fake − z_real the
    two-class cross-entropy equals BCE on d, which is what validation computes."""

    name = "ce"

    @staticmethod
    def class_logits(model: nn.Module) -> torch.Tensor:
        z = getattr(model, "last_class_logits", None)
        if z is None or z.dim() != 2 or z.shape[1] != 2:
            raise ConfigError(f"loss ce needs a model with a two-class softmax head that keeps "
                              f"last_class_logits (N, 2); {type(model).__name__} has none "
                              "(model.name: effnet)")
        return z

    def __call__(self, net, model, x, y):
        logits = net(x)
        z = self.class_logits(model).float()
        target = torch.stack([1.0 - y.float(), y.float()], dim=1)
        return F.cross_entropy(z, target), logits

    def from_logits(self, model, logits, y) -> float:
        d = logits.double()
        z = torch.stack([torch.zeros_like(d), d], dim=1)
        target = torch.stack([1.0 - y.double(), y.double()], dim=1)
        return float(F.cross_entropy(z, target))


LOSSES = {"bce": BCELoss, "hypersphere": HypersphereLoss, "ce": CrossEntropyLoss}


def build_loss(cfg: LossConfig) -> BCELoss:
    return LOSSES[cfg.name](cfg)
