"""Decode cost of each frame-sampling strategy on the shared 1080p clips.

Compares fakescope.media.read_frames (uniform:32, every:10, keyframes) with two baselines:
  decode+convert all   every frame decoded and converted to RGB (a plain read loop);
  grab/retrieve        every frame decoded, only the uniform:32 frames converted (seed 001
                       §3.2.2.3: OpenCV grab() on all frames, retrieve() on the kept ones).
Wall time and process CPU time are both reported: the machine is shared, and CPU time is the
steadier of the two when other jobs run.

    .venv/bin/python benchmarks/bench_media.py            # DFDC clips + the 3 shortest DFD c40 clips
    .venv/bin/python benchmarks/bench_media.py --dfd 10   # every DFD c40 clip (several minutes)
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import av

from fakescope.media import DecodeStats, UniformSampling, probe, read_frames
from fakescope.media.decode import frame_to_rgb
from fakescope.output.atomic import atomic_write_text

REPO = Path(__file__).resolve().parents[1]
SHARED_VIDEOS = REPO.parent / "shared" / "data" / "videos"
STRATEGIES = ("uniform:32", "every:10", "keyframes")


def _timed(fn, repeat: int):
    """Best (minimum) wall and CPU time over `repeat` runs: the least disturbed run."""
    walls, cpus = [], []
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        result = fn()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return min(walls), min(cpus), result


def decode_convert_all(path: Path) -> int:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        n = 0
        for frame in container.decode(stream):
            frame_to_rgb(frame)
            n += 1
    return n


def grab_retrieve(path: Path, keep: set[int]) -> int:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        n = 0
        for i, frame in enumerate(container.decode(stream)):
            if i in keep:
                frame_to_rgb(frame)
            n += 1
    return n


def bench_clip(path: Path, repeat: int) -> dict:
    info = probe(path)  # also warms the page cache
    row = {"clip": f"{path.parent.name}/{path.name}", "size": f"{info.width}x{info.height}",
           "seconds": info.duration_s, "frames": info.frame_count}
    wall, cpu, n = _timed(lambda: decode_convert_all(path), repeat)
    row["all"] = (wall, cpu, n, n)
    keep = set(UniformSampling(32).indices(info.frame_count))
    wall, cpu, n = _timed(lambda: grab_retrieve(path, keep), repeat)
    row["grab"] = (wall, cpu, n, len(keep))
    for spec in STRATEGIES:

        def run(spec=spec):
            stats = DecodeStats()
            return read_frames(path, spec, info=info, stats=stats), stats

        wall, cpu, (frames, stats) = _timed(run, repeat)
        row[spec] = (wall, cpu, stats.frames_decoded, len(frames))
    return row


def clips(n_dfd: int) -> list[Path]:
    dfdc = sorted((SHARED_VIDEOS / "dfdc").glob("*.mp4"))
    dfd = sorted((SHARED_VIDEOS / "dfd" / "c40").glob("*.mp4"), key=lambda p: (probe(p).duration_s, p.name))
    return dfdc + dfd[:n_dfd]


def render(rows: list[dict], argv: list[str], load: tuple[float, float, float], total: float, repeat: int) -> str:
    cols = ["all", "grab"] + list(STRATEGIES)
    names = {"all": "decode+convert all", "grab": "grab/retrieve (32)"}
    lines = [
        "# Media decode benchmark",
        "",
        "Command: `" + " ".join([".venv/bin/python", "benchmarks/bench_media.py", *argv]) + "`",
        "",
        f"Machine: {os.cpu_count()} CPUs, {platform.processor() or platform.machine()}, Python "
        f"{platform.python_version()}, PyAV {av.__version__} (libavcodec "
        f"{'.'.join(map(str, av.library_versions['libavcodec']))}); load average at start "
        f"{load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f} (the machine is shared with other jobs). "
        f"Best of {repeat} run(s) per cell; benchmark took {total:.0f} s.",
        "",
        "Cells: wall s / CPU s (user+sys of this process, all decoder threads) / frames decoded / "
        "frames returned. Speed-up = time of decode+convert all ÷ time of the strategy, per clip. "
        "With the machine loaded, wall time mostly measures waiting for a core; CPU time is the "
        "work done.",
        "",
        "| clip | size | s | frames | " + " | ".join(names.get(c, c) for c in cols) + " |",
        "|---|---|---|---|" + "---|" * len(cols),
    ]
    for r in rows:
        cells = [f"{r[c][0]:.3f} / {r[c][1]:.2f} / {r[c][2]} / {r[c][3]}" for c in cols]
        lines.append(f"| {r['clip']} | {r['size']} | {r['seconds']:.1f} | {r['frames']} | " + " | ".join(cells) + " |")
    lines += ["", "## Summary (median over clips)", "", "| strategy | wall s | CPU s | frames decoded | speed-up (wall) | speed-up (CPU) |",
              "|---|---|---|---|---|---|"]
    for c in cols:
        wall = statistics.median(r[c][0] for r in rows)
        cpu = statistics.median(r[c][1] for r in rows)
        dec = statistics.median(r[c][2] / r["frames"] for r in rows)
        speed = statistics.median(r["all"][0] / r[c][0] for r in rows)
        speed_cpu = statistics.median(r["all"][1] / r[c][1] for r in rows)
        lines.append(
            f"| {names.get(c, c)} | {wall:.3f} | {cpu:.2f} | {dec:.0%} of frames | {speed:.1f}x | {speed_cpu:.1f}x |"
        )
    ten_s = [r for r in rows if r["clip"].startswith("dfdc/") and "1920" in r["size"]]
    if ten_s:
        walls = [r["uniform:32"][0] for r in ten_s]
        cpus = [r["uniform:32"][1] for r in ten_s]
        lines += ["", f"Target check — uniform:32 on the {len(ten_s)} 10-s 1920-pixel DFDC clips: "
                  f"wall {min(walls):.3f}–{max(walls):.3f} s, CPU {min(cpus):.2f}–{max(cpus):.2f} s "
                  "(target: well under 0.7 s wall on 2 cores)."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dfd", type=int, default=3, help="how many DFD c40 clips (shortest first)")
    ap.add_argument("--repeat", type=int, default=1, help="runs per cell; the fastest is kept")
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "media.md")
    args = ap.parse_args(argv)
    paths = clips(args.dfd)
    if not paths:
        print(f"no clips under {SHARED_VIDEOS}", file=sys.stderr)
        return 1
    load = os.getloadavg()
    start = time.perf_counter()
    rows = []
    for p in paths:
        rows.append(bench_clip(p, args.repeat))
        print(rows[-1]["clip"], {k: round(v[0], 3) for k, v in rows[-1].items() if isinstance(v, tuple)}, flush=True)
    text = render(rows, argv, load, time.perf_counter() - start, args.repeat)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out, text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
