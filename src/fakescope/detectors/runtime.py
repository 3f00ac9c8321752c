"""Running a detector's network with PyTorch or ONNX Runtime, and choosing between them.

``runtime="auto"`` on CPU measures both once per weights file (same batch, same inputs), keeps
the faster one only if its scores agree with PyTorch's, and caches the exported ONNX graph and
the measurement under a folder keyed by the weights' sha256, so later runs pay nothing.

This module imports torch only inside the functions that run or measure PyTorch: once the
cache says ONNX for this weights file (`cached_onnx_graph`), a scan loads the graph and the
bundle's metadata (``meta.json``) and never imports torch.
"""

from __future__ import annotations

import json
import logging
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from importlib import metadata
from typing import TYPE_CHECKING

import numpy as np

from fakescope.output.atomic import atomic_write_text

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

RUNTIMES = ("auto", "torch", "onnx")
AGREEMENT_TOL = 1e-4  # max |p_torch - p_onnx| accepted before ONNX may replace PyTorch


def cache_root() -> Path:
    """``$FAKESCOPE_CACHE_DIR``, else ``$XDG_CACHE_HOME/fakescope``, else ``~/.cache/fakescope``."""
    if os.environ.get("FAKESCOPE_CACHE_DIR"):
        return Path(os.environ["FAKESCOPE_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "fakescope"


LOGITS_NAME = "logits"  # the exported graph's score output


def sigmoid(x: np.ndarray) -> np.ndarray:
    """Logistic function without overflow (tanh form), float32."""
    x = np.asarray(x, dtype=np.float64)
    return (0.5 * (1.0 + np.tanh(0.5 * x))).astype(np.float32)


def onnx_session(path: str | Path, threads: int | None = None):
    """An ONNX Runtime CPU session with full graph optimisation."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if threads:
        opts.intra_op_num_threads = threads
    return ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "absent"


def thread_key() -> str:
    """What decides the thread count torch and ONNX Runtime would run with, readable without
    importing torch: the core count and the OpenMP / MKL variables."""
    env = ",".join(os.environ.get(k, "") for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"))
    return f"{os.cpu_count()}:{env}"


class TorchRunner:
    """Logits from an `nn.Module` in eval mode on `device` (CUDA gets AMP)."""

    name = "torch"

    def __init__(self, model: torch.nn.Module, device: torch.device) -> None:
        self.model = model.eval().to(device)
        self.device = device

    def __call__(self, x: np.ndarray) -> np.ndarray:
        import torch

        from fakescope.device import autocast

        with torch.inference_mode(), autocast(self.device):
            logits = self.model(torch.from_numpy(x).to(self.device))
        return logits.float().cpu().numpy()


class OnnxRunner:
    """Logits from an exported ONNX graph with ONNX Runtime's CPU provider."""

    name = "onnx"

    def __init__(self, onnx_path: str | Path | None = None, session=None) -> None:
        self.session = session if session is not None else onnx_session(onnx_path)
        self.input_name = self.session.get_inputs()[0].name
        self.output_names = [LOGITS_NAME]  # the graph may also output attention; not needed

    def __call__(self, x: np.ndarray) -> np.ndarray:
        out = self.session.run(self.output_names, {self.input_name: x})[0]
        return np.asarray(out, dtype=np.float32)


@dataclass
class RuntimeChoice:
    """The measurement behind an ``auto`` choice; cached as JSON next to the ONNX graph."""

    runtime: str
    torch_s: float  # median seconds per batch
    onnx_s: float | None
    max_abs_diff: float | None
    batch: int
    input_size: int
    threads: int
    torch_version: str
    onnxruntime_version: str
    thread_key: str = ""  # `thread_key()` when measured (older files: empty, never matches)

    def matches(self, batch: int, input_size: int) -> bool:
        """Still valid here: same batch and size, same torch and ONNX Runtime releases, same
        thread settings (read without importing torch when it is not loaded)."""
        import sys

        same_threads = self.thread_key == thread_key()
        if "torch" in sys.modules:
            same_threads = same_threads and self.threads == sys.modules["torch"].get_num_threads()
        return (
            self.batch == batch
            and self.input_size == input_size
            and same_threads
            and _version("torch") == _torch_dist_version(self.torch_version)
            and self.onnxruntime_version == _version("onnxruntime")
        )


def _torch_dist_version(torch_version: str) -> str:
    """``torch.__version__`` may carry a local build tag (``2.14.1+cu130``) the distribution
    metadata also carries; compare like with like."""
    return torch_version if "+" in _version("torch") else torch_version.split("+")[0]


CHOICE_FILE = "runtime.json"
META_FILE = "meta.json"
BATCH = 8  # the batch both runtimes are timed on


def cached_onnx_graph(cache_dir: Path, runtime: str, input_size: int) -> Path | None:
    """The cached ONNX graph to run for ``runtime`` ("onnx", or "auto" when the cached
    measurement chose ONNX and still applies here), or None: then the caller loads torch."""
    graph = cache_dir / "model.onnx"
    if runtime not in ("auto", "onnx") or not graph.is_file():
        return None
    if runtime == "onnx":
        return graph
    choice = read_choice(cache_dir / CHOICE_FILE)
    if choice is None or choice.runtime != "onnx" or not choice.matches(BATCH, input_size):
        return None
    return graph


def read_choice(path: Path) -> RuntimeChoice | None:
    if not path.is_file():
        return None
    try:
        return RuntimeChoice(**json.loads(path.read_text()))
    except (TypeError, ValueError, OSError):
        return None  # stale or foreign file: measure again


def onnx_graph(model: torch.nn.Module, input_size: int, cache_dir: Path) -> Path:
    """Export `model` once to ``cache_dir/model.onnx`` (reused while the file exists;
    written atomically, so a killed export never leaves a half graph to reuse)."""
    from fakescope.detectors.export import export_onnx

    path = cache_dir / "model.onnx"
    if not path.is_file():
        cache_dir.mkdir(parents=True, exist_ok=True)
        export_onnx(model, path, input_size=input_size)
    return path


def _median_time(fn: Callable[[np.ndarray], np.ndarray], x: np.ndarray, reps: int) -> float:
    fn(x)  # warm-up: allocations, lazy init
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn(x)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def measure_runtimes(
    torch_runner: TorchRunner,
    onnx_runner: OnnxRunner,
    input_size: int,
    batch: int = 8,
    reps: int = 3,
) -> RuntimeChoice:
    """Time both runners on the same random batch; ONNX wins only if faster *and* agreeing."""
    import onnxruntime as ort
    import torch

    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, 3, input_size, input_size), dtype=np.float32)
    diff = float(np.max(np.abs(sigmoid(torch_runner(x)) - sigmoid(onnx_runner(x)))))
    t_torch = _median_time(torch_runner, x, reps)
    t_onnx = _median_time(onnx_runner, x, reps)
    use_onnx = t_onnx < t_torch and diff <= AGREEMENT_TOL
    if diff > AGREEMENT_TOL:
        log.warning("ONNX graph disagrees with PyTorch by %.2g; using PyTorch", diff)
    return RuntimeChoice(
        runtime="onnx" if use_onnx else "torch",
        torch_s=t_torch,
        onnx_s=t_onnx,
        max_abs_diff=diff,
        batch=batch,
        input_size=input_size,
        threads=torch.get_num_threads(),
        torch_version=torch.__version__,
        onnxruntime_version=ort.__version__,
        thread_key=thread_key(),
    )


def _onnx_runner(model: torch.nn.Module, input_size: int, cache_dir: Path) -> OnnxRunner:
    """A runner on the cached graph; a cached file ONNX Runtime cannot load (a damaged or
    foreign file) is exported again once."""
    path = onnx_graph(model, input_size, cache_dir)
    try:
        return OnnxRunner(path)
    except Exception as exc:  # noqa: BLE001 - whatever the file is, a fresh export replaces it
        log.warning("cached ONNX graph %s unusable (%s: %s); exporting it again",
                    path, type(exc).__name__, exc)
        path.unlink(missing_ok=True)
        return OnnxRunner(onnx_graph(model, input_size, cache_dir))


def choose_runner(
    model: torch.nn.Module,
    device: torch.device,
    runtime: str,
    input_size: int,
    cache_dir: Path,
) -> tuple[TorchRunner | OnnxRunner, RuntimeChoice | None]:
    """The runner for `runtime`; for ``"auto"`` on CPU, the measured-faster one (cached)."""
    if runtime not in RUNTIMES:
        raise ValueError(f"runtime must be one of {RUNTIMES}, got {runtime!r}")
    if runtime == "onnx":
        if device.type != "cpu":
            raise ValueError(f"runtime 'onnx' runs on CPU only; use runtime 'torch' for {device}")
        return _onnx_runner(model, input_size, cache_dir), None
    torch_runner = TorchRunner(model, device)
    if runtime == "torch" or device.type != "cpu":
        return torch_runner, None

    choice_file = cache_dir / CHOICE_FILE
    choice = read_choice(choice_file)
    batch = BATCH
    try:
        if choice is None or not choice.matches(batch, input_size):
            onnx_runner = _onnx_runner(model, input_size, cache_dir)
            choice = measure_runtimes(torch_runner, onnx_runner, input_size, batch=batch)
            atomic_write_text(choice_file, json.dumps(asdict(choice), indent=2))
            log.info("runtime auto: %s", choice)
            return (onnx_runner if choice.runtime == "onnx" else torch_runner), choice
        if choice.runtime == "onnx":
            return _onnx_runner(model, input_size, cache_dir), choice
    except Exception as exc:  # noqa: BLE001 - "auto" may always fall back to the reference
        log.warning("runtime auto: ONNX unavailable (%s: %s); using PyTorch",
                    type(exc).__name__, exc)
    return torch_runner, choice
