"""Peak memory of `--sampling all` on a 35-s 1080p clip: frames are streamed (found faces are
cropped, frames let go), so memory must not grow with the length of the video.

Each measurement runs in a fresh Python process (with the malloc setting every scan worker
uses: `fakescope.scan.memory`) and reports its own peak resident memory
(`ru_maxrss`), so one does not inherit another's high-water mark:
  loaded        the default scanner built (detector + face detector), nothing scanned: baseline
  decode all    every frame decoded to RGB and dropped (the floor for any all-frames scan)
  scan uniform  `Scanner.scan_file` with uniform:32 (the default)
  scan all      `Scanner.scan_file` with --sampling all (streamed)
The clip is generated (skimage's astronaut moving over a textured 1920x1080 background,
libx264) and cached under runs/bench/. Also printed: what holding every decoded frame at once
would need (frames x 1920 x 1080 x 3 bytes), the way the scan worked before streaming.

    .venv/bin/python benchmarks/bench_scan_memory.py            # writes benchmarks/results/scan_memory.md
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from fakescope.faces.detectors import DEFAULT_FACE_DETECTOR
from fakescope.output.atomic import atomic_write_text

REPO = Path(__file__).resolve().parents[1]
CLIP = REPO / "runs" / "bench" / "astronaut_35s_1080p.mp4"
SHORT_CLIP = REPO / "runs" / "bench" / "astronaut_10s_1080p.mp4"
SHORT_SECONDS = 10
SIZE = (1920, 1080)
FPS = 30
SECONDS = 35
# Stated bound (README, issue 9): the streamed all-frames scan stays within this many MiB
# above the loaded scanner, whatever the length of the video.
BOUND_ABOVE_LOADED_MIB = 1024

_CHILD = r"""
import json, resource, sys, time
mode, clip = sys.argv[1], sys.argv[2]
if mode.endswith("_pooled"):
    mode = mode[: -len("_pooled")]  # glibc's default: freed frame buffers stay in its heap
else:
    from fakescope.scan.memory import keep_large_buffers_unpooled
    keep_large_buffers_unpooled()  # as every scan worker does
t0 = time.perf_counter()
if mode == "decode":
    from fakescope.media import iter_frames
    n = sum(1 for _ in iter_frames(clip, "all"))
    out = {"frames": n}
else:
    from fakescope.scan import ScanSettings
    sampling = {"loaded": "uniform:32", "uniform": "uniform:32", "all": "all"}[mode]
    scanner = ScanSettings(sampling=sampling).build()
    out = {}
    if mode != "loaded":
        r = scanner.scan_file(clip)
        out = {"verdict": r.verdict, "tracks": len(r.tracks),
               "crops": sum(len(t.frames) for t in r.tracks), "frames_read": r.frames_read}
out["seconds"] = time.perf_counter() - t0
out["peak_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps(out))
"""


def make_clip(path: Path, seconds: int = SECONDS) -> Path:
    """The astronaut's face (about 220 px) drifting across a textured 1080p frame."""
    if path.exists():
        return path
    from skimage import data, transform

    path.parent.mkdir(parents=True, exist_ok=True)
    # the head and shoulders of the astronaut (face about 220 px high once scaled)
    face = data.astronaut()[20:260, 130:330]
    face = (transform.resize(face, (480, 400), anti_aliasing=True) * 255).astype(np.uint8)
    rng = np.random.default_rng(0)
    background = rng.integers(60, 200, (SIZE[1] // 8, SIZE[0] // 8, 3), dtype=np.uint8)
    background = np.kron(background, np.ones((8, 8, 1), np.uint8))
    tmp = path.with_suffix(".part.mp4")
    with av.open(str(tmp), "w") as container:
        stream = container.add_stream("libx264", rate=Fraction(FPS), options={"preset": "veryfast"})
        stream.width, stream.height, stream.pix_fmt = SIZE[0], SIZE[1], "yuv420p"
        n = FPS * seconds
        for i in range(n):
            frame = background.copy()
            x = int(200 + (SIZE[0] - 800) * (0.5 + 0.5 * np.sin(2 * np.pi * i / n)))
            frame[300:780, x : x + 400] = face
            vf = av.VideoFrame.from_ndarray(frame, format="rgb24")
            vf.pts = i
            container.mux(stream.encode(vf))
        container.mux(stream.encode(None))
    os.replace(tmp, path)
    return path


def measure(mode: str, clip: Path) -> dict:
    proc = subprocess.run([sys.executable, "-c", _CHILD, mode, str(clip)], capture_output=True,
                          text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "scan_memory.md")
    args = ap.parse_args()
    t_start = time.perf_counter()
    load = os.getloadavg()
    clip = make_clip(CLIP)
    short = make_clip(SHORT_CLIP, seconds=SHORT_SECONDS)
    with av.open(str(clip)) as c:
        n_frames = c.streams.video[0].frames
    rows = {mode: measure(mode, clip) for mode in ("loaded", "decode", "uniform", "all")}
    rows["all_short"] = measure("all", short)
    rows["all_pooled"] = measure("all_pooled", clip)
    base = rows["loaded"]["peak_mib"]
    held = n_frames * SIZE[0] * SIZE[1] * 3 / 2**20
    above = rows["all"]["peak_mib"] - base
    growth = rows["all"]["peak_mib"] - rows["all_short"]["peak_mib"]
    lines = [
        "# Peak memory of a scan with --sampling all",
        "",
        "Command: `.venv/bin/python benchmarks/bench_scan_memory.py`",
        "",
        f"Machine: {os.cpu_count()} CPUs, {platform.machine()}, Python {platform.python_version()}; "
        f"load average at start {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f} (shared machine: "
        "seconds are indicative, memory is not affected). "
        f"Clip: {clip.name}, generated, {SIZE[0]}x{SIZE[1]}, {SECONDS} s, {n_frames} frames. "
        f"Default scanner (packaged detector, {DEFAULT_FACE_DETECTOR} faces). Each row is a fresh process; peak = its "
        "`ru_maxrss`.",
        "",
        "| run | peak MiB | x loaded | seconds | notes |",
        "|---|---|---|---|---|",
    ]
    notes = {
        "loaded": "scanner built, nothing scanned (baseline)",
        "decode": f"{rows['decode'].get('frames')} frames decoded and dropped",
        "uniform": f"{rows['uniform'].get('crops')} crops in {rows['uniform'].get('tracks')} track(s), "
                   f"{rows['uniform'].get('verdict')}",
        "all": f"{rows['all'].get('frames_read')} frames streamed, {rows['all'].get('crops')} crops in "
               f"{rows['all'].get('tracks')} track(s), {rows['all'].get('verdict')}",
        "all_short": f"the {SHORT_SECONDS}-s clip: {rows['all_short'].get('frames_read')} frames, "
                     f"{rows['all_short'].get('crops')} crops",
        "all_pooled": "as scan all, without fakescope.scan.memory (glibc's default heap)",
    }
    names = {"loaded": "loaded", "decode": "decode all", "uniform": "scan uniform:32",
             "all": "scan all (streamed)", "all_short": f"scan all, {SHORT_SECONDS}-s clip",
             "all_pooled": "scan all, default malloc"}
    for mode, r in rows.items():
        lines.append(f"| {names[mode]} | {r['peak_mib']:.0f} | {r['peak_mib'] / base:.2f} | "
                     f"{r['seconds']:.1f} | {notes[mode]} |")
    verdict = "within" if above <= BOUND_ABOVE_LOADED_MIB else "OVER"
    crops_mib = rows["all"].get("crops", 0) * 160 * 160 * 3 / 2**20
    lines += [
        "",
        f"Holding every decoded frame at once (the scan before streaming) would need "
        f"{held:.0f} MiB for the frames alone.",
        "",
        f"Bound: the streamed all-frames scan stays within {BOUND_ABOVE_LOADED_MIB} MiB above the "
        f"loaded scanner; measured {above:.0f} MiB above: **{verdict}** the bound. From the "
        f"{SHORT_SECONDS}-s to the {SECONDS}-s clip (3.5x the frames) the peak changed by "
        f"{growth:+.0f} MiB; what does grow with length is the face crops kept (one per face per "
        f"frame at the detector's input size: {crops_mib:.0f} MiB here), not the frames. "
        "Without `fakescope.scan.memory` (glibc's heap keeping freed frame buffers) the same "
        f"scan peaks at {rows['all_pooled']['peak_mib']:.0f} MiB.",
        "",
        f"Benchmark took {time.perf_counter() - t_start:.0f} s.",
        "",
    ]
    atomic_write_text(args.out, "\n".join(lines))
    print("\n".join(lines))
    return 0 if verdict == "within" else 1


if __name__ == "__main__":
    sys.exit(main())
