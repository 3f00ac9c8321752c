"""Tracking on the shared videos: how many tracks each video gives and how much the crops'
boxes jitter between sampled frames, with and without smoothing.

    nice .venv/bin/python benchmarks/bench_tracking.py [--every 3] [--frames 60] \
        [--folders talking_heads,dfdc,dfd] [--out benchmarks/results/tracking.md]

The first `--frames` frames of every `--every`-th frame of each video (dense, as a sequence
model samples: every 3rd frame of a 30-fps clip is 0.1 s apart) go through FacePipeline with BlazeFace and
dfdc_tight, once with smoothing off (smooth_s=0) and once with the default. Jitter is the
median, over consecutive crops of a track, of the box centre's move and of the change of box
side, both in units of the box side: for a talking head most of that is detector noise, which
sequence models would otherwise see as motion.
"""

from __future__ import annotations

import argparse
import sys
from itertools import islice
from pathlib import Path

import numpy as np

from fakescope.faces import FacePipeline, create_face_detector
from fakescope.media import iter_frames
from fakescope.output.atomic import atomic_write_text

from bench_faces import shared_videos  # noqa: E402 - a sibling script (benchmarks/ is on sys.path)

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def jitter(tracks) -> tuple[float, float]:
    """(median centre move / side, median |side change| / side) over consecutive crops."""
    moves, sizes = [], []
    for t in tracks:
        b = np.array([c.detection.box for c in t.crops], np.float64)
        if len(b) < 2:
            continue
        side = np.maximum(b[:, 2] - b[:, 0], b[:, 3] - b[:, 1])
        centre = (b[:, :2] + b[:, 2:]) / 2
        moves += (np.linalg.norm(np.diff(centre, axis=0), axis=1) / side[:-1]).tolist()
        sizes += (np.abs(np.diff(side)) / side[:-1]).tolist()
    return (float(np.median(moves)), float(np.median(sizes))) if moves else (float("nan"),) * 2


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--every", type=int, default=3)
    ap.add_argument("--frames", type=int, default=60)
    ap.add_argument("--folders", default="talking_heads,dfdc,dfd")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "tracking.md")
    args = ap.parse_args(argv)
    folders = args.folders.split(",")
    videos = [p for p in shared_videos(args.data) if p.relative_to(args.data / "videos").parts[0] in folders]
    if not videos:
        return 2
    det = create_face_detector("blazeface")
    pipes = {s: FacePipeline.from_spec(det, "dfdc_tight", crop_size=64, smooth_s=s) for s in (0.0, 0.15)}
    rows = []
    for v in videos:
        frames = list(islice(iter_frames(v, f"every:{args.every}"), args.frames))
        span = frames[-1].time_s - frames[0].time_s
        res = {s: p.process(frames) for s, p in pipes.items()}
        rows.append((str(v.relative_to(args.data / "videos")), len(frames), span, {s: (len(t), *jitter(t)) for s, t in res.items()}))
        print(rows[-1], flush=True)
    cmd = "python " + " ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]])
    lines = [
        "# Tracking: tracks per video and box jitter",
        "",
        f"Command: `nice {cmd}`",
        "",
        f"FacePipeline(BlazeFace, dfdc_tight), the first {args.frames} of every {args.every}th frame"
        " of each video;"
        " gaps up to 1 s, tracks under 3 detections dropped beside longer ones. Jitter: median"
        " centre move and |side change| between consecutive crops, in % of the box side.",
        "",
        "| video | frames | span s | tracks | centre jitter raw % | smoothed % | side jitter raw % | smoothed % |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for v, n, span, r in rows:
        raw, sm = r[0.0], r[0.15]
        lines.append(f"| {v} | {n} | {span:.1f} | {sm[0]} | {100 * raw[1]:.2f} | {100 * sm[1]:.2f} "
                     f"| {100 * raw[2]:.2f} | {100 * sm[2]:.2f} |")
    ok = [r for r in rows if r[3][0.15][0] == 1]
    raw_c = np.nanmedian([r[3][0.0][1] for r in rows])
    sm_c = np.nanmedian([r[3][0.15][1] for r in rows])
    raw_s = np.nanmedian([r[3][0.0][2] for r in rows])
    sm_s = np.nanmedian([r[3][0.15][2] for r in rows])
    lines += ["", f"- videos with exactly one track: {len(ok)} of {len(rows)}",
              f"- median over videos: centre jitter {100 * raw_c:.2f} % raw, {100 * sm_c:.2f} % smoothed;"
              f" side jitter {100 * raw_s:.2f} % raw, {100 * sm_s:.2f} % smoothed", ""]
    atomic_write_text(args.out, "\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
