"""Classifier inference speed: milliseconds per face crop, PyTorch vs ONNX Runtime, on CPU.

Measures the network alone (input already normalised, as `Detector.score_crops` feeds it);
face detection and decoding are not included. Default model: an untrained
``FakeBuster(expand=2)`` at input sizes 64 and 96 (speed does not depend on the weights);
``--bundle PATH`` measures a trained detector bundle at its own input size instead.

    python benchmarks/bench_inference.py                      # writes results/inference.md
    python benchmarks/bench_inference.py --bundle src/fakescope/weights/fakebuster_dfdc.pt

Each row: median over `--reps` timed calls after `--warmup` untimed ones, divided by the batch
size; p10–p90 of the per-call times shows the spread. The machine's load average is recorded
before and after: other processes on a small machine change the numbers.
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch

from fakescope.detectors.export import compare_onnx, export_onnx, onnx_session
from fakescope.families.fakebuster import FakeBuster
from fakescope.output.atomic import atomic_write_text
from fakescope.train.compression import fold_batchnorm

TARGET_MS = 3.0
DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "inference.md"


@dataclass
class Row:
    model: str
    size: int
    runtime: str
    batch: int
    ms_per_face: float
    p10_ms: float
    p90_ms: float
    cpu_ms_per_face: float  # process CPU time (all threads): robust to other processes
    max_abs_diff: float | None  # vs PyTorch logits


def timed(fn, warmup: int, reps: int) -> list[tuple[float, float]]:
    """(wall seconds, process CPU seconds) per call."""
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(reps):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        out.append((time.perf_counter() - t0, time.process_time() - c0))
    return out


def summarise(model: str, size: int, runtime: str, batch: int,
              times: list[tuple[float, float]], diff: float | None) -> Row:
    ms = np.asarray([w for w, _ in times]) * 1000.0 / batch
    cpu = np.asarray([c for _, c in times]) * 1000.0 / batch
    return Row(model, size, runtime, batch, float(statistics.median(ms)),
               float(np.percentile(ms, 10)), float(np.percentile(ms, 90)),
               float(statistics.median(cpu)), diff)


def bench_model(name: str, model: torch.nn.Module, size: int, batches: list[int], warmup: int,
                reps: int, threads: int, fp16_onnx: bool, workdir: Path) -> list[Row]:
    model = model.eval()
    has_bn = any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())
    folded = fold_batchnorm(model) if has_bn else None  # ONNX Runtime fuses BN by itself
    rows = []
    graphs = {"onnxruntime fp32": export_onnx(model, workdir / f"{size}.onnx", size)}
    if fp16_onnx:
        graphs["onnxruntime fp16"] = export_onnx(model, workdir / f"{size}_fp16.onnx", size,
                                                 half=True)
    sessions = {k: onnx_session(p, threads=threads) for k, p in graphs.items()}
    rng = np.random.default_rng(0)
    for batch in batches:
        x = rng.standard_normal((batch, 3, size, size)).astype(np.float32)
        xt = torch.from_numpy(x)

        def run_torch(xt=xt):
            with torch.inference_mode():
                model(xt)

        rows.append(summarise(name, size, "pytorch fp32", batch, timed(run_torch, warmup, reps),
                              None))
        if folded is not None:
            with torch.inference_mode():
                diff = float((folded(xt) - model(xt)).abs().max())

            def run_folded(xt=xt):
                with torch.inference_mode():
                    folded(xt)

            rows.append(summarise(name, size, "pytorch fp32, BN folded", batch,
                                  timed(run_folded, warmup, reps), diff))
        for label, session in sessions.items():
            diff = compare_onnx(model, graphs[label], x).logits
            feed = {session.get_inputs()[0].name: x}
            rows.append(summarise(name, size, label, batch,
                                  timed(lambda s=session, f=feed: s.run(None, f), warmup, reps),
                                  diff))
    return rows


def markdown(rows: list[Row], command: str, threads: int, load: tuple, extra: list[str]) -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    lines = [
        "# Inference speed: ms per face crop (classifier only, CPU)",
        "",
        "```",
        command,
        "```",
        "",
        f"- CPU: {cpu}; {os.cpu_count()} logical cores; threads used: {threads} "
        f"(torch.set_num_threads and ONNX Runtime intra-op)",
        f"- torch {torch.__version__}, onnxruntime {ort.__version__}, Python "
        f"{platform.python_version()}",
        f"- load average (1 min) before / after: {load[0]:.2f} / {load[1]:.2f} "
        "(other processes share this machine; numbers are noisier when it is above 0.5)",
        *extra,
        f"- target: ≤ {TARGET_MS:g} ms per face",
        "",
        "- ms/face: wall-clock; CPU ms/face: process CPU time over all threads. With one thread"
        " on a busy machine, CPU time is close to the wall time the same run takes on an idle"
        " core; with several threads it adds them up (plus spin-waiting).",
        "",
        "| model | input | runtime | batch | ms/face (median) | p10–p90 ms/face | "
        f"CPU ms/face | ≤ {TARGET_MS:g} ms (wall) | max abs diff vs PyTorch (logits) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        diff = "—" if r.max_abs_diff is None else f"{r.max_abs_diff:.1e}"
        ok = "yes" if r.ms_per_face <= TARGET_MS else "no"
        lines.append(f"| {r.model} | {r.size} | {r.runtime} | {r.batch} | {r.ms_per_face:.3f} | "
                     f"{r.p10_ms:.3f}–{r.p90_ms:.3f} | {r.cpu_ms_per_face:.3f} | {ok} | {diff} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bundle", type=Path, help="a trained detector bundle (.pt) to measure")
    p.add_argument("--sizes", type=int, nargs="+", default=[64, 96],
                   help="input sizes for the untrained model (ignored with --bundle)")
    p.add_argument("--expand", type=int, default=2, help="FakeBuster expansion (untrained model)")
    p.add_argument("--batches", type=int, nargs="+", default=[1, 32])
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--reps", type=int, default=30)
    p.add_argument("--threads", type=int, default=torch.get_num_threads())
    p.add_argument("--no-fp16-onnx", action="store_true", help="skip the fp16 ONNX rows")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = p.parse_args(argv)

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    extra = []
    if args.bundle is not None:
        from fakescope.detectors.bundle import load_bundle
        from fakescope.detectors.bundle import build_model

        bundle = load_bundle(args.bundle)
        models = [(f"bundle {args.bundle.name}", build_model(bundle), bundle.meta.input_size)]
        extra.append(f"- bundle: `{args.bundle}` sha256 {bundle.sha256}, model "
                     f"{bundle.meta.model_name} {bundle.meta.model_kwargs}")
    else:
        models = [(f"FakeBuster(expand={args.expand}), untrained", FakeBuster(expand=args.expand),
                   s) for s in args.sizes]
    load_before = os.getloadavg()[0]
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, (name, model, size) in enumerate(models):
            workdir = Path(tmp) / str(i)
            rows += bench_model(name, model, size, args.batches, args.warmup, args.reps,
                                args.threads, not args.no_fp16_onnx, workdir)
    command = "python " + " ".join(shlex.quote(a) for a in
                                   ["benchmarks/bench_inference.py", *(argv or sys.argv[1:])])
    text = markdown(rows, command, args.threads, (load_before, os.getloadavg()[0]), extra)
    atomic_write_text(args.out, text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
