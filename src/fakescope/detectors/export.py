"""Export a face classifier to ONNX (for ONNX Runtime) or TorchScript, and check that the
exported graph computes what the PyTorch model computes.

The graph's input is ``input`` (N, 3, S, S) float32, normalised as the bundle says; its first
output is ``logits`` (N,), and, for a model with self-attention, its second output is
``attention`` (N, h, w), the map `FakeBuster.last_attention` holds — so a scan can run on ONNX
Runtime and still explain its scores. The batch dimension is dynamic.

ONNX export uses PyTorch's TorchScript-based exporter (``dynamo=False``): the torch.export-based
one needs the `onnxscript` package, which fakescope does not depend on. The model is deep-copied
before export, so exporting never changes its mode or weights.
"""

from __future__ import annotations

import copy
import io
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from fakescope.detectors.runtime import LOGITS_NAME, onnx_session  # noqa: F401  (re-exported)
from fakescope.output.atomic import atomic_write_bytes

INPUT_NAME = "input"
ATTENTION_NAME = "attention"
_JIT_DEPRECATED = r".*torch\.jit.*deprecated"


class _Exportable(nn.Module):
    """Wraps a classifier so its outputs are ``logits`` [, ``attention``], computed in fp32 or
    fp16 with fp32 input and output either way (callers never see the storage precision)."""

    def __init__(self, model: nn.Module, with_attention: bool, half: bool) -> None:
        super().__init__()
        self.model = model.half() if half else model
        self.with_attention = with_attention
        self.half = half

    def forward(self, x: torch.Tensor):
        logits = self.model(x.half() if self.half else x).float()
        if not self.with_attention:
            return logits
        return logits, self.model.last_attention.float()


def has_attention(model: nn.Module) -> bool:
    return getattr(model, "attention", None) is not None


def _wrap(model: nn.Module, with_attention: bool | None, half: bool = False) -> _Exportable:
    if with_attention is None:
        with_attention = has_attention(model)
    elif with_attention and not has_attention(model):
        raise ValueError(f"{type(model).__name__} has no attention module to export")
    return _Exportable(copy.deepcopy(model).cpu().float(), with_attention, half).eval()


def output_names(with_attention: bool) -> list[str]:
    return [LOGITS_NAME, ATTENTION_NAME] if with_attention else [LOGITS_NAME]


def export_onnx(
    model: nn.Module,
    path: str | Path,
    input_size: int,
    opset: int = 17,
    dynamic_batch: bool = True,
    with_attention: bool | None = None,
    half: bool = False,
    fp16_storage: bool = False,
    metadata: dict[str, str] | None = None,
) -> Path:
    """Write `model` as an ONNX graph to `path` (atomically) and validate it with
    `onnx.checker`. `with_attention=None` adds the attention output when the model has one.

    `half=True` stores weights and computes in fp16 (input and outputs stay fp32). ONNX
    Runtime's CPU provider runs it, but at fp32 speed or slower and with ~1e-4 logit error
    (benchmarks/results/inference.md): its only gain is a file half the size. Use fp32 on CPU.

    `fp16_storage=True` keeps the computation fp32 but stores every weight that fp16 holds
    exactly (all of them for a bundle saved in fp16) as fp16 behind a Cast, which ONNX
    Runtime folds away at load: half the file, the same scores. Constant folding is off then,
    since folding BatchNorm into the convolutions makes weights fp16 cannot hold.
    `metadata`: key/value strings stored in the graph (``metadata_props``); ONNX Runtime reads
    them back without the onnx package (`InferenceSession.get_modelmeta()`).
    """
    import onnx

    wrapped = _wrap(model, with_attention, half)
    names = output_names(wrapped.with_attention)
    example = torch.zeros(2, 3, input_size, input_size)
    axes = {n: {0: "batch"} for n in [INPUT_NAME, *names]} if dynamic_batch else None
    buf = io.BytesIO()
    with warnings.catch_warnings():
        # the TorchScript-based exporter is used on purpose (see module docstring)
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        torch.onnx.export(
            wrapped, (example,), buf, dynamo=False, opset_version=opset,
            input_names=[INPUT_NAME], output_names=names, dynamic_axes=axes,
            do_constant_folding=not fp16_storage,
        )
    graph = onnx.load_from_string(buf.getvalue())
    if fp16_storage:
        _store_weights_fp16(graph)
    for key, value in (metadata or {}).items():
        graph.metadata_props.add(key=key, value=value)
    data = graph.SerializeToString()
    onnx.checker.check_model(onnx.load_from_string(data), full_check=True)
    path = Path(path)
    atomic_write_bytes(path, data)
    return path


def _store_weights_fp16(graph) -> None:
    """fp32 initializers that fp16 represents exactly become fp16 initializers + Cast."""
    from onnx import TensorProto, helper, numpy_helper

    inits, casts = [], []
    for init in graph.graph.initializer:
        a = numpy_helper.to_array(init)
        if a.dtype == np.float32 and np.array_equal(a.astype(np.float16).astype(np.float32), a):
            half = numpy_helper.from_array(a.astype(np.float16), f"{init.name}__fp16")
            inits.append(half)
            casts.append(helper.make_node("Cast", [half.name], [init.name], to=TensorProto.FLOAT))
        else:
            inits.append(init)
    nodes = list(graph.graph.node)
    del graph.graph.initializer[:]
    graph.graph.initializer.extend(inits)
    del graph.graph.node[:]
    graph.graph.node.extend(casts + nodes)


def export_torchscript(
    model: nn.Module,
    path: str | Path,
    input_size: int,
    with_attention: bool | None = None,
) -> Path:
    """Write `model` traced to TorchScript (``torch.jit.load``-able without fakescope).

    TorchScript is deprecated in current PyTorch (2.14 warns on every call; silenced
    here) but is still what C++ / mobile runtimes load without Python; prefer ONNX otherwise.
    The trace records shape arithmetic, so any batch size works (checked on batch 1 while
    tracing on batch 2)."""
    wrapped = _wrap(model, with_attention)
    example = torch.randn(2, 3, input_size, input_size)
    buf = io.BytesIO()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_JIT_DEPRECATED, category=FutureWarning)
        traced = torch.jit.trace(wrapped, example, check_inputs=[(example[:1],)])
        torch.jit.save(traced, buf)
    path = Path(path)
    atomic_write_bytes(path, buf.getvalue())
    return path


@dataclass(frozen=True)
class Agreement:
    """Largest absolute difference between an exported graph and the PyTorch model."""

    logits: float
    attention: float | None  # None when the graph has no attention output

    @property
    def worst(self) -> float:
        return max(self.logits, self.attention or 0.0)


def _as_list(out) -> list[np.ndarray]:
    if isinstance(out, (tuple, list)):
        return [np.asarray(o.detach().cpu() if isinstance(o, torch.Tensor) else o) for o in out]
    return [np.asarray(out.detach().cpu() if isinstance(out, torch.Tensor) else out)]


@torch.no_grad()
def _reference(model: nn.Module, x: np.ndarray, with_attention: bool) -> list[np.ndarray]:
    wrapped = _wrap(model, with_attention)
    return _as_list(wrapped(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))))


def _agreement(ref: list[np.ndarray], got: list[np.ndarray]) -> Agreement:
    if len(got) != len(ref):
        raise ValueError(f"exported graph has {len(got)} outputs, the model {len(ref)}")
    diffs = []
    for r, g in zip(ref, got):
        if r.shape != g.shape:
            raise ValueError(f"output shape {g.shape} differs from PyTorch's {r.shape}")
        diffs.append(float(np.max(np.abs(r.astype(np.float64) - g.astype(np.float64)))))
    return Agreement(logits=diffs[0], attention=diffs[1] if len(diffs) > 1 else None)


def compare_onnx(model: nn.Module, onnx_path: str | Path, x: np.ndarray) -> Agreement:
    """Run `x` (N, 3, S, S) through ONNX Runtime and through `model`; max |difference| per
    output. The graph's outputs decide whether the attention is compared."""
    session = onnx_session(onnx_path)
    got = session.run(None, {INPUT_NAME: np.ascontiguousarray(x, dtype=np.float32)})
    with_attention = len(session.get_outputs()) > 1
    return _agreement(_reference(model, x, with_attention), [np.asarray(g) for g in got])


@torch.no_grad()
def compare_torchscript(model: nn.Module, ts_path: str | Path, x: np.ndarray) -> Agreement:
    """As `compare_onnx`, for a file written by `export_torchscript`."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_JIT_DEPRECATED, category=FutureWarning)
        scripted = torch.jit.load(str(ts_path), map_location="cpu")
    got = _as_list(scripted(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))))
    return _agreement(_reference(model, x, len(got) > 1), got)
