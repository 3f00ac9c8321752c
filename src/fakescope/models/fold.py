"""BatchNorm folding: a pure transformation of an nn.Module, used by training (compression) and
by detectors (loading a folded bundle) alike, so it lives below both."""

from __future__ import annotations

import copy

from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval


def fold_batchnorm(model: nn.Module) -> nn.Module:
    """A copy of `model`, in eval mode, with every Conv2d → BatchNorm2d pair folded into the
    convolution and the BatchNorm replaced by `nn.Identity` (seed 002 §3.4):

        W_fold = γ W / sqrt(σ² + ε),   b_fold = γ (b − μ) / sqrt(σ² + ε) + β

    computed by `torch.nn.utils.fusion.fuse_conv_bn_eval`. Pairs are found as consecutive
    children of a container (how FakeBuster's conv-BN-ReLU units are built). Zeros from pruning
    stay zero (each output channel is only rescaled). Only valid for inference: the running
    statistics are baked in. The original model is left untouched.
    """
    for m in model.modules():
        if hasattr(m, "weight_orig"):  # a torch.nn.utils.prune re-parametrisation
            raise ValueError(
                "fold_batchnorm needs plain weights: call OneCyclePruner.finalize() first")
    folded = copy.deepcopy(model).eval()
    _fold_children(folded)
    return folded


def _fold_children(parent: nn.Module) -> None:
    names = list(parent._modules)
    for i, name in enumerate(names):
        child = parent._modules[name]
        if child is None:
            continue
        nxt = parent._modules[names[i + 1]] if i + 1 < len(names) else None
        if isinstance(child, nn.Conv2d) and isinstance(nxt, nn.BatchNorm2d) \
                and nxt.track_running_stats and nxt.running_mean is not None:
            parent._modules[name] = fuse_conv_bn_eval(child, nxt)
            parent._modules[names[i + 1]] = nn.Identity()
        else:
            _fold_children(child)
