"""Per-input isolation in worker processes: a crash, a hang or a memory blow-up costs one input;
a re-run does not retry it unless asked; a scan killed with SIGKILL resumes to the same results.

Worker faults come from the test-only hook `fakescope.scan.workers.FAULT_ENV`. The detector is
an untrained bundle: only plumbing is checked, never a verdict's correctness.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from bundle_factory import make_bundle
from media_factory import make_image, make_video
from PIL import Image

from fakescope.output.formats import result_to_dict
from fakescope.scan import (
    EXIT_INCOMPLETE,
    IsolatedScanner,
    Limits,
    ScanSettings,
    WorkerStartError,
    exit_code,
    scan_batch,
)
from fakescope.scan.workers import FAULT_ENV


def _comparable(rec: dict) -> dict:
    """A result without its timings (the only field that differs between two runs)."""
    return {k: v for k, v in rec.items() if k != "timings_s"}


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    root = tmp_path_factory.mktemp("iso")
    bundle, _, _ = make_bundle(root / "fb.pt", threshold=0.5)
    media = root / "media"
    media.mkdir()
    make_image(media / "a_face.png", size=(256, 256))
    make_video(media / "b_poison.mp4", n_frames=8, size=(320, 240))
    make_image(media / "c_blank.png", size=(128, 128), blank=True)
    settings = ScanSettings(weights=str(bundle), runtime="torch", min_face=24,
                            sampling="uniform:4")
    return {"root": root, "bundle": bundle, "media": media, "settings": settings}


def test_worker_gives_the_in_process_results(env):
    inputs = sorted(env["media"].iterdir())
    local = scan_batch(env["settings"].build(), inputs)
    with IsolatedScanner(env["settings"]) as worker:
        isolated = scan_batch(worker, inputs)
        assert worker.restarts == 0
    assert [_comparable(result_to_dict(r)) for r in isolated] == [
        _comparable(result_to_dict(r)) for r in local]


def test_poison_pill_is_recorded_and_not_retried(env, tmp_path, monkeypatch):
    journal = tmp_path / "j.jsonl"
    monkeypatch.setenv(FAULT_ENV, "crash:poison")
    with IsolatedScanner(env["settings"]) as worker:
        results = scan_batch(worker, [env["media"]], journal=journal)
        assert worker.restarts == 1  # a new worker for the input after the crash
    by_name = {Path(r.path).name: r for r in results}
    assert by_name["b_poison.mp4"].verdict == "error"
    assert by_name["b_poison.mp4"].reason == "error: worker crashed: killed by SIGSEGV"
    assert by_name["a_face.png"].verdict in ("real", "fake")
    assert by_name["c_blank.png"].reason == "no_face"
    assert exit_code(results) == EXIT_INCOMPLETE

    # The re-run would now hang on it if it tried (2-s limit): it does not try...
    monkeypatch.setenv(FAULT_ENV, "hang:poison")
    limits = Limits(timeout_s=2.0)
    with IsolatedScanner(env["settings"], limits) as worker:
        again = scan_batch(worker, [env["media"]], journal=journal)
    assert [result_to_dict(r) for r in again] == [result_to_dict(r) for r in results]
    # ... unless asked: then the hang is cut at the time limit and recorded.
    with IsolatedScanner(env["settings"], limits) as worker:
        retried = scan_batch(worker, [env["media"]], journal=journal, retry_errors=True)
    poison = next(r for r in retried if r.path.endswith("b_poison.mp4"))
    assert poison.reason == "error: timeout: still running after 2 s"
    assert [r.reason for r in retried if r is not poison] == [
        r.reason for r in results if not r.path.endswith("b_poison.mp4")]


def test_a_crash_while_reading_ahead_costs_only_the_poison(env, tmp_path, monkeypatch):
    """With read-ahead the poison first kills the worker while a_face is scored: a_face is
    then scanned again, alone, in a new worker and keeps its result; the poison dies again in
    its own turn and is the one recorded."""
    monkeypatch.setenv(FAULT_ENV, "crash:poison")
    inputs = sorted(env["media"].iterdir())
    with IsolatedScanner(env["settings"]) as worker:
        results = scan_batch(worker, inputs, read_ahead=True)
        assert worker.restarts == 2
    monkeypatch.delenv(FAULT_ENV)
    with IsolatedScanner(env["settings"]) as worker:
        clean = scan_batch(worker, inputs)
    by_name = {Path(r.path).name: r for r in results}
    assert by_name["b_poison.mp4"].reason == "error: worker crashed: killed by SIGSEGV"
    assert [_comparable(result_to_dict(r)) for r in results if "poison" not in r.path] == [
        _comparable(result_to_dict(r)) for r in clean if "poison" not in r.path]


def test_memory_cap_stops_a_runaway_input(env, monkeypatch):
    monkeypatch.setenv(FAULT_ENV, "hog:a_face")
    with IsolatedScanner(env["settings"], Limits(memory_mb=1200)) as worker:
        hog, blank = scan_batch(worker, [env["media"] / "a_face.png", env["media"] / "c_blank.png"])
    assert hog.verdict == "error" and "out of memory" in hog.reason and "1200 MiB" in hog.reason
    assert blank.reason == "no_face"


def test_bad_settings_stop_the_worker_with_the_cause(env, tmp_path):
    missing = tmp_path / "nope.pt"
    with pytest.raises(WorkerStartError, match="nope.pt"):
        IsolatedScanner(ScanSettings(weights=str(missing))).start()


# ---------------------------------------------------------------- kill -9 and resume


def _corpus(folder: Path, n: int) -> None:
    """n small images: faces at a few sizes, noise, flat colours (fast to scan)."""
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(n):
        path = folder / f"img_{i:03d}.png"
        if i % 5 == 0:
            make_image(path, size=(96 + 8 * (i % 4), 96 + 8 * (i % 4)))
        elif i % 5 == 1:
            Image.fromarray(rng.integers(0, 256, (48, 48, 3), dtype=np.uint8)).save(path)
        else:
            Image.fromarray(np.full((40, 40, 3), (i * 7) % 256, np.uint8)).save(path)


def _scan_cmd(env, folder: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "fakescope", "scan", str(folder), "--json", "--out", str(out),
            "--weights", str(env["bundle"]), "--runtime", "torch", "--face-detector", "haar",
            "--min-face", "20", "--no-progress"]


def _lines(path: Path) -> int:
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def test_sigkill_midway_then_rerun_gives_each_result_once(env, tmp_path):
    folder = tmp_path / "corpus"
    _corpus(folder, 200)
    full = tmp_path / "full.jsonl"
    done = subprocess.run(_scan_cmd(env, folder, full), capture_output=True, text=True, timeout=600)
    assert done.returncode in (0, 1), done.stderr
    expected = [_comparable(json.loads(line)) for line in full.read_text().splitlines()]
    assert len(expected) == 200

    out = tmp_path / "killed.jsonl"
    stop_after = random.Random(os.getpid()).randint(20, 170)
    proc = subprocess.Popen(_scan_cmd(env, folder, out), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while _lines(out) < stop_after and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert 0 < _lines(out) < 200, "the kill should land mid-run"

    again = subprocess.run(_scan_cmd(env, folder, out), capture_output=True, text=True, timeout=600)
    assert again.returncode == done.returncode, again.stderr
    got = [_comparable(json.loads(line)) for line in out.read_text().splitlines()]
    assert len(got) == 200 and len({r["path"] for r in got}) == 200
    assert got == expected
