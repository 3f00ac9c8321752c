"""Many inputs: list them, reuse what an earlier run already answered, scan the rest one by one
(one bad input never stops the others), and keep a journal that survives a kill.

Journal records are matched to inputs by canonical path (links and ``..`` resolved, relative
paths against the current folder) and, failing that, by file identity (device and inode), so
naming the same folder another way (absolute vs relative, through a link) neither rescans nor
journals a file twice; a record is reused only if the file still has its sha256.

The scanner is anything with `scan_file(path, explain_dir)`, `error_result(path, exc)` and a
`settings_key`: a `Scanner` in this process, or an `IsolatedScanner` that runs one in a worker
process (a crash, hang or memory blow-up then costs one input, not the batch).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path
from typing import Protocol

from fakescope.errors import FakescopeError
from fakescope.output.atomic import RecordLog, atomic_write_text
from fakescope.output.formats import result_from_dict, result_to_dict, to_json_line
from fakescope.types import ScanResult

log = logging.getLogger(__name__)


class FileScanner(Protocol):
    settings_key: str

    def scan_file(self, path: str | Path, explain_dir: str | Path | None = None,
                  next_path: str | Path | None = None) -> ScanResult: ...

    def error_result(self, path: str | Path, exc: BaseException | str) -> ScanResult: ...


def canonical(path: str | os.PathLike) -> str:
    """The path with links, ``.`` and ``..`` resolved, absolute: one spelling per file."""
    return os.path.realpath(path)


def identity(path: str | os.PathLike) -> tuple[int, int] | None:
    """(device, inode) of the file at `path`, None where it cannot be stat'ed."""
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return None
    return st.st_dev, st.st_ino


class RecordIndex:
    """Earlier records by canonical path, and by file identity for paths spelled in a way
    that no longer resolves to the same place (later records replace earlier ones)."""

    def __init__(self, records: Iterable[dict]) -> None:
        self.by_path: dict[str, dict] = {}
        for rec in records:
            self.by_path[canonical(rec["path"])] = rec
        self._by_id: dict[tuple[int, int], dict] | None = None

    def get(self, path: str | os.PathLike) -> dict | None:
        rec = self.by_path.get(canonical(path))
        if rec is not None:
            return rec
        if self._by_id is None:  # built on the first miss only: a stat per record
            self._by_id = {}
            for real, r in self.by_path.items():
                ident = identity(real)
                if ident is not None:
                    self._by_id[ident] = r
        ident = identity(path)
        return self._by_id.get(ident) if ident is not None else None


def reusable(record: dict, key: str, retry_errors: bool = False) -> bool:
    """A journal record may stand for a new scan of its path if it was made with the same
    settings (detector weights, threshold, sampling, face detector, policy, aggregation, ...:
    `Scanner.settings`) from known bytes. Inputs fakescope failed on are not tried again
    unless `retry_errors` (a file that crashes its worker would crash it again)."""
    return (
        bool(record.get("sha256"))
        and record.get("settings_key") == key
        and (record.get("verdict") != "error" or not retry_errors)
    )


def scan_batch(
    scanner: FileScanner,
    paths: Iterable[str | Path],
    journal: str | Path | None = None,
    explain_dir: str | Path | None = None,
    progress: bool = False,
    on_result: Callable[[ScanResult], None] | None = None,
    retry_errors: bool = False,
    read_ahead: bool = False,
) -> list[ScanResult]:
    """Scan every input that `media.iter_media_files` finds in `paths` (files, folders,
    globs): each gets exactly one result, in input order (resumed ones included).

    journal: a JSON-lines file (`RecordLog`): each finished input is appended and fsynced as
    soon as it is done, so a killed run loses nothing already written; a re-run skips inputs
    whose latest record is `reusable` and whose file still has the recorded sha256.
    At the end the journal is rewritten atomically with one line per input (latest wins).
    on_result: called with each result, in input order, as it becomes available.
    read_ahead: each scan is told the next input that will be scanned (not one a journal
    record may answer), so that its decode and face search overlap the current input's
    scoring. Off by default: on 2 cores, already busy with the decoder's threads, it was
    slower (benchmarks/results/scan_clip.md); it is meant for machines with idle cores.
    """
    from tqdm import tqdm

    from fakescope.media import iter_media_files, sha256_file

    files = iter_media_files([str(p) for p in paths])
    record_log = RecordLog(journal) if journal is not None else None
    done = RecordIndex(record_log.records() if record_log is not None else ())
    files = list(files)

    def may_reuse(i: int) -> bool:
        prev = done.get(files[i])
        return prev is not None and reusable(prev, scanner.settings_key, retry_errors)

    def next_to_scan(i: int) -> Path | None:
        if not read_ahead:
            return None
        return next((files[j] for j in range(i + 1, len(files)) if not may_reuse(j)), None)

    results = []
    for i, path in enumerate(tqdm(files, desc="scan", unit="file", disable=not progress, leave=False)):
        key = str(path)
        result = None
        prev = done.get(path)
        if prev is not None and reusable(prev, scanner.settings_key, retry_errors):
            try:
                if sha256_file(path) == prev["sha256"]:
                    result = replace(result_from_dict(prev), path=key)  # as named this time
            except FakescopeError:
                pass  # now unreadable: scan it and report that
        if result is None:
            try:
                result = scanner.scan_file(path, explain_dir=explain_dir,
                                           next_path=next_to_scan(i))
            except (KeyboardInterrupt, SystemExit):
                raise
            except Exception as exc:  # noqa: BLE001 - recorded per input; the batch goes on
                log.warning("%s: fakescope failed on this input", key, exc_info=True)
                result = scanner.error_result(key, exc)
            if record_log is not None:
                record_log.append(result_to_dict(result))
        results.append(result)
        if on_result is not None:
            on_result(result)
    if record_log is not None:
        compact_journal(Path(journal), results)
    return results


def compact_journal(journal: Path, results: list[ScanResult]) -> None:
    """Rewrite the journal with one line per file (canonical path): records of files outside
    this run first (as they were), then this run's results in input order."""
    mine = {canonical(r.path) for r in results}
    mine_ids = {identity(r.path) for r in results} - {None}
    latest: dict[str, dict] = {}
    for rec in RecordLog(journal).records():
        real = canonical(rec["path"])
        if real not in mine and identity(real) not in mine_ids:
            latest[real] = rec  # later lines replace earlier ones
    lines = [json.dumps(rec, ensure_ascii=False) for rec in latest.values()]
    lines += [to_json_line(r) for r in results]
    atomic_write_text(journal, "".join(line + "\n" for line in lines))
