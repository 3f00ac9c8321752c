"""Scan each input in a worker process, so that an input which crashes the decoder, hangs it or
eats the machine's memory costs that input, not the batch.

One worker at a time (the detector already uses every core through its threads), started with
``spawn`` — a fork of a process that has run torch can deadlock in OpenMP — and rebuilt after
each death. The parent never loads a model: it sends paths and receives result dicts.

Limits per input: `timeout_s` of wall time, and `memory_mb` of resident memory (checked by
the parent every `POLL_S`, and set as the worker's address-space limit on CPU-only Linux
workers, where a runaway allocation then fails inside the worker instead of waking the OOM
killer). A worker over a limit is killed; its input gets ``error: timeout ...`` or
``error: out of memory ...``; a worker killed by a signal gives ``error: worker crashed ...``.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from fakescope.errors import FakescopeError
from fakescope.scan.outcome import error_result
from fakescope.scan.settings import ScanSettings
from fakescope.types import DetectorInfo, ScanResult

log = logging.getLogger(__name__)

POLL_S = 0.1
# Test-only: "crash:<text>", "hang:<text>" or "hog:<text>" makes the worker die, hang or
# allocate without bound on inputs whose path contains <text> (the suite's poison pills).
FAULT_ENV = "FAKESCOPE_TEST_WORKER_FAULT"
_START_TIMEOUT_S = 600.0


class WorkerStartError(FakescopeError):
    """The worker could not build its scanner (bad weights, bad options): nothing can be scanned."""


@dataclass(frozen=True)
class Limits:
    timeout_s: float | None = 600.0  # per input; None = no limit
    memory_mb: float | None = 8192.0  # resident memory per worker; None = no limit


def _worker_main(conn, settings: ScanSettings, memory_mb: float | None) -> None:
    """Worker loop: build the scanner once, then answer ("scan", path, explain_dir, next_path)
    requests."""
    from fakescope.output.formats import result_to_dict

    from fakescope.scan.memory import keep_large_buffers_unpooled

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    keep_large_buffers_unpooled()
    try:
        scanner = settings.build()
        _cap_address_space(memory_mb, settings.device)
    except (FakescopeError, KeyError, ValueError) as exc:  # the user's settings: say why
        conn.send(("start_error", str(exc).strip("'\"")))
        return
    except Exception as exc:  # noqa: BLE001 - reported to the parent, which stops the run
        conn.send(("start_error", f"{type(exc).__name__}: {exc}"))
        return
    info = scanner.detector.info
    conn.send(("ready", {"settings_key": scanner.settings_key, "threshold": scanner.threshold,
                         "detector": [info.name, info.version, info.weights_sha256]}))
    fault = os.environ.get(FAULT_ENV, "")
    if fault:  # a poison input strikes when it is read, ahead of its turn or in it
        read = scanner.find_faces

        def faulty_read(path):
            _maybe_fault(fault, path)
            return read(path)

        scanner.find_faces = faulty_read
    # From here until this input's result, a death may be the next input's fault.
    scanner.on_read_ahead = lambda _next: conn.send(("ahead", None))
    while True:
        try:
            request = conn.recv()
        except (EOFError, OSError):
            return  # the parent is gone
        if request is None:
            return
        _, path, explain_dir, next_path = request
        try:
            result = scanner.scan_file(path, explain_dir=explain_dir, next_path=next_path)
        except MemoryError:
            result = scanner.error_result(path, f"out of memory (over the {memory_mb:.0f} MiB cap)")
        except Exception as exc:  # noqa: BLE001 - recorded per input; the batch goes on
            log.warning("%s: fakescope failed on this input", path, exc_info=True)
            result = scanner.error_result(path, exc)
        try:
            conn.send(("result", result_to_dict(result)))
        except (BrokenPipeError, OSError):
            return  # the parent is gone (killed): nobody to answer


def _cap_address_space(memory_mb: float | None, device: str | None) -> None:
    """RLIMIT_AS on CPU-only workers: CUDA reserves address space far beyond its use."""
    if memory_mb is None or (device or "cpu").startswith("cuda"):
        return
    try:
        import resource

        from fakescope.device import cpu_without_torch

        if not cpu_without_torch(device):  # CUDA picked by default
            return
        # torch maps gigabytes of address space when it is first imported, which an ONNX scan
        # may do only later (the Grad-CAM overlays of `fakescope serve`): imported after the
        # cap, that import fails. Imported now, its mappings count in the base below.
        import importlib.util

        if importlib.util.find_spec("torch") is not None:
            import torch  # noqa: F401

        limit = int(memory_mb * 2**20) + _address_space_now()
        resource.setrlimit(resource.RLIMIT_AS, (limit, resource.getrlimit(resource.RLIMIT_AS)[1]))
    except (ImportError, ValueError, OSError):
        pass  # not Linux, or a hard limit already lower: the parent's RSS check still holds


def _address_space_now() -> int:
    """Bytes of address space mapped now (libraries, model): the cap is on top of it."""
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):
        return 0


def _maybe_fault(fault: str, path: str) -> None:
    kind, _, needle = fault.partition(":")
    if not needle or needle not in str(path):
        return
    if kind == "crash":
        os.kill(os.getpid(), signal.SIGSEGV)
    elif kind == "hang":
        time.sleep(10**6)
    elif kind == "hog":
        hoard = []
        while True:
            hoard.append(bytearray(64 * 2**20))
            time.sleep(0.01)


def _rss_mb(pid: int) -> float | None:
    """Resident memory of a process (Linux /proc); None where it cannot be read."""
    try:
        with open(f"/proc/{pid}/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        return None


def _death(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        hint = " (the system may have run out of memory)" if -exitcode == signal.SIGKILL else ""
        return f"worker crashed: killed by {name}{hint}"
    return f"worker crashed: exited with status {exitcode}"


class IsolatedScanner:
    """A `Scanner` in a worker process, used like one by `scan_batch`."""

    def __init__(self, settings: ScanSettings, limits: Limits | None = None) -> None:
        self.settings = settings
        self.limits = limits or Limits()
        self._ctx = mp.get_context("spawn")
        self._proc = None
        self._conn = None
        self.settings_key: str | None = None
        self.threshold: float | None = None
        self.detector: DetectorInfo | None = None
        self.restarts = 0

    # -- lifecycle ----------------------------------------------------------------------
    def start(self) -> IsolatedScanner:
        """Start a worker and wait until its scanner is built. Raises WorkerStartError."""
        parent, child = self._ctx.Pipe(duplex=True)
        proc = self._ctx.Process(target=_worker_main, name="fakescope-scan-worker",
                                 args=(child, self.settings, self.limits.memory_mb), daemon=True)
        proc.start()
        child.close()
        deadline = time.monotonic() + _START_TIMEOUT_S
        while not parent.poll(POLL_S):
            if not proc.is_alive() or time.monotonic() > deadline:
                proc.kill()
                proc.join()
                raise WorkerStartError(f"the scan worker did not start ({_death(proc.exitcode)})")
        try:
            kind, payload = parent.recv()
        except (EOFError, OSError) as exc:
            proc.join()
            raise WorkerStartError(f"the scan worker did not start ({_death(proc.exitcode)})") from exc
        if kind != "ready":
            proc.join()
            raise WorkerStartError(payload)
        key = payload["settings_key"]
        if self.settings_key is not None and key != self.settings_key:
            raise WorkerStartError("a restarted worker resolved different settings")
        self.settings_key, self.threshold = key, payload["threshold"]
        self.detector = DetectorInfo(*payload["detector"])
        self._proc, self._conn = proc, parent
        return self

    def close(self) -> None:
        if self._proc is None:
            return
        try:
            self._conn.send(None)
        except (OSError, ValueError):
            pass
        self._proc.join(timeout=5)
        if self._proc.is_alive():
            self._proc.kill()
            self._proc.join()
        self._conn.close()
        self._proc = self._conn = None

    def __enter__(self) -> IsolatedScanner:
        return self if self._proc is not None else self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    # -- scanning -----------------------------------------------------------------------
    def error_result(self, path: str | Path, exc: BaseException | str) -> ScanResult:
        return error_result(path, exc, self.detector, self.threshold, self.settings_key)

    def scan_file(self, path: str | Path, explain_dir: str | Path | None = None,
                  next_path: str | Path | None = None) -> ScanResult:
        """`Scanner.scan_file` in the worker. With `next_path` the worker reads the next input
        while it scores this one; if the worker dies once that has started, the fault may be
        the next input's, so this one is scanned again, alone, in a new worker, and only a second
        death is its own."""
        result, lost = self._request(path, explain_dir, next_path)
        if lost == "ahead":
            log.info("%s: the worker died while %s was read ahead; scanning it again alone",
                     path, next_path)
            result, _ = self._request(path, explain_dir, None)
        return result

    def _request(self, path, explain_dir, next_path) -> tuple[ScanResult, str | None]:
        """(result, None | "own" | "ahead": whether the worker was lost, and whether it was
        reading the next input then)."""
        from fakescope.output.formats import result_from_dict

        if self._proc is not None and not self._proc.is_alive():
            self._proc.join()  # died after its last answer (reading ahead): not this input's
            self._conn.close()
            self._proc = self._conn = None
        if self._proc is None:
            self.start()
            self.restarts += 1
        path = str(path)
        self._conn.send(("scan", path, None if explain_dir is None else str(explain_dir),
                         None if next_path is None else str(next_path)))
        lost_on = "own"  # becomes "ahead" once the worker says it is reading the next input
        t0 = time.monotonic()
        timeout, cap = self.limits.timeout_s, self.limits.memory_mb
        while True:
            if self._conn.poll(POLL_S):
                try:
                    kind, payload = self._conn.recv()
                except (EOFError, OSError):
                    return self._lost(path, _death(self._wait_exit())), lost_on
                if kind == "ahead":
                    lost_on = "ahead"
                    continue
                return result_from_dict(payload), None
            if not self._proc.is_alive():
                return self._lost(path, _death(self._proc.exitcode)), lost_on
            if timeout is not None and time.monotonic() - t0 > timeout:
                return (self._lost(path, f"timeout: still running after {timeout:.0f} s", kill=True),
                        lost_on)
            rss = _rss_mb(self._proc.pid) if cap is not None else None
            if rss is not None and rss > cap:
                return self._lost(path, f"out of memory: the worker used {rss:.0f} MiB, over the "
                                        f"{cap:.0f} MiB cap", kill=True), lost_on

    def _wait_exit(self) -> int | None:
        self._proc.join(timeout=5)
        return self._proc.exitcode

    def _lost(self, path: str, cause: str, kill: bool = False) -> ScanResult:
        """The worker died or was killed on `path`: record it; the next input starts a new one."""
        if kill:
            self._proc.kill()
        self._proc.join()
        self._conn.close()
        self._proc = self._conn = None
        log.warning("%s: %s", path, cause)
        return self.error_result(path, cause)
