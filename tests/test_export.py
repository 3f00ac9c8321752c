"""Export: ONNX and TorchScript graphs compute what the PyTorch model computes."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch
from torch import nn

from fakescope.detectors.export import (
    compare_onnx,
    compare_torchscript,
    export_onnx,
    export_torchscript,
)
from fakescope.families.fakebuster import FakeBuster
from fakescope.models import create_model
from fakescope.train.compression import OneCyclePruner, fold_batchnorm

SIZE = 64


def trained_like(model: nn.Module, seed: int = 0) -> nn.Module:
    """Random but non-trivial BatchNorm statistics and a live attention branch (γ ≠ 0), so the
    comparison covers every path a trained model uses."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            n = m.num_features
            m.running_mean.copy_(torch.rand(n, generator=g) - 0.5)
            m.running_var.copy_(torch.rand(n, generator=g) * 1.5 + 0.5)
            m.weight.data.copy_(torch.rand(n, generator=g) + 0.5)
    if getattr(model, "attention", None) is not None:
        model.attention.gamma.data.fill_(0.8)
    return model.eval()


def inputs(batch: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((batch, 3, SIZE, SIZE)).astype(np.float32)


@pytest.fixture(scope="module")
def model() -> nn.Module:
    torch.manual_seed(0)
    return trained_like(FakeBuster(expand=2))


@pytest.fixture(scope="module")
def onnx_path(model, tmp_path_factory):
    return export_onnx(model, tmp_path_factory.mktemp("onnx") / "fb.onnx", input_size=SIZE)


@pytest.mark.parametrize("batch", [1, 32])
def test_onnx_matches_pytorch(model, onnx_path, batch):
    agreement = compare_onnx(model, onnx_path, inputs(batch, seed=batch))
    assert agreement.logits < 1e-4
    assert agreement.attention is not None and agreement.attention < 1e-4


def test_onnx_graph_is_valid_with_dynamic_batch_and_both_outputs(onnx_path):
    graph = onnx.load(str(onnx_path))
    onnx.checker.check_model(graph)
    assert [o.name for o in graph.graph.output] == ["logits", "attention"]
    batch_dim = graph.graph.input[0].type.tensor_type.shape.dim[0]
    assert batch_dim.dim_param == "batch"  # symbolic, not a fixed size
    assert graph.opset_import[0].version == 17


def test_export_leaves_the_model_in_eval_mode(model, tmp_path):
    # The TorchScript-based exporter restores the *wrapper's* mode on exit; exporting a
    # freshly built wrapper used to flip the caller's model into training mode.
    assert not model.training
    export_onnx(model, tmp_path / "again.onnx", input_size=SIZE)
    assert not any(m.training for m in model.modules())


@pytest.mark.parametrize("batch", [1, 32])
def test_torchscript_matches_pytorch(model, tmp_path_factory, batch):
    path = tmp_path_factory.getbasetemp() / "fb_ts.pt"
    if not path.exists():
        export_torchscript(model, path, input_size=SIZE)
    agreement = compare_torchscript(model, path, inputs(batch, seed=10 + batch))
    assert agreement.logits < 1e-4
    assert agreement.attention < 1e-4


def test_baseline_exports_logits_only(tmp_path):
    torch.manual_seed(0)
    baseline = trained_like(create_model("fakebuster_baseline", expand=2))
    path = export_onnx(baseline, tmp_path / "base.onnx", input_size=SIZE)
    assert [o.name for o in onnx.load(str(path)).graph.output] == ["logits"]
    agreement = compare_onnx(baseline, path, inputs(4))
    assert agreement.attention is None and agreement.logits < 1e-4
    with pytest.raises(ValueError, match="no attention"):
        export_onnx(baseline, tmp_path / "x.onnx", input_size=SIZE, with_attention=True)


def test_compressed_model_exports_faithfully(tmp_path):
    """The shipping path: prune → finalize → fold BN → ONNX."""
    torch.manual_seed(0)
    m = FakeBuster(expand=2)
    pruner = OneCyclePruner(m, sparsity=0.5, total_steps=1)
    pruner.step()
    folded = fold_batchnorm(trained_like(pruner.finalize()))
    path = export_onnx(folded, tmp_path / "small.onnx", input_size=SIZE)
    assert compare_onnx(folded, path, inputs(8)).worst < 1e-4


def test_fp16_onnx_runs_on_cpu_and_is_close(model, onnx_path, tmp_path):
    path = export_onnx(model, tmp_path / "fb16.onnx", input_size=SIZE, half=True)
    assert path.stat().st_size < 0.6 * onnx_path.stat().st_size
    agreement = compare_onnx(model, path, inputs(8))
    assert agreement.logits < 5e-3  # fp16 rounding, not a broken graph
