"""Compression of a trained or training network (seed 002 §3.4): One-Cycle pruning, knowledge
distillation for single-logit classifiers, BatchNorm folding, fp16, and honest size accounting.

Each piece is a plain function or a small stateful object a training loop calls; nothing here
knows about data, files or the trainer.
"""

from __future__ import annotations

import copy
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import prune

from fakescope.models.fold import fold_batchnorm  # noqa: F401  (re-exported: compression API)

# ---------------------------------------------------------------------------------------------
# One-Cycle Pruning
# ---------------------------------------------------------------------------------------------

log = logging.getLogger(__name__)

ONECYCLE_ALPHA = 14.0
ONECYCLE_BETA = 6.0


def onecycle_sparsity(pos: float, target: float, start: float = 0.0,
                      alpha: float = ONECYCLE_ALPHA, beta: float = ONECYCLE_BETA) -> float:
    """Sparsity at training progress `pos` in [0, 1] under the One-Cycle Pruning schedule
    (Hubens et al. 2021, arXiv 2107.02086), as implemented by fasterai's ``sched_onecycle``:

        s(t) = s_i + (s_f - s_i) * (1 + exp(-alpha + beta)) / (1 + exp(-alpha * t + beta))

    a logistic curve that is nearly flat at first (the net learns before losing weights),
    prunes fastest mid-training and levels off at exactly `target` at t = 1 so the last part of
    training fine-tunes the final mask. fasterai's defaults are alpha=14, beta=6; the Fake-Buster
    authors' own training script used beta=5 (a slightly earlier rise). With beta=6, s(0) is
    0.25 % of the target, not exactly 0 — that is the published function.
    """
    t = min(max(float(pos), 0.0), 1.0)
    out = (1.0 + math.exp(-alpha + beta)) / (1.0 + math.exp(-alpha * t + beta))
    return start + (target - start) * out


def prunable_layers(model: nn.Module, keep_first_last: bool = True) -> list[tuple[str, nn.Module]]:
    """The Conv2d / Linear modules whose ``weight`` gets pruned, in definition order.

    Biases and BatchNorm parameters are never pruned (few, and each controls a whole channel).
    With `keep_first_last` the first layer (it sees raw RGB; 432 weights in FakeBuster) and the
    last (the single-logit classifier; 96 weights) stay dense, common practice in sparse
    training (Gale et al. 2019; Evci et al. 2020): they hold ~0.2 % of the weights, so keeping
    them costs nothing in size and protects the input and the decision. Every other layer —
    including the small 1×1 convolutions of Squeeze-Excite and of the attention's query/key —
    is pruned at the same rate: seed 002 prunes "the same percentage of weight at each layer".
    """
    layers = [(n, m) for n, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    if keep_first_last and len(layers) > 2:
        layers = layers[1:-1]
    return layers


def _is_pruned(module: nn.Module) -> bool:
    return hasattr(module, "weight_mask") and hasattr(module, "weight_orig")


class OneCyclePruner:
    """Unstructured L1-magnitude pruning from the start of training on the One-Cycle schedule.

    Built on `torch.nn.utils.prune`: each layer's ``weight`` becomes ``weight_orig * weight_mask``
    (a forward pre-hook), so masked weights are zero in every forward pass and get zero
    gradient, whatever the optimizer does to ``weight_orig``. The optimizer keeps working on the
    same Parameter objects (prune re-registers them under ``weight_orig``), so it may be built
    before or after the pruner.

    Usage::

        pruner = OneCyclePruner(model, sparsity=0.5, total_steps=epochs * len(loader))
        for batch in loader: ...; optimizer.step(); pruner.step()
        pruner.finalize()          # prune.remove: plain, permanently sparse weights

    `total_steps` counts optimizer steps; after step k the mask matches
    ``onecycle_sparsity(k / total_steps)`` (held at the target after `total_steps`). A weight,
    once pruned, stays pruned (the mask only grows), so training never revives a weight whose
    value was frozen while masked. `local=True` gives every layer the same sparsity (seed 002);
    `local=False` ranks all prunable weights together (global magnitude pruning). `start` is
    the fraction of training before which nothing is pruned (fasterai's ``start_pct``).

    Resuming: build the model, then the pruner, then load the model's state dict (it holds
    ``*_orig`` and ``*_mask``), then `load_state_dict` here (step count; masks too).
    """

    def __init__(
        self,
        model: nn.Module,
        sparsity: float = 0.5,
        total_steps: int = 1,
        local: bool = True,
        start: float = 0.0,
        keep_first_last: bool = True,
        alpha: float = ONECYCLE_ALPHA,
        beta: float = ONECYCLE_BETA,
    ) -> None:
        if not 0.0 <= sparsity < 1.0:
            raise ValueError(f"sparsity must be in [0, 1), got {sparsity}")
        if total_steps < 1:
            raise ValueError(f"total_steps must be >= 1, got {total_steps}")
        if not 0.0 <= start < 1.0:
            raise ValueError(f"start must be in [0, 1), got {start}")
        self.model = model
        self.target = float(sparsity)
        self.total_steps = int(total_steps)
        self.local = local
        self.start = float(start)
        self.alpha, self.beta = float(alpha), float(beta)
        self.layers = prunable_layers(model, keep_first_last)
        if not self.layers:
            raise ValueError("model has no Conv2d/Linear layers to prune")
        self.steps_done = 0
        self.finalized = False
        for _, module in self.layers:
            if _is_pruned(module):
                raise ValueError("model already carries pruning masks; finalize them first")
            ones = torch.ones_like(module.weight, dtype=torch.bool)
            prune.custom_from_mask(module, "weight", ones)
        self._apply(self.scheduled_sparsity())

    # -- schedule ---------------------------------------------------------------------------
    def scheduled_sparsity(self, step: int | None = None) -> float:
        """The sparsity the schedule asks for after `step` optimizer steps (default: now)."""
        k = self.steps_done if step is None else step
        t = k / self.total_steps
        if t < self.start:
            return 0.0
        pos = (t - self.start) / (1.0 - self.start)
        return onecycle_sparsity(pos, self.target, alpha=self.alpha, beta=self.beta)

    def step(self) -> float:
        """Call once after each optimizer step; returns the sparsity now enforced."""
        if self.finalized:
            raise RuntimeError("pruner was finalized; masks can no longer change")
        self.steps_done += 1
        s = self.scheduled_sparsity()
        self._apply(s)
        return s

    # -- masks ------------------------------------------------------------------------------
    @torch.no_grad()
    def _apply(self, sparsity: float) -> None:
        """Recompute masks so each layer (local) or all layers (global) reach `sparsity`.

        Scores are |weight_orig|, with already-masked weights scored -inf so they are always
        among the removed ones (the mask only grows while the schedule rises).
        """
        scores = []
        for _, m in self.layers:
            s = m.weight_orig.detach().abs().float().flatten()
            s[~m.weight_mask.flatten().bool()] = -math.inf
            scores.append(s)
        if self.local:
            for (_, m), s in zip(self.layers, scores):
                self._set_mask(m, s, max(round(sparsity * s.numel()), int(s.isinf().sum())))
        else:
            flat = torch.cat(scores)
            k = max(round(sparsity * flat.numel()), int(flat.isinf().sum()))
            keep = torch.ones_like(flat, dtype=torch.bool)
            if k > 0:
                keep[torch.topk(flat, k, largest=False).indices] = False
            offset = 0
            for _, m in self.layers:
                n = m.weight_mask.numel()
                self._write_mask(m, keep[offset:offset + n])
                offset += n

    def _set_mask(self, module: nn.Module, scores: torch.Tensor, k: int) -> None:
        keep = torch.ones_like(scores, dtype=torch.bool)
        if k > 0:
            keep[torch.topk(scores, k, largest=False).indices] = False
        self._write_mask(module, keep)

    @staticmethod
    def _write_mask(module: nn.Module, keep: torch.Tensor) -> None:
        mask = module.weight_mask
        mask.copy_(keep.view_as(mask).to(mask.dtype))
        # Refresh the derived `weight` now (the pre-hook does it again at every forward).
        module.weight = module.weight_orig * mask

    # -- reporting --------------------------------------------------------------------------
    @torch.no_grad()
    def layer_sparsity(self) -> dict[str, float]:
        """Fraction of exactly-zero weights per pruned layer (works before and after finalize)."""
        out = {}
        for name, m in self.layers:
            w = m.weight_orig * m.weight_mask if _is_pruned(m) else m.weight
            out[name] = float((w == 0).sum()) / w.numel()
        return out

    @torch.no_grad()
    def sparsity(self) -> float:
        """Fraction of exactly-zero weights over all pruned layers together."""
        zeros = total = 0
        for _, m in self.layers:
            w = m.weight_orig * m.weight_mask if _is_pruned(m) else m.weight
            zeros += int((w == 0).sum())
            total += w.numel()
        return zeros / total

    def finalize(self, complete: bool = True) -> nn.Module:
        """Make the pruning permanent (`prune.remove`): plain ``weight`` tensors with zeros,
        no masks, no hooks. Returns the model.

        If training stopped before `total_steps` (early stopping, or a best checkpoint taken
        mid-schedule), the masks are below the target; with `complete` the remaining weights
        are pruned in one shot to reach it (with a warning: that last jump is not One-Cycle,
        so fine-tune briefly if it was large), so a model never ships less sparse than claimed.
        """
        if not self.finalized:
            if complete and self.steps_done < self.total_steps:
                log.warning("pruning stopped at step %d of %d (sparsity %.3f); pruning to the "
                            "target %.3f in one shot", self.steps_done, self.total_steps,
                            self.scheduled_sparsity(), self.target)
                self._apply(self.target)
            for _, m in self.layers:
                prune.remove(m, "weight")
            self.finalized = True
        return self.model

    # -- resume -----------------------------------------------------------------------------
    def state_dict(self) -> dict:
        return {
            "steps_done": self.steps_done,
            "target": self.target,
            "total_steps": self.total_steps,
            "local": self.local,
            "start": self.start,
            "alpha": self.alpha,
            "beta": self.beta,
            "layers": [n for n, _ in self.layers],
            "masks": {n: m.weight_mask.detach().bool().cpu().clone() for n, m in self.layers
                      if _is_pruned(m)},
            "finalized": self.finalized,
        }

    @torch.no_grad()
    def load_state_dict(self, state: Mapping) -> None:
        names = [n for n, _ in self.layers]
        if list(state["layers"]) != names:
            raise ValueError("pruner state was saved for different layers than this model's")
        if state.get("finalized") and not self.finalized:
            raise ValueError("pruner state is finalized; load the finalized model instead")
        self.steps_done = int(state["steps_done"])
        self.target, self.total_steps = float(state["target"]), int(state["total_steps"])
        self.local, self.start = bool(state["local"]), float(state["start"])
        self.alpha, self.beta = float(state["alpha"]), float(state["beta"])
        for name, m in self.layers:
            if name in state["masks"]:
                self._write_mask(m, state["masks"][name].to(m.weight_mask.device).flatten())


# ---------------------------------------------------------------------------------------------
# Knowledge distillation
# ---------------------------------------------------------------------------------------------


def distillation_loss(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    targets: torch.Tensor,
    temperature: float = 4.0,
    alpha: float = 0.5,
) -> torch.Tensor:
    """Hinton et al. (2015) distillation for a single-logit (Bernoulli) classifier.

        alpha * T² * BCE(sigmoid(s/T), sigmoid(t/T)) + (1 - alpha) * BCE(sigmoid(s), y)

    The soft term is the binary cross-entropy of the student's tempered probability against the
    teacher's; it differs from KL(teacher || student) only by the teacher's entropy, a constant
    for the student, so the gradients are those of the KL form. T² keeps the soft gradients'
    scale independent of T (Hinton §2). `targets` may be soft (Mixup). The teacher is detached.
    """
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    student_logits = student_logits.float()
    targets = targets.to(student_logits.dtype)
    hard = F.binary_cross_entropy_with_logits(student_logits, targets)
    if alpha == 0.0:
        return hard
    soft_targets = torch.sigmoid(teacher_logits.detach().float() / temperature)
    soft = F.binary_cross_entropy_with_logits(student_logits / temperature, soft_targets)
    return alpha * temperature**2 * soft + (1.0 - alpha) * hard


# ---------------------------------------------------------------------------------------------
# BatchNorm folding, fp16
# ---------------------------------------------------------------------------------------------


def to_half(model: nn.Module) -> nn.Module:
    """An fp16 copy of `model` (seed 002 stores its mixed-precision model in FP16). For CUDA
    inference; on CPU keep fp32 for speed and use the fp16 copy only for storage."""
    return copy.deepcopy(model).half()


# ---------------------------------------------------------------------------------------------
# Size accounting
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelSize:
    """Bytes needed to store a model's tensors under several encodings (see `model_size`)."""

    n_values: int  # floating-point values stored (parameters + float buffers)
    n_nonzero: int  # of which non-zero
    other_bytes: int  # non-float tensors (e.g. BatchNorm's int64 num_batches_tracked)
    dense_fp32: int
    dense_fp16: int
    sparse_fp32: int
    sparse_fp16: int

    @property
    def sparsity(self) -> float:
        return 1.0 - self.n_nonzero / self.n_values if self.n_values else 0.0


def _effective_state(obj: nn.Module | Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The tensors a finalized model would store: pruning pairs ``x_orig``/``x_mask`` are
    replaced by their product ``x`` (what `prune.remove` would leave)."""
    state = dict(obj.state_dict() if isinstance(obj, nn.Module) else obj)
    for key in [k for k in state if k.endswith("_orig")]:
        base = key[: -len("_orig")]
        if base + "_mask" in state:
            state[base] = state.pop(key) * state.pop(base + "_mask")
    return state


def _sparse_bytes(numel: int, nnz: int, value_bytes: int) -> int:
    """Cheapest of dense and bitmask-sparse storage for one tensor."""
    return min(numel * value_bytes, math.ceil(numel / 8) + nnz * value_bytes)


def model_size(obj: nn.Module | Mapping[str, torch.Tensor]) -> ModelSize:
    """Storage size of a model (or state dict) — the "model size" of the ablation table.

    Definition: every tensor of the state dict is counted (parameters *and* buffers such as
    BatchNorm running statistics, which inference needs), with no file-format overhead.
    - dense_*: every float value at 4 (fp32) or 2 (fp16) bytes.
    - sparse_*: per float tensor, the cheaper of dense and "bitmask + non-zeros": one bit per
      position saying whether it is non-zero (this is the index cost: 1/32 of a dense fp32
      tensor) plus the non-zero values. A 50 %-sparse fp32 tensor thus takes 53 % of its dense
      size, not 50 %: the indices are paid for. (COO with int32 indices would cost 100 % at
      50 % sparsity, so bitmask is the honest best case for unstructured sparsity.)
    - non-float tensors count at their own size in every variant (`other_bytes`).
    A model still carrying pruning masks is measured as if finalized (masks are not stored).
    """
    state = _effective_state(obj)
    n_values = n_nonzero = other = 0
    d32 = d16 = s32 = s16 = 0
    for t in state.values():
        if not isinstance(t, torch.Tensor):
            continue
        if not t.is_floating_point():
            other += t.numel() * t.element_size()
            continue
        numel, nnz = t.numel(), int(torch.count_nonzero(t))
        n_values += numel
        n_nonzero += nnz
        d32 += 4 * numel
        d16 += 2 * numel
        s32 += _sparse_bytes(numel, nnz, 4)
        s16 += _sparse_bytes(numel, nnz, 2)
    return ModelSize(n_values, n_nonzero, other, d32 + other, d16 + other, s32 + other, s16 + other)


def model_size_bytes(obj: nn.Module | Mapping[str, torch.Tensor], sparse: bool = False,
                     half: bool = False) -> int:
    """One number from `model_size`: dense or sparse storage, in fp32 or fp16."""
    s = model_size(obj)
    if sparse:
        return s.sparse_fp16 if half else s.sparse_fp32
    return s.dense_fp16 if half else s.dense_fp32

