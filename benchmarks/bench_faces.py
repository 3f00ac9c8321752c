"""Face detectors on the shared videos: time per 1080p frame against decoding, and the share of
sampled frames in which each finds a face.

    nice .venv/bin/python benchmarks/bench_faces.py [--frames 32] \
        [--detectors mtcnn,blazeface,dlib,haar] [--out benchmarks/results/faces.md]

For each of the videos in shared/data/videos/labels.csv: `--frames` frames are decoded with
fakescope.media.read_frames (uniform, no padding; timed: the decode-only baseline), then every
detector runs detect_batch on the same frames, in an order that rotates from video to video so
load from other processes hits each alike. Speed is reported as wall and CPU milliseconds per
1080p frame and as a ratio to decoding the same frames in the same run (a ratio survives a
busy machine better than a time does). Also: how often each detector's dfdc_tight square
(its own measured framing, faces.framing / docs/framing.md) overlaps MTCNN's, and the whole
face stage (FacePipeline with BlazeFace: detect, track, smooth, crop) against decoding on the
10-s 1080p DFDC clips. Raw per-video numbers go to the JSON beside the Markdown.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from fakescope.faces import FacePipeline, box_iou, create_face_detector, preset_for, square_box
from fakescope.media import read_frames

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
DETECTORS = ("mtcnn", "blazeface", "dlib", "haar")


def shared_videos(data: Path) -> list[Path]:
    """The videos listed in shared/data/videos/labels.csv ([] when the shared data is absent)."""
    labels = data / "videos" / "labels.csv"
    if not labels.is_file():
        print(f"{labels}: missing (shared data not found)", file=sys.stderr)
        return []
    with labels.open() as fh:
        return [data / "videos" / r["path"] for r in csv.DictReader(fh)]


class Timer:
    """Wall and process-CPU seconds of a block."""

    def __enter__(self) -> Timer:
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc) -> None:
        self.wall = time.perf_counter() - self.wall
        self.cpu = time.process_time() - self.cpu


def dfdc_square(name: str, dets) -> tuple | None:
    """The largest face's dfdc_tight square for detector `name`, or None."""
    if not dets:
        return None
    spec = preset_for(name, "dfdc_tight")
    return square_box(dets[0].box, spec.margin, spec.shift_y)


def run_video(path: Path, n: int, detectors: dict, order: list[str]) -> dict:
    with Timer() as t:
        frames = read_frames(path, f"uniform:{n}:nopad")
    images = [f.image for f in frames]
    h, w = images[0].shape[:2]
    row = {"video": str(path.relative_to(DATA / "videos")), "size": [w, h], "frames": len(images),
           "decode_wall": t.wall, "decode_cpu": t.cpu, "detectors": {}}
    squares = {}
    for name in order:
        with Timer() as t:
            found = detectors[name].detect_batch(images)
        squares[name] = [dfdc_square(name, d) for d in found]
        row["detectors"][name] = {"wall": t.wall, "cpu": t.cpu, "with_face": sum(1 for d in found if d)}
    if "mtcnn" in squares:
        for name, sq in squares.items():
            ious = [float(box_iou(np.array([a]), np.array([b]))[0, 0])
                    for a, b in zip(sq, squares["mtcnn"], strict=True) if a is not None and b is not None]
            row["detectors"][name]["iou_with_mtcnn"] = ious
    return row


def run_pipeline(path: Path, n: int, detector, every: tuple[int, ...] = (1, 2, 3)) -> dict:
    """Decode, then the whole face stage with BlazeFace and dfdc_tight at 224 px, searching
    every k-th sampled frame for each k in `every`; for k > 1 also the IoU of the boxes on the
    frames not searched with the k = 1 box of the same frame (what interpolation costs)."""
    with Timer() as dec:
        frames = read_frames(path, f"uniform:{n}:nopad")
    row = {"video": path.name, "decode_wall": dec.wall, "decode_cpu": dec.cpu, "every": {}}
    boxes_1 = {}
    for asked in every:
        pipe = FacePipeline.from_spec(detector, "dfdc_tight", crop_size=224, detect_every=asked)
        k = pipe.search_step([f.time_s for f in frames])  # lowered to keep searches <= 1 s apart
        with Timer() as faces:
            tracks = pipe.process(frames)
        boxes = {c.frame_index: c.detection.box for t in tracks[:1] for c in t.crops}
        if k == 1:
            boxes_1 = boxes
        searched = {frames[i].index for i in range(0, len(frames), k)} | {frames[-1].index}
        ious = [float(box_iou(np.array([b]), np.array([boxes_1[f]]))[0, 0])
                for f, b in boxes.items() if f not in searched and f in boxes_1]
        row["every"][asked] = {"step": k, "faces_wall": faces.wall, "faces_cpu": faces.cpu, "tracks": len(tracks),
                           "crops": sum(len(t.crops) for t in tracks), "iou_interpolated": ious}
    return row


def is_1080p(row: dict) -> bool:
    return sorted(row["size"]) == [1080, 1920]


def summarise(rows: list[dict], names: list[str]) -> list[str]:
    full_hd = [r for r in rows if is_1080p(r)]
    hd_frames = sum(r["frames"] for r in full_hd)
    dec_wall = sum(r["decode_wall"] for r in full_hd)
    dec_cpu = sum(r["decode_cpu"] for r in full_hd)
    out = [
        f"## Speed on the {len(full_hd)} 1080p videos ({hd_frames} frames)",
        "",
        f"Decode-only baseline (read_frames of the same frames): {1000 * dec_wall / hd_frames:.0f} ms "
        f"wall, {1000 * dec_cpu / hd_frames:.0f} ms CPU per sampled frame.",
        "",
        "| detector | ms / frame (wall) | ms / frame (CPU) | x decode (wall) | x decode (CPU) |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for name in names:
        wall = sum(r["detectors"][name]["wall"] for r in full_hd)
        cpu = sum(r["detectors"][name]["cpu"] for r in full_hd)
        out.append(f"| {name} | {1000 * wall / hd_frames:.1f} | {1000 * cpu / hd_frames:.1f} "
                   f"| {wall / dec_wall:.2f} | {cpu / dec_cpu:.2f} |")
    cats = sorted({r["video"].split("/")[0] for r in rows})
    out += ["", f"## Sampled frames with a face ({len(rows)} videos)", "",
            "| detector | " + " | ".join(cats) + " | all | videos with a face in every frame |",
            "| --- | " + " | ".join("---:" for _ in cats) + " | ---: | ---: |"]
    for name in names:
        cells = []
        for cat in [*cats, None]:
            sel = [r for r in rows if cat is None or r["video"].split("/")[0] == cat]
            got = sum(r["detectors"][name]["with_face"] for r in sel)
            tot = sum(r["frames"] for r in sel)
            cells.append(f"{got}/{tot} ({100 * got / tot:.1f} %)")
        full = sum(1 for r in rows if r["detectors"][name]["with_face"] == r["frames"])
        out.append(f"| {name} | " + " | ".join(cells) + f" | {full}/{len(rows)} |")
    if "mtcnn" in names:
        out += ["", "## Framing agreement with MTCNN (dfdc_tight squares, frames where both found a face)",
                "", "| detector | frames | IoU p25 | IoU median | IoU p75 | share IoU > 0.5 |",
                "| --- | ---: | ---: | ---: | ---: | ---: |"]
        for name in names:
            if name == "mtcnn":
                continue
            ious = [v for r in rows for v in r["detectors"][name].get("iou_with_mtcnn", [])]
            if ious:
                q = np.percentile(ious, [25, 50, 75])
                out.append(f"| {name} | {len(ious)} | {q[0]:.2f} | {q[1]:.2f} | {q[2]:.2f} "
                           f"| {100 * np.mean(np.array(ious) > 0.5):.1f} % |")
    out += ["", "## Per video (frames with a face)", "",
            "| video | size | frames | " + " | ".join(names) + " |",
            "| --- | --- | ---: | " + " | ".join("---:" for _ in names) + " |"]
    for r in rows:
        out.append(f"| {r['video']} | {r['size'][0]}x{r['size'][1]} | {r['frames']} | "
                   + " | ".join(str(r["detectors"][n]["with_face"]) for n in names) + " |")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--frames", type=int, default=32)
    ap.add_argument("--detectors", default=",".join(DETECTORS))
    ap.add_argument("--limit", type=int, default=0, help="first N videos only (0: all)")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "faces.md")
    args = ap.parse_args(argv)
    videos = shared_videos(args.data)
    if not videos:
        return 2
    if args.limit:
        videos = videos[: args.limit]
    names = [n.strip() for n in args.detectors.split(",") if n.strip()]

    load_before = os.getloadavg()
    t_start = time.perf_counter()
    detectors = {}
    for name in names:
        with Timer() as t:
            detectors[name] = create_face_detector(name)
            detectors[name].detect(np.zeros((360, 640, 3), np.uint8))  # warm-up
        print(f"{name}: built in {t.wall:.1f} s", flush=True)
    rows = []
    for i, path in enumerate(videos):
        order = names[i % len(names):] + names[: i % len(names)]
        rows.append(run_video(path, args.frames, detectors, order))
        print(rows[-1]["video"], {k: v["with_face"] for k, v in rows[-1]["detectors"].items()}, flush=True)
    pipes = [run_pipeline(p, args.frames, detectors.get("blazeface") or create_face_detector("blazeface"))
             for p in videos if p.parent.name == "dfdc"]
    load_after = os.getloadavg()

    cmd = "python " + " ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]])
    lines = [
        "# Face detectors on the shared videos",
        "",
        f"Command: `nice {cmd}` ({time.perf_counter() - t_start:.0f} s)",
        "",
        f"- {len(rows)} videos of `shared/data/videos/labels.csv`, {args.frames} frames each sampled"
        " uniformly (`read_frames(path, 'uniform:N:nopad')`)",
        "- each detector with its defaults (`create_face_detector(name)`), detect_batch over a"
        " video's frames; detector order rotates per video",
        f"- machine: {platform.machine()}, {os.cpu_count()} CPUs, **shared with another engineer's"
        f" work**: load average {load_before[0]:.1f} before, {load_after[0]:.1f} after. Absolute"
        " times are inflated and noisy; the ratios to decode-only, measured on the same frames in"
        " the same run, are the figures to compare",
        "",
        *summarise(rows, names),
        "",
        "## Whole face stage on the 10-s DFDC clips (FacePipeline, BlazeFace, dfdc_tight, 224 px)",
        "",
        "`detect_every` k: the detector searches every k-th sampled frame and the boxes between"
        " are interpolated. FacePipeline.search_step lowers k where searched frames would be more"
        " than the 1-s tracking gap apart (k = 3 at 32 frames over 10 s is 0.97-1.0 s), so the"
        " table shows k asked / k used. IoU: interpolated boxes against the k = 1 box of the"
        " same frame.",
        "",
        "| clip | k asked / used | decode s (wall / CPU) | face stage s (wall / CPU) | (decode + faces) / decode, CPU"
        " | tracks | crops | IoU interpolated, min / median |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        *(f"| {p['video']} | {k} / {e['step']} | {p['decode_wall']:.2f} / {p['decode_cpu']:.2f} | {e['faces_wall']:.2f} / "
          f"{e['faces_cpu']:.2f} | {(p['decode_cpu'] + e['faces_cpu']) / p['decode_cpu']:.2f} | "
          f"{e['tracks']} | {e['crops']} | "
          + (f"{min(e['iou_interpolated']):.2f} / {statistics.median(e['iou_interpolated']):.2f}"
             if e["iou_interpolated"] else "-") + " |"
          for p in pipes for k, e in p["every"].items()),
        "",
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines))
    args.out.with_suffix(".json").write_text(json.dumps(
        {"command": cmd, "videos": rows, "pipeline": pipes}, indent=1) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
