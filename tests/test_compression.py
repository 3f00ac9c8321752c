"""Compression: One-Cycle pruning, distillation loss, BatchNorm folding, size accounting."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from fakescope.families.fakebuster import FakeBuster
from fakescope.train.compression import (
    OneCyclePruner,
    distillation_loss,
    fold_batchnorm,
    model_size,
    model_size_bytes,
    onecycle_sparsity,
    prunable_layers,
)


def small_model(seed: int = 0) -> FakeBuster:
    torch.manual_seed(seed)
    return FakeBuster(widths=(8, 16, 16, 24), stem_width=8, expand=2)


def randomise_bn(model: nn.Module, seed: int = 0) -> nn.Module:
    """Non-trivial BatchNorm statistics and a live attention branch, as after training."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            n = m.num_features
            m.running_mean.copy_(torch.rand(n, generator=g) - 0.5)
            m.running_var.copy_(torch.rand(n, generator=g) * 1.5 + 0.5)
            m.weight.data.copy_(torch.rand(n, generator=g) + 0.5)
            m.bias.data.copy_(torch.rand(n, generator=g) * 0.4 - 0.2)
    if getattr(model, "attention", None) is not None:
        model.attention.gamma.data.fill_(0.8)
    return model


def train_steps(model, pruner, optimizer, steps, check_masks=None):
    torch.manual_seed(1)
    for _ in range(steps):
        x, y = torch.randn(4, 3, 32, 32), torch.randint(0, 2, (4,)).float()
        loss = F.binary_cross_entropy_with_logits(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if check_masks is not None:
            check_masks()
        pruner.step()


# ---- schedule --------------------------------------------------------------------------------

def test_onecycle_schedule_is_monotone_from_about_zero_to_target():
    target = 0.5
    values = [onecycle_sparsity(t, target) for t in np.linspace(0, 1, 201)]
    assert all(b >= a for a, b in zip(values, values[1:]))
    assert 0 <= values[0] < 0.003 * target  # the published logistic starts at 0.25 % of target
    assert values[-1] == pytest.approx(target, abs=1e-12)
    # the published formula, alpha=14, beta=6, at mid-training: (1 + e^-8) / (1 + e^-1)
    assert onecycle_sparsity(0.5, 1.0) == pytest.approx((1 + math.exp(-8)) / (1 + math.exp(-1)))
    assert onecycle_sparsity(2.0, target) == pytest.approx(target)  # clipped past the end


def test_pruner_schedule_respects_start_and_steps():
    model = small_model()
    pruner = OneCyclePruner(model, sparsity=0.5, total_steps=10, start=0.3)
    assert pruner.scheduled_sparsity(0) == 0.0
    assert pruner.scheduled_sparsity(2) == 0.0
    assert 0.0 < pruner.scheduled_sparsity(4) < pruner.scheduled_sparsity(7) < 0.5
    assert pruner.scheduled_sparsity(10) == pytest.approx(0.5)
    assert pruner.scheduled_sparsity(25) == pytest.approx(0.5)
    assert pruner.sparsity() == 0.0


# ---- pruning ---------------------------------------------------------------------------------

def test_local_pruning_reaches_target_in_every_layer_and_masks_hold():
    model = small_model()
    total = 6
    pruner = OneCyclePruner(model, sparsity=0.5, total_steps=total, local=True)
    # AdamW's decoupled weight decay moves every weight_orig entry, masked or not: the mask
    # must still keep the effective weights at zero.
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.1)
    history = []

    moved = []

    def check_masks():  # right after optimizer.step(), before the masks are updated
        before = history[-1] if history else None
        with torch.no_grad():
            model(torch.randn(1, 3, 32, 32))  # the pre-hook rebuilds `weight` for this pass
        for name, m in pruner.layers:
            pruned = m.weight_mask == 0
            assert (m.weight[pruned] == 0).all(), name
            if before is not None and pruned.any():
                moved.append(bool((m.weight_orig[pruned] != before[name][1][pruned]).any()))
        history.append({n: (m.weight_mask.clone(), m.weight_orig.detach().clone())
                        for n, m in pruner.layers})

    train_steps(model, pruner, opt, total, check_masks)
    assert any(moved)  # the optimizer did change masked weight_orig entries: the check bites
    # the pruned set only grows
    for before, after in zip(history, history[1:]):
        for name in before:
            assert (after[name][0] <= before[name][0]).all()
    # at the end of the schedule every layer is at the target (up to rounding one weight)
    per_layer = pruner.layer_sparsity()
    for name, m in pruner.layers:
        n = m.weight_orig.numel()
        assert per_layer[name] == pytest.approx(round(0.5 * n) / n), name
    # the forward pass really uses the masked weights
    model.eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        y_masked = model(x)
    model = pruner.finalize()
    assert not any(hasattr(m, "weight_orig") for _, m in pruner.layers)
    assert pruner.sparsity() == pytest.approx(0.5, abs=0.01)
    with torch.no_grad():
        assert torch.allclose(model(x), y_masked, atol=1e-6)
    with pytest.raises(RuntimeError):
        pruner.step()


def test_first_and_last_layers_stay_dense_by_default():
    model = small_model()
    names = [n for n, _ in prunable_layers(model)]
    assert "stem.0.0" not in names and "head" not in names
    assert len(prunable_layers(model, keep_first_last=False)) == len(names) + 2
    OneCyclePruner(model, sparsity=0.5, total_steps=1).step()
    assert (model.stem[0][0].weight != 0).all()
    assert (model.head.weight != 0).all()


def test_global_pruning_reaches_target_overall():
    model = small_model()
    pruner = OneCyclePruner(model, sparsity=0.6, total_steps=3, local=False)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    train_steps(model, pruner, opt, 3)
    n = sum(m.weight_orig.numel() for _, m in pruner.layers)
    assert pruner.sparsity() == pytest.approx(round(0.6 * n) / n)
    rates = list(pruner.layer_sparsity().values())
    assert max(rates) - min(rates) > 0.05  # layers are not pruned uniformly


def test_pruner_resume_gives_the_same_masks():
    model = small_model()
    pruner = OneCyclePruner(model, sparsity=0.5, total_steps=8)
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    train_steps(model, pruner, opt, 3)
    saved_model, saved_pruner = model.state_dict(), pruner.state_dict()

    model2 = small_model(seed=123)  # different init: everything must come from the state
    pruner2 = OneCyclePruner(model2, sparsity=0.5, total_steps=8)
    model2.load_state_dict(saved_model)
    pruner2.load_state_dict(saved_pruner)
    assert pruner2.steps_done == 3
    for (_, a), (_, b) in zip(pruner.layers, pruner2.layers):
        assert torch.equal(a.weight_mask, b.weight_mask)
        assert torch.equal(a.weight, b.weight)
    assert pruner.step() == pruner2.step()
    for (_, a), (_, b) in zip(pruner.layers, pruner2.layers):
        assert torch.equal(a.weight_mask, b.weight_mask)


def test_pruner_rejects_bad_arguments():
    with pytest.raises(ValueError):
        OneCyclePruner(small_model(), sparsity=1.0, total_steps=5)
    with pytest.raises(ValueError):
        OneCyclePruner(small_model(), sparsity=0.5, total_steps=0)


# ---- distillation ----------------------------------------------------------------------------

def test_kd_with_alpha_zero_is_plain_bce():
    torch.manual_seed(0)
    s, t, y = torch.randn(16), torch.randn(16), torch.randint(0, 2, (16,)).float()
    expected = F.binary_cross_entropy_with_logits(s, y)
    assert torch.allclose(distillation_loss(s, t, y, temperature=4.0, alpha=0.0), expected)


def test_kd_mixes_soft_and_hard_terms():
    torch.manual_seed(0)
    s, t, y = torch.randn(16), torch.randn(16), torch.rand(16)  # soft (Mixup) targets
    T, a = 3.0, 0.7
    soft = F.binary_cross_entropy(torch.sigmoid(s / T), torch.sigmoid(t / T))
    hard = F.binary_cross_entropy(torch.sigmoid(s), y)
    assert torch.allclose(distillation_loss(s, t, y, T, a), a * T * T * soft + (1 - a) * hard,
                          atol=1e-6)


def test_kd_gradient():
    torch.manual_seed(0)
    T, n = 4.0, 8
    s = torch.randn(n, dtype=torch.float64, requires_grad=True)
    t = torch.randn(n, dtype=torch.float64, requires_grad=True)
    y = torch.randint(0, 2, (n,)).double()
    distillation_loss(s, t, y, temperature=T, alpha=1.0).backward()
    # d/ds [T² · mean BCE(σ(s/T), σ(t/T))] = T · (σ(s/T) − σ(t/T)) / n
    expected = T * (torch.sigmoid(s / T) - torch.sigmoid(t / T)) / n
    assert torch.allclose(s.grad.double(), expected.detach(), atol=1e-6)
    assert t.grad is None  # the teacher is never trained through the loss
    # a student that already matches its teacher gets no gradient from the soft term
    s2 = t.detach().clone().requires_grad_(True)
    distillation_loss(s2, t, y, temperature=T, alpha=1.0).backward()
    assert torch.allclose(s2.grad, torch.zeros(n, dtype=s2.grad.dtype), atol=1e-7)


# ---- BatchNorm folding -----------------------------------------------------------------------

def test_bn_folding_keeps_outputs_and_removes_every_batchnorm():
    model = randomise_bn(FakeBuster(expand=2)).eval()
    n_bn = sum(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    folded = fold_batchnorm(model)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in folded.modules())
    assert sum(isinstance(m, nn.BatchNorm2d) for m in model.modules()) == n_bn  # untouched
    x = torch.randn(4, 3, 64, 64)
    with torch.no_grad():
        ref, ref_att = model(x), model.last_attention
        out, out_att = folded(x), folded.last_attention
    assert torch.allclose(out, ref, atol=1e-5, rtol=0)
    assert torch.allclose(out_att, ref_att, atol=1e-6, rtol=0)


def test_bn_folding_after_pruning_keeps_the_zeros():
    model = small_model()
    pruner = OneCyclePruner(model, sparsity=0.5, total_steps=1)
    pruner.step()
    with pytest.raises(ValueError):
        fold_batchnorm(model)  # masks still attached
    model = randomise_bn(pruner.finalize()).eval()
    zeros_before = sum(int((m.weight == 0).sum()) for _, m in pruner.layers)
    folded = fold_batchnorm(model)
    zeros_after = sum(int((m.weight == 0).sum()) for m in folded.modules()
                      if isinstance(m, (nn.Conv2d, nn.Linear)))
    assert zeros_after >= zeros_before
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(folded(x), model(x), atol=1e-5, rtol=0)


# ---- size accounting -------------------------------------------------------------------------

def test_size_accounting_by_hand():
    w = torch.randn(1000)
    w[::2] = 0  # 50 % zeros
    state = {"w": w, "dense": torch.ones(10), "steps": torch.tensor(3)}  # int64 scalar: 8 B
    size = model_size(state)
    assert size.n_values == 1010 and size.n_nonzero == 510 and size.other_bytes == 8
    assert size.dense_fp32 == 4 * 1010 + 8
    assert size.dense_fp16 == 2 * 1010 + 8
    # bitmask (125 B) + 500 non-zeros; the all-non-zero tensor stays dense
    assert size.sparse_fp32 == (125 + 500 * 4) + 40 + 8
    assert size.sparse_fp16 == (125 + 500 * 2) + 20 + 8
    assert model_size_bytes(state) == size.dense_fp32
    assert model_size_bytes(state, sparse=True, half=True) == size.sparse_fp16


def test_size_of_pruned_model_counts_effective_weights_only():
    model = small_model()
    dense = model_size(model)
    pruner = OneCyclePruner(model, sparsity=0.5, total_steps=1)
    pruner.step()
    during = model_size(model)  # masks attached: measured as if finalized
    after = model_size(pruner.finalize())
    assert during == after
    assert after.dense_fp32 == dense.dense_fp32  # dense storage does not shrink with zeros
    assert after.sparse_fp32 < 0.6 * dense.dense_fp32


def test_bn_folding_size_saving_is_exact():
    model = FakeBuster(expand=2)
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    # each fold drops γ, β, μ, σ² (4c floats) and num_batches_tracked (int64), adds a c-bias
    saving = sum(3 * bn.num_features * 4 + 8 for bn in bns)
    assert model_size_bytes(model) - model_size_bytes(fold_batchnorm(model.eval())) == saving


def test_folded_fp16_state_dict_loads_into_a_freshly_folded_model():
    """How a compressed bundle is rebuilt: fold a fresh model (structure only), then load the
    stored (fp16, folded) weights strictly."""
    trained = randomise_bn(FakeBuster(expand=2)).eval()
    shipped = {k: v.half() if v.is_floating_point() else v
               for k, v in fold_batchnorm(trained).state_dict().items()}
    rebuilt = fold_batchnorm(FakeBuster(expand=2).eval())
    rebuilt.load_state_dict(shipped, strict=True)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(rebuilt(x), trained(x), atol=5e-3)  # fp16 rounding only


def test_finalize_before_the_end_of_the_schedule_still_reaches_the_target():
    model = small_model()
    pruner = OneCyclePruner(model, sparsity=0.5, total_steps=100)
    for _ in range(10):  # e.g. early stopping at 10 % of the planned steps
        pruner.step()
    assert pruner.sparsity() < 0.05
    pruner.finalize()
    assert pruner.sparsity() == pytest.approx(0.5, abs=0.01)
    model2 = small_model()
    pruner2 = OneCyclePruner(model2, sparsity=0.5, total_steps=100)
    pruner2.step()
    pruner2.finalize(complete=False)
    assert pruner2.sparsity() < 0.05
