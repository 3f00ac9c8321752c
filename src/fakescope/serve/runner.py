"""Runners: threads that take queued jobs from the store and scan them through the CLI's own
path — an `IsolatedScanner` (a worker process per runner, with the per-file time and memory
limits) — so a file that crashes a decoder fails its job, not the server."""

from __future__ import annotations

import logging
import shutil
import threading
from dataclasses import replace
from pathlib import Path

from fakescope.output.formats import result_to_dict
from fakescope.scan import IsolatedScanner, Limits, ScanSettings, WorkerStartError
from fakescope.serve.store import Job, JobStore

log = logging.getLogger(__name__)


class Runners:
    """`n` runner threads; `wake()` after queueing a job so one picks it up at once."""

    def __init__(self, store: JobStore, artefacts: Path, uploads: Path, n: int = 1,
                 limits: Limits | None = None) -> None:
        self.store, self.artefacts, self.uploads = store, artefacts, uploads
        self.limits = limits or Limits()
        self._wake = threading.Condition()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._loop, name=f"fakescope-runner-{i}",
                                          daemon=True) for i in range(max(1, n))]

    def start(self) -> None:
        self.store.requeue_interrupted()
        self.remove_orphans()
        for t in self._threads:
            t.start()

    def remove_orphans(self) -> list[Path]:
        """Remove job folders under uploads/ and artefacts/ whose job is not in the store."""
        ids = self.store.ids()
        gone = [d for top in (self.uploads, self.artefacts) if top.is_dir()
                for d in top.iterdir() if d.name not in ids]
        for d in gone:
            log.info("removing %s: no job owns it", d)
            if d.is_dir() and not d.is_symlink():
                shutil.rmtree(d)
            else:
                d.unlink()
        return gone

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        self.wake(all_threads=True)
        for t in self._threads:
            t.join(timeout=timeout)

    def wake(self, all_threads: bool = False) -> None:
        with self._wake:
            if all_threads:
                self._wake.notify_all()
            else:
                self._wake.notify()

    def _loop(self) -> None:
        scanner: IsolatedScanner | None = None
        current: ScanSettings | None = None
        try:
            while not self._stop.is_set():
                job = self.store.claim_next()
                if job is None:
                    with self._wake:
                        self._wake.wait(timeout=1.0)
                    continue
                settings = ScanSettings(**job.settings)
                if scanner is None or settings != current:
                    if scanner is not None:
                        scanner.close()
                    scanner, current = None, settings
                    try:
                        scanner = IsolatedScanner(settings, self.limits).start()
                    except WorkerStartError as exc:
                        self.store.finish(job.id, None, error=f"could not start the scan: {exc}")
                        continue
                self._run(scanner, job)
        finally:
            if scanner is not None:
                scanner.close()

    def _run(self, scanner: IsolatedScanner, job: Job) -> None:
        out = self.artefacts / job.id
        try:
            record = result_to_dict(scanner.scan_file(job.input_path, explain_dir=out))
        except Exception as exc:  # noqa: BLE001 - the job fails; the runner goes on
            log.warning("job %s: scan failed", job.id, exc_info=True)
            finished = self.store.finish(job.id, None, error=f"{type(exc).__name__}: {exc}")
        else:
            if job.origin is not None:  # a path job scans its copy; the record names the original
                record["path"] = job.origin
            finished = self.store.finish(job.id, record)
        if not finished:
            log.info("job %s was deleted while it ran: removing what its scan wrote", job.id)
            shutil.rmtree(out, ignore_errors=True)
            shutil.rmtree(self.uploads / job.id, ignore_errors=True)


def settings_for(base: ScanSettings, detector: str | None, sampling: str | None,
                 threshold: float | None) -> ScanSettings:
    """The server's settings with what a request may change (validated by the caller)."""
    changes = {}
    if detector:
        changes["detector"] = detector
        if base.weights and detector != base.detector:
            changes["weights"] = None  # the server's weights belong to its own detector
    if sampling:
        changes["sampling"] = sampling
    if threshold is not None:
        changes["threshold"] = threshold
    return replace(base, **changes)
