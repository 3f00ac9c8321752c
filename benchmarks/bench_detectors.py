"""The detector comparison table: quality on the identity-disjoint DFDC test crops (from
`fakescope eval` reports), on the shared videos and DeepfakeTIMIT (from scripts/eval_videos.py),
and speed in ms per face at batch 1 and 32, measured here in the same run for every detector
and given as a ratio to the first one (the baseline).

    .venv/bin/python benchmarks/bench_detectors.py \
        --detector fakebuster=packaged:runs/eval/fakebuster \
        --detector faceblend=src/fakescope/weights/faceblend_dfdc.pt:runs/eval/faceblend \
        --videos runs/videos_eval/summary.json

NAME=WEIGHTS:EVAL_DIR[:PURIFIED_EVAL_DIR] — WEIGHTS a bundle path or 'packaged'; each EVAL_DIR
holds a `report.json`; the optional second one is the same evaluation on the purified split
(docs/splits/identity_probe.md).
Writes benchmarks/results/detectors.md (and .json).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from fakescope.detectors import create_detector
from fakescope.evaluate.report import format_metric
from fakescope.output.atomic import atomic_write_text

OUT = Path(__file__).resolve().parent / "results" / "detectors.md"


def ms_per_face(det, batch: int, reps: int, warmup: int = 2) -> float:
    size = det.requirements.input_size
    crops = np.random.default_rng(0).integers(0, 255, (batch, size, size, 3), dtype=np.uint8)
    for _ in range(warmup):
        det.score_crops(crops)
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        det.score_crops(crops)
        times.append(time.perf_counter() - t0)
    return 1000.0 * statistics.median(times) / batch


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--detector", action="append", required=True, metavar="NAME=WEIGHTS:EVAL")
    ap.add_argument("--videos", type=Path, help="summary.json of scripts/eval_videos.py")
    ap.add_argument("--reps", type=int, default=15)
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    videos = json.loads(args.videos.read_text()) if args.videos else {}
    rows = []
    for spec in args.detector:
        name, rest = spec.split("=", 1)
        weights, *evals = rest.split(":")
        eval_dir = evals[0]
        purified = json.loads((Path(evals[1]) / "report.json").read_text()) if len(evals) > 1 else None
        det = create_detector(name if weights == "packaged" else None,
                              weights=None if weights == "packaged" else weights, runtime="auto")
        report = json.loads((Path(eval_dir) / "report.json").read_text())
        speed = {b: ms_per_face(det, b, args.reps) for b in (1, 32)}
        rows.append({"name": name, "weights": weights, "eval": eval_dir,
                     "sha256": det.info.weights_sha256, "runtime": getattr(det, "runtime", None),
                     "input": det.requirements.input_size, "threshold": det.threshold,
                     "frame": report["levels"]["frame"], "provenance": report.get("provenance"),
                     "purified": purified["levels"]["frame"] if purified else None,
                     "ms": speed, "videos": videos.get(name)})
    base = rows[0]["ms"]
    lines = ["# Detectors compared", "", "Measured with:", "```",
             ".venv/bin/python benchmarks/bench_detectors.py " + " ".join(
                 f"--detector {d}" for d in args.detector)
             + (f" --videos {args.videos}" if args.videos else ""), "```", "",
             f"- CPU: {platform.processor() or platform.machine()}, {os.cpu_count()} logical cores, "
             f"torch threads {torch.get_num_threads()}; load average before the timing: "
             f"{os.getloadavg()[0]:.2f}",
             "- Test crops: the identity-disjoint test split (one crop per DFDC video), "
             "95 % intervals by bootstrap over identity clusters (`fakescope eval`, "
             "1000 resamples).",
             "- Speed: the detector alone (`score_crops` on uint8 crops, normalisation included, "
             "runtime chosen by `auto`), median of the timed calls, and its ratio to the first "
             "row measured in the same run.", "",
             "## Identity-disjoint DFDC test crops", "",
             "| detector | n (fake/real) | ROC-AUC | TAR @ 1 % FAR | TAR @ 10 % FAR | log loss | "
             "bootstrap unit |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        f = r["frame"]
        lines.append(f"| {r['name']} | {f['n_fake']}/{f['n_real']} | {format_metric(f, 'auc')} | "
                     f"{format_metric(f, 'tar@far=0.01')} | {format_metric(f, 'tar@far=0.1')} | {format_metric(f, 'log_loss')} | "
                     f"{f.get('bootstrap_unit')} |")
    if any(r["purified"] for r in rows):
        lines += ["", "## Purified test crops (no identity cluster, donor faces included, "
                  "touches train)", "",
                  "| detector | n (fake/real) | ROC-AUC | TAR @ 1 % FAR | TAR @ 10 % FAR | "
                  "log loss |", "|---|---|---|---|---|---|"]
        for r in rows:
            f = r["purified"]
            if f:
                lines.append(f"| {r['name']} | {f['n_fake']}/{f['n_real']} | {format_metric(f, 'auc')} | "
                             f"{format_metric(f, 'tar@far=0.01')} | {format_metric(f, 'tar@far=0.1')} | "
                             f"{format_metric(f, 'log_loss')} |")
    first = next((r["videos"] for r in rows if r["videos"]), None)
    if first:
        fv, ft = first["videos"], first["timit"]
        held = fv.get("held_for_training", 0)
        lines += ["", "## Videos end to end (scripts/eval_videos.py)", "",
                  (f"{held} of the shared real videos were used in training (the persons "
                   "`scripts/split_shared_videos.py` sets aside) and are left out for every "
                   "detector." if held else ""), "",
                  f"| detector | threshold | video AUC ({fv['n']}) | false alarms "
                  f"({fv['n_real']} real) | DFDC fakes flagged | DeepfakeTIMIT flagged "
                  f"({ft['n']}) |", "|---|---|---|---|---|---|"]
        for r in rows:
            v = r["videos"]
            if not v:
                continue
            vv, t = v["videos"], v["timit"]
            lines.append(f"| {r['name']} | {vv['threshold']:.3f} | {vv['auc']:.3f} "
                         f"({vv['auc_low']:.3f}–{vv['auc_high']:.3f}) | {vv['false_alarms']} | "
                         f"{vv['fakes_flagged']} / {vv['n_fake']} | {t['flagged']} "
                         f"({100 * t['flagged_share']:.0f} %) |")
    lines += ["", "## Speed (ms per face, CPU)", "",
              "| detector | input | runtime | batch 1 | batch 32 | ratio to first, batch 1 | "
              "ratio to first, batch 32 |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        ms = r["ms"]
        lines.append(f"| {r['name']} | {r['input']} | {r['runtime']} | {ms[1]:.2f} | {ms[32]:.2f} "
                     f"| {ms[1] / base[1]:.2f} | {ms[32] / base[32]:.2f} |")
    lines += ["", "Weights: " + "; ".join(f"{r['name']} `{r['sha256'][:16]}…`" for r in rows)]
    atomic_write_text(args.out, "\n".join(lines) + "\n")
    atomic_write_text(args.out.with_suffix(".json"), json.dumps(rows, indent=2, default=str) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
