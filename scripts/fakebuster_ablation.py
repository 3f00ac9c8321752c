"""Reproduce seed 002's ablation (Table 1) on the shared DFDC face crops and produce the
detector fakescope ships.

    .venv/bin/python scripts/fakebuster_ablation.py            # all steps, resumable
    .venv/bin/python scripts/fakebuster_ablation.py --epochs 5 --lanes 2

Each row adds one technique to the row above it. Training rows run `fakescope train` with
config overrides (two at a time, one thread each, on 2 cores); derived rows transform the
previous row's bundle (fp16 weights, BatchNorm folding) without training. Every row's bundle is
then scored on the identity-aware test split by `fakescope eval`, and the table is written to
docs/ablation.md. Re-running skips finished steps and resumes interrupted training.
The last row's bundle is the shipped detector (copied by scripts/ship_weights.py).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from fakescope.detectors.bundle import load_bundle, save_bundle
from fakescope.output.atomic import atomic_write_text
from fakescope.train.compression import fold_batchnorm, model_size
from fakescope.detectors.bundle import build_model

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "configs" / "fakebuster_dfdc.yaml"
SPLIT = REPO / "docs" / "splits" / "dfdc_faces_split.csv"
IMAGES = REPO.parent / "shared" / "data" / "dfdc_faces" / "faces_224"


@dataclass
class Step:
    key: str
    title: str
    overrides: list[str] = field(default_factory=list)
    after: list[str] = field(default_factory=list)  # steps whose bundles this one needs
    derive: str | None = None  # "half" or "fold": transform the bundle of after[0]


def steps(epochs: int) -> list[Step]:
    common = [
        f"epochs={epochs}", "schedule.name=onecycle", "early_stopping.enabled=false",
        "threads=1", "progressive.enabled=false", "mixup.enabled=false",
        "augment.strength=0.5",
    ]
    arch = lambda att, se: [f"model.kwargs={{expand: 2, use_attention: {att}, use_se: {se}}}"]
    full = common + arch("true", "true") + ["mixup.enabled=true", "progressive.enabled=true"]
    return [
        Step("01_baseline", "Baseline (inverted residual blocks + augmentation)",
             common + arch("false", "false")),
        Step("02_attention", "+ Self-Attention", common + arch("true", "false")),
        Step("03_se", "+ Squeeze-Excite", common + arch("true", "true")),
        Step("04_mixup", "+ Mixup", common + arch("true", "true") + ["mixup.enabled=true"]),
        Step("05_progressive", "+ Progressive Learning", full),
        Step("06_pruning", "+ Pruning (50 %, one-cycle, local L1)",
             full + ["pruning.enabled=true"]),
        Step("07_fp16", "+ Mixed precision (fp16 weights)", after=["06_pruning"], derive="half"),
        Step("08_kd", "+ Knowledge distillation (teacher: row 5)",
             full + ["pruning.enabled=true", "export.half=true"], after=["05_progressive"]),
        Step("09_bn_folding", "+ BatchNorm folding", after=["08_kd"], derive="fold"),
    ]


def run_dir(root: Path, step: Step) -> Path:
    return root / step.key


def bundle_path(root: Path, step: Step) -> Path:
    return run_dir(root, step) / "detector.pt"


def train_command(root: Path, step: Step, all_steps: dict[str, Step]) -> list[str]:
    out = run_dir(root, step)
    cmd = [sys.executable, "-m", "fakescope.cli.main", "train", str(CONFIG), "--out", str(out), "-q",
           "--set", f"data.table={SPLIT}", "--set", f"data.image_root={IMAGES}"]
    for o in step.overrides:
        cmd += ["--set", o]
    if step.after:
        cmd += ["--set", f"distill.teacher={bundle_path(root, all_steps[step.after[0]])}"]
    if (out / "checkpoints" / "last.pt").exists():
        cmd.append("--resume")
    return cmd


def derive(root: Path, step: Step, all_steps: dict[str, Step]) -> None:
    parent = load_bundle(bundle_path(root, all_steps[step.after[0]]))
    meta = parent.meta
    if step.derive == "half":
        state = {k: v.half() if v.is_floating_point() else v for k, v in parent.state_dict.items()}
    elif step.derive == "fold":
        model = fold_batchnorm(build_model(parent))
        half = any(v.dtype == torch.float16 for v in parent.state_dict.values())
        state = {k: (v.half() if half and v.is_floating_point() else v)
                 for k, v in model.state_dict().items()}
        meta.extra = {**meta.extra, "bn_folded": True}
    else:
        raise ValueError(step.derive)
    meta.extra = {**meta.extra, "derived_from": parent.sha256, "derivation": step.derive}
    run_dir(root, step).mkdir(parents=True, exist_ok=True)
    save_bundle(bundle_path(root, step), meta, state)


def evaluate(root: Path, step: Step) -> dict:
    out = run_dir(root, step) / "eval_test"
    report = out / "report.json"
    if not report.exists():
        subprocess.run(
            [sys.executable, "-m", "fakescope.cli.main", "eval", "--bundle", str(bundle_path(root, step)),
             "--data", str(SPLIT), "--image-root", str(IMAGES), "--split", "test",
             "--out", str(out), "--runtime", "torch", "--n-bootstrap", "1000", "-q"],
            check=True, env={**os.environ, "OMP_NUM_THREADS": "2"},
        )
    return json.loads(report.read_text())


def run_all(root: Path, epochs: int, lanes: int) -> list[Step]:
    todo = steps(epochs)
    by_key = {s.key: s for s in todo}
    done = {s.key for s in todo if bundle_path(root, s).exists()}
    running: dict[str, subprocess.Popen] = {}
    # The shipped model's chain (row 5 → row 8) first, so it is ready soonest.
    priority = ["05_progressive", "01_baseline", "08_kd", "02_attention"]
    pending = sorted((s for s in todo if s.key not in done),
                     key=lambda s: priority.index(s.key) if s.key in priority else len(priority))
    while pending or running:
        for key, proc in list(running.items()):
            if proc.poll() is not None:
                del running[key]
                if proc.returncode != 0:
                    raise SystemExit(f"step {key} failed (exit {proc.returncode}); "
                                     f"see {run_dir(root, by_key[key]) / 'train.log'}")
                done.add(key)
                print(f"[{time.strftime('%H:%M:%S')}] done {key}", flush=True)
        for step in list(pending):
            if not all(a in done for a in step.after):
                continue
            if step.derive:
                derive(root, step, by_key)
                done.add(step.key)
                pending.remove(step)
                print(f"[{time.strftime('%H:%M:%S')}] derived {step.key}", flush=True)
            elif len(running) < lanes:
                run_dir(root, step).mkdir(parents=True, exist_ok=True)
                log = (run_dir(root, step) / "train.log").open("a")
                env = {**os.environ, "OMP_NUM_THREADS": "1"}
                running[step.key] = subprocess.Popen(
                    train_command(root, step, by_key), stdout=log, stderr=subprocess.STDOUT, env=env)
                pending.remove(step)
                print(f"[{time.strftime('%H:%M:%S')}] started {step.key}", flush=True)
        time.sleep(5)
    return todo


def table(root: Path, todo: list[Step], epochs: int) -> str:
    lines = [
        "| step | accuracy | log loss | AUC (95 % CI) | bundle file | stored size | sparsity |",
        "|---|---|---|---|---|---|---|",
    ]
    for step in todo:
        rep = evaluate(root, step)
        level = rep["levels"]["frame"]
        frame, ci = level["metrics"], level["ci"].get("auc")
        bundle = load_bundle(bundle_path(root, step))
        size = model_size(bundle.state_dict)
        half = any(v.dtype == torch.float16 for v in bundle.state_dict.values())
        stored = size.sparse_fp16 if half else size.sparse_fp32
        auc = f"{frame['auc']:.3f}"
        if ci:
            auc += f" ({ci['low']:.3f}–{ci['high']:.3f})"
        lines.append(
            f"| {step.title} | {100 * frame['accuracy']:.2f} | {frame['log_loss']:.4f} | {auc} | "
            f"{bundle_path(root, step).stat().st_size / 1e6:.3f} MB | {stored / 1e6:.3f} MB | "
            f"{size.sparsity:.0%} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", type=Path, default=REPO / "runs" / "ablation")
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--lanes", type=int, default=2, help="trainings run at once")
    ap.add_argument("--table-only", action="store_true")
    args = ap.parse_args(argv)
    todo = steps(args.epochs) if args.table_only else run_all(args.root, args.epochs, args.lanes)
    md = table(args.root, todo, args.epochs)
    print(md)
    atomic_write_text(args.root / "table.md", md + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
