"""Load test of `fakescope serve` on loopback: N concurrent uploads of small, distinct face images
(distinct so that none is answered from the de-duplication store), then wait for every job.

Checks: no 5xx, every upload accepted (202) and finished (done), and the memory of the server
with its scan workers (the sum of their resident memory, sampled every 0.1 s) stays under the
stated bound. The server runs as a user would start it (`fakescope serve`, default detector).

    .venv/bin/python benchmarks/bench_serve_load.py                 # 50 uploads
    .venv/bin/python benchmarks/bench_serve_load.py --uploads 200
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
from PIL import Image
from skimage import data

from fakescope.output.atomic import atomic_write_text

REPO = Path(__file__).resolve().parents[1]
BOUND_MIB = 3072  # server + its scan worker, resident, at any moment


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tree_rss_mib(pid: int) -> float:
    """Resident memory of a process and its children (Linux /proc)."""
    total = 0.0
    pids = [pid]
    for task in Path(f"/proc/{pid}/task").glob("*"):  # children of every thread: the runner
        try:                                               # threads start the scan workers
            pids += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            pass
    for p in pids:
        try:
            pages = int(Path(f"/proc/{p}/statm").read_text().split()[1])
            total += pages * os.sysconf("SC_PAGE_SIZE") / 2**20
        except (OSError, ValueError, IndexError):
            pass
    return total


def _images(n: int) -> list[bytes]:
    face = Image.fromarray(data.astronaut()).resize((256, 256))
    rng = np.random.default_rng(0)
    out = []
    for _ in range(n):
        arr = np.asarray(face).copy()
        arr[rng.integers(0, 256), rng.integers(0, 256)] = rng.integers(0, 256, 3)  # distinct bytes
        buf = io.BytesIO()
        Image.fromarray(arr).save(buf, format="PNG")
        out.append(buf.getvalue())
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--uploads", type=int, default=50)
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "serve_load.md")
    args = ap.parse_args()
    load = os.getloadavg()
    port = _port()
    data_dir = Path(tempfile.mkdtemp(prefix="fakescope-load-"))
    server = subprocess.Popen([sys.executable, "-m", "fakescope", "serve", "--port", str(port),
                               "--data-dir", str(data_dir)], stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    peak = [0.0]
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], _tree_rss_mib(server.pid))
            time.sleep(0.1)

    threading.Thread(target=watch, daemon=True).start()
    try:
        t0 = time.monotonic()
        while True:
            try:
                httpx.get(base + "/api/health", timeout=1).raise_for_status()
                break
            except httpx.HTTPError:
                if time.monotonic() - t0 > 120:
                    raise SystemExit("the server did not come up") from None
                time.sleep(0.2)
        images = _images(args.uploads)
        t_start = time.monotonic()

        def submit(i: int) -> tuple[int, str | None]:
            r = httpx.post(base + "/api/scans", files={"file": (f"face_{i}.png", images[i])},
                           timeout=120)
            return r.status_code, r.json().get("id") if r.status_code == 202 else None

        with ThreadPoolExecutor(max_workers=args.uploads) as pool:
            submitted = list(pool.map(submit, range(args.uploads)))
        t_accepted = time.monotonic() - t_start
        codes = [c for c, _ in submitted]
        ids = [i for _, i in submitted if i]
        statuses: dict[str, str] = {}
        while len(statuses) < len(ids) and time.monotonic() - t_start < 1800:
            for job_id in ids:
                if job_id not in statuses:
                    job = httpx.get(f"{base}/api/scans/{job_id}", timeout=30).json()
                    if job["status"] in ("done", "failed"):
                        statuses[job_id] = job["status"]
            time.sleep(0.5)
        t_done = time.monotonic() - t_start
    finally:
        stop.set()
        server.terminate()
        server.wait(timeout=60)
    n5xx = sum(c >= 500 for c in codes)
    done = sum(s == "done" for s in statuses.values())
    ok = n5xx == 0 and codes.count(202) == args.uploads and done == args.uploads and peak[0] <= BOUND_MIB
    lines = [
        "# `fakescope serve` under load",
        "",
        f"Command: `.venv/bin/python benchmarks/bench_serve_load.py --uploads {args.uploads}`",
        "",
        f"Machine: {os.cpu_count()} CPUs, {platform.machine()}, Python {platform.python_version()}; "
        f"load average at start {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f} (a shared machine: "
        "seconds are indicative). Server: `fakescope serve` with its defaults (packaged detector, "
        "BlazeFace, one scan worker); client: one thread per upload, all at once, each a distinct "
        "256x256 PNG of skimage's astronaut.",
        "",
        "| measure | value |",
        "|---|---|",
        f"| uploads | {args.uploads} |",
        f"| answers | " + ", ".join(f"{c}: {codes.count(c)}" for c in sorted(set(codes))) + " |",
        f"| 5xx | {n5xx} |",
        f"| jobs done / failed | {done} / {sum(s == 'failed' for s in statuses.values())} |",
        f"| all accepted after | {t_accepted:.1f} s |",
        f"| all finished after | {t_done:.1f} s ({t_done / max(done, 1):.2f} s per scan, one worker) |",
        f"| peak memory, server + worker | {peak[0]:.0f} MiB (bound {BOUND_MIB} MiB) |",
        "",
        f"Result: **{'pass' if ok else 'FAIL'}**.",
        "",
    ]
    atomic_write_text(args.out, "\n".join(lines))
    print("\n".join(lines))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
