"""Measure the framing of the shared DFDC training crops and check the preset that copies it.

    .venv/bin/python benchmarks/measure_framing.py --n 300 --seed 0 \
        --json benchmarks/results/framing.json --png /tmp/framing_side_by_side.png

1. Runs a face detector on a random sample of dfdc_faces/faces_224/*.jpg (each padded, see
   fakescope.faces.framing) and records where its box sits in the crop; prints the
   distribution and the CropSpec (margin, shift_y) that reproduces the median framing.
2. Ground truth where there is one: a full-frame clip in videos/dfdc/ that also has a crop in
   faces_224 is searched (template matching, at the crop's original size) for the frame and
   region the crop was cut from; the pipeline's own detector on that frame then tells how
   far the derived spec lands from the real crop.
3. Writes a side-by-side PNG: sample training crops (top) and pipeline crops made with the
   spec from the full-frame clips (bottom), for a look by eye.
Reads shared data only; writes the JSON and the PNG given.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from itertools import islice
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from fakescope.faces import (
    create_face_detector,
    margin_crop,
    measure_framing,
    square_box,
)
from fakescope.faces.tracking import box_iou
from fakescope.media import iter_frames

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def read_rgb(path: Path) -> np.ndarray:
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise SystemExit(f"{path}: unreadable image")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def first_frames(path: Path, n: int) -> list[np.ndarray]:
    """The first n frames, RGB, upright."""
    return [f.image for f in islice(iter_frames(path, "all"), n)]


def locate_crop(frames: list[np.ndarray], crop: np.ndarray, side: int) -> tuple[float, int, tuple]:
    """(correlation, frame position, square region) where `crop`, resized to `side`, best
    matches: coarse search at half resolution, then a full-resolution search of sizes
    side +- 8 near the three best coarse hits."""
    gray_crop = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY)
    half = cv2.resize(gray_crop, (side // 2, side // 2), interpolation=cv2.INTER_AREA)
    coarse = []
    for i, f in enumerate(frames):
        g = cv2.cvtColor(f, cv2.COLOR_RGB2GRAY)
        g2 = cv2.resize(g, (g.shape[1] // 2, g.shape[0] // 2), interpolation=cv2.INTER_AREA)
        _, mx, _, loc = cv2.minMaxLoc(cv2.matchTemplate(g2, half, cv2.TM_CCOEFF_NORMED))
        coarse.append((mx, i, loc))
    fine = (-1.0, 0, (0, 0, 0, 0))
    for _, pos, (lx, ly) in sorted(coarse, reverse=True)[:3]:
        g = cv2.cvtColor(frames[pos], cv2.COLOR_RGB2GRAY)
        x0, y0 = max(0, 2 * lx - 24), max(0, 2 * ly - 24)
        window = g[y0 : y0 + side + 64, x0 : x0 + side + 64]
        for s in range(side - 8, side + 9):
            tpl = cv2.resize(gray_crop, (s, s), interpolation=cv2.INTER_AREA)
            if tpl.shape[0] > window.shape[0] or tpl.shape[1] > window.shape[1]:
                continue
            _, mx, _, loc = cv2.minMaxLoc(cv2.matchTemplate(window, tpl, cv2.TM_CCOEFF_NORMED))
            if mx > fine[0]:
                fine = (mx, pos, (x0 + loc[0], y0 + loc[1], x0 + loc[0] + s, y0 + loc[1] + s))
    return fine


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--detector", default="mtcnn")
    ap.add_argument("--pad", type=float, default=0.5)
    ap.add_argument("--scale-jitter", type=float, default=0.0,
                    help="enlarge each padded crop by a random factor in [1, 1+this] (dlib: 0.2)")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--png", type=Path)
    args = ap.parse_args(argv)

    faces_dir = args.data / "dfdc_faces" / "faces_224"
    files = sorted(faces_dir.glob("*.jpg"))
    if not files:
        print(f"{faces_dir}: no crops", file=sys.stderr)
        return 2
    sample = random.Random(args.seed).sample(files, min(args.n, len(files)))

    # 1. framing of the training crops. Crops are <= 224 px: detect at full resolution.
    crop_detector = create_face_detector(args.detector, detect_max_side=None, min_face_size=40)
    t0 = time.perf_counter()
    stats = measure_framing((read_rgb(p) for p in sample), crop_detector, pad=args.pad,
                            scale_jitter=args.scale_jitter, seed=args.seed)
    summary = stats.summary()
    spec = stats.crop_spec()
    result: dict = {
        "command": "python " + " ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]]),
        "detector": crop_detector.config(),
        "pad": args.pad,
        "scale_jitter": args.scale_jitter,
        "seed": args.seed,
        "seconds": round(time.perf_counter() - t0, 1),
        "framing": summary,
        "spec": {"margin": spec.margin, "shift_y": spec.shift_y},
        "missed": [sample[i].name for i in stats.missed],
    }
    print(json.dumps(result["framing"], indent=1))
    print("derived spec:", spec, "| no face in:", ", ".join(result["missed"]) or "none")

    # 2. ground truth: full-frame clips that also have a training crop.
    meta = pd.read_csv(args.data / "dfdc_faces" / "metadata.csv").set_index("videoname")
    pipeline_detector = create_face_detector(args.detector)
    checks = []
    clip_crops = []
    for clip in sorted((args.data / "videos" / "dfdc").glob("*.mp4")):
        frames = first_frames(clip, 30)
        if clip.name not in meta.index or not (faces_dir / f"{clip.stem}.jpg").is_file():
            dets = pipeline_detector.detect(frames[0])
            if dets:
                clip_crops.append(margin_crop(frames[0], dets[0].box, spec.margin, 224, spec.shift_y))
            continue
        side = int(meta.loc[clip.name, "original_width"])
        corr, pos, region = locate_crop(frames, read_rgb(faces_dir / f"{clip.stem}.jpg"), side)
        found = pipeline_detector.detect(frames[pos])
        if not found:
            checks.append({"clip": clip.name, "correlation": corr, "detected": False})
            continue
        box = found[0].box
        bside = max(box[2] - box[0], box[3] - box[1])
        ours = square_box(box, spec.margin, spec.shift_y)
        truth_cy = (region[1] + region[3]) / 2
        checks.append(
            {
                "clip": clip.name,
                "frame": pos,
                "correlation": round(corr, 4),
                "true_region": [int(v) for v in region],
                "detector_box": [round(v, 1) for v in box],
                "true_side_ratio": round(bside / (region[2] - region[0]), 4),
                "true_shift_y": round((truth_cy - (box[1] + box[3]) / 2) / bside, 4),
                "iou_spec_vs_true": round(float(box_iou(np.array([ours]), np.array([region]))[0, 0]), 4),
            }
        )
        # the real training crop's region, then ours, side by side
        clip_crops.append(margin_crop(frames[pos], region, 0.0, 224))
        clip_crops.append(margin_crop(frames[pos], box, spec.margin, 224, spec.shift_y))
    result["ground_truth"] = checks
    print(json.dumps(checks, indent=1))

    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=1) + "\n")
    if args.png:
        top = [read_rgb(p) for p in sample[: max(6, len(clip_crops))]]
        n = max(len(top), len(clip_crops))
        blank = np.full((224, 224, 3), 255, np.uint8)
        rows = [np.hstack(top + [blank] * (n - len(top))), np.hstack(clip_crops + [blank] * (n - len(clip_crops)))]
        cv2.imwrite(str(args.png), cv2.cvtColor(np.vstack(rows), cv2.COLOR_RGB2BGR))
        print("wrote", args.png)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
