"""MTCNN settings and facenet-pytorch's own MTCNN on 32 frames of one shared 1080p clip.

    .venv/bin/python benchmarks/bench_mtcnn.py [--clip PATH] [--repeats 3] \
        [--out benchmarks/results/mtcnn.md]

(Was bench_faces.py; the comparison of all face detectors on the shared videos is now
benchmarks/bench_faces.py.)

The project's target is 32 faces from a 10-s 1080p clip in under 1.5 s on 2 cores for the
whole scan, so the face stage has to stay well under that. Frames are decoded once with
fakescope.media (uniform:32, timed too); each detector configuration then runs detect_batch
over all 32 frames `--repeats` times after a warm-up, interleaved with the others. The MTCNN
rows include a few non-default settings to show what the defaults trade. The last table
times the whole FacePipeline (detect + track + crop, dfdc_tight preset), with and without
probe frames (FacePipeline's adaptive minimum face size).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from fakescope.faces import FacePipeline, create_face_detector
from fakescope.faces.base import detection_size
from fakescope.media import read_frames
from fakescope.output.atomic import atomic_write_text

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
DEFAULT_CLIP = DATA / "videos" / "dfdc" / "lynaeydofd.mp4"

# (label, detector name, keyword overrides); the first of each detector is its default.
CONFIGS = [
    ("mtcnn (default: max side 640, min face 60, P-Net 0.7)", "mtcnn", {}),
    ("mtcnn, min face 90", "mtcnn", {"min_face_size": 90}),
    ("mtcnn, min face 120", "mtcnn", {"min_face_size": 120}),
    ("mtcnn, max side 480", "mtcnn", {"detect_max_side": 480}),
    ("facenet-pytorch MTCNN.detect itself, same copies and settings (1 run)", "facenet", {}),
    ("dlib HOG + 68 landmarks (default: max side 960)", "dlib", {}),
    ("haar (default: max side 640)", "haar", {}),
]


class FacenetReference:
    """facenet-pytorch's own batched MTCNN.detect on the same 640-px copies with the default
    settings (thresholds 0.7/0.7/0.8, min face 60 full-res px), to show what
    fakescope.faces.mtcnn's OpenCV resampling saves."""

    def __init__(self, full_h: int, full_w: int) -> None:
        from facenet_pytorch import MTCNN

        self.size = detection_size(full_h, full_w, 640)
        scale = self.size[0] / full_h
        self.mtcnn = MTCNN(keep_all=True, thresholds=[0.7, 0.7, 0.8], min_face_size=max(12, 60 * scale))

    def detect_batch(self, images):
        h, w = self.size
        small = np.stack([cv2.resize(im, (w, h), interpolation=cv2.INTER_AREA) for im in images])
        boxes, _ = self.mtcnn.detect(small)
        return [[] if b is None else list(b) for b in boxes]


def run_round_robin(runners: dict[str, tuple], repeats: int) -> dict[str, dict]:
    """Time each runner (fn, max runs) up to `repeats` times, interleaved (one run of each per
    round), so a load spike from other processes hits every configuration alike. Returns per
    label: best and median wall seconds, CPU seconds of the best run, its result."""
    walls: dict[str, list[tuple[float, float]]] = {k: [] for k in runners}
    results: dict[str, object] = {}
    for r in range(repeats):
        for label, (fn, max_runs) in runners.items():
            if r >= max_runs:
                continue
            c, t = time.process_time(), time.perf_counter()
            results[label] = fn()
            walls[label].append((time.perf_counter() - t, time.process_time() - c))
    out = {}
    for label, runs in walls.items():
        best = min(runs)
        out[label] = {
            "best": best[0],
            "median": statistics.median(r[0] for r in runs),
            "cpu": best[1],
            "result": results[label],
        }
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clip", type=Path, default=DEFAULT_CLIP)
    ap.add_argument("--frames", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "mtcnn.md")
    args = ap.parse_args(argv)
    if not args.clip.is_file():
        print(f"{args.clip}: missing (shared data not found)", file=sys.stderr)
        return 2

    load_before = os.getloadavg()
    t = time.perf_counter()
    frames = read_frames(args.clip, f"uniform:{args.frames}")
    decode_s = time.perf_counter() - t
    images = [f.image for f in frames]
    h, w = images[0].shape[:2]

    rows: dict[str, str] = {}
    runners = {}
    for label, name, kw in CONFIGS:
        try:
            det = FacenetReference(h, w) if name == "facenet" else create_face_detector(name, **kw)
        except Exception as exc:  # noqa: BLE001 - a detector this install lacks is reported
            rows[label] = f"| {label} | not available: {exc} | | | | | |"
            print(label, "->", exc, flush=True)
            continue
        det.detect_batch(images[:2])  # warm-up (lazy init, allocator)
        # facenet-pytorch's own detect is slow: one run is enough to compare
        runners[label] = (lambda d=det: d.detect_batch(images), 1 if name == "facenet" else args.repeats)
    pipe_labels = {}
    for label, probe in (("probe 4 frames (default)", 4), ("no probing", 0)):
        pipe = FacePipeline.from_spec(
            create_face_detector("mtcnn"), "dfdc_tight", crop_size=224, probe_frames=probe
        )
        pipe.process(frames[:2])
        pipe_labels[label] = f"pipeline: {label}"
        runners[pipe_labels[label]] = (lambda p=pipe: p.process(frames), args.repeats)

    timings = run_round_robin(runners, args.repeats)
    for label, _, _ in CONFIGS:
        if label in rows:
            continue
        r = timings[label]
        found = r["result"]
        n_faces = sum(len(x) for x in found)
        n_frames = sum(1 for x in found if x)
        rows[label] = (
            f"| {label} | {r['best']:.2f} | {r['median']:.2f} | {r['cpu']:.2f} "
            f"| {n_faces / r['best']:.1f} | {len(images) / r['best']:.1f} "
            f"| {n_frames}/{len(images)} frames, {n_faces} faces |"
        )
    pipe_rows = []
    for label, key in pipe_labels.items():
        r = timings[key]
        n_crops = sum(len(tr.crops) for tr in r["result"])
        pipe_rows.append(
            f"| {label} | {r['best']:.2f} | {r['median']:.2f} | {r['cpu']:.2f} | {n_crops} "
            f"| {len(r['result'])} | {n_crops / r['best']:.1f} |"
        )
    load_after = os.getloadavg()

    cmd = "python " + " ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]])
    lines = [
        "# Face stage benchmark",
        "",
        f"Command: `{cmd}`",
        "",
        f"- clip: `{args.clip.name}` ({w}x{h}), {len(images)} frames sampled uniformly",
        f"- machine: {platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__} "
        f"with {torch.get_num_threads()} intra-op threads, device cpu",
        f"- load average before/after: {load_before[0]:.1f} / {load_after[0]:.1f} "
        "(the machine is shared: a load above the core count slows every row)",
        f"- decode (fakescope.media.read_frames, uniform:{args.frames}): {decode_s:.2f} s",
        f"- {args.repeats} runs of each row after a warm-up, interleaved round-robin; best = the"
        " least disturbed run (what the code costs), median = what a busy machine gave;"
        " CPU s = process CPU time of the best run over all threads",
        "",
        "## Detectors (detect_batch on all frames)",
        "",
        "| detector | best s | median s | CPU s | faces/s (best) | frames/s (best) | found |",
        "| --- | ---: | ---: | ---: | ---: | ---: | --- |",
        *(rows[label] for label, _, _ in CONFIGS),
        "",
        "## Whole face stage (FacePipeline, MTCNN default, dfdc_tight, 224 px crops)",
        "",
        "| pipeline | best s | median s | CPU s | crops | tracks | crops/s (best) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
        *pipe_rows,
        "",
    ]
    atomic_write_text(args.out, "\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
