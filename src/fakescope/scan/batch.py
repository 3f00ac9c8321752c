"""Many inputs: list them, reuse what an earlier run already answered, scan the rest one by one
(one bad input never stops the others), and keep a journal that survives a kill.

The scanner is anything with `scan_file(path, explain_dir)`, `error_result(path, exc)` and a
`settings_key`: a `Scanner` in this process, or an `IsolatedScanner` that runs one in a worker
process (a crash, hang or memory blow-up then costs one input, not the batch).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
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
    done: dict[str, dict] = {}
    if record_log is not None:
        for rec in record_log.records():  # the latest record of a path decides
            done[rec["path"]] = rec
    files = list(files)

    def may_reuse(i: int) -> bool:
        prev = done.get(str(files[i]))
        return prev is not None and reusable(prev, scanner.settings_key, retry_errors)

    def next_to_scan(i: int) -> Path | None:
        if not read_ahead:
            return None
        return next((files[j] for j in range(i + 1, len(files)) if not may_reuse(j)), None)

    results = []
    for i, path in enumerate(tqdm(files, desc="scan", unit="file", disable=not progress, leave=False)):
        key = str(path)
        result = None
        prev = done.get(key)
        if prev is not None and reusable(prev, scanner.settings_key, retry_errors):
            try:
                if sha256_file(path) == prev["sha256"]:
                    result = result_from_dict(prev)
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
    """Rewrite the journal with one line per path: records of paths outside this run first
    (as they were), then this run's results in input order."""
    mine = {r.path for r in results}
    latest: dict[str, dict] = {}
    for rec in RecordLog(journal).records():
        if rec.get("path") not in mine:
            latest[rec["path"]] = rec  # later lines replace earlier ones
    lines = [json.dumps(rec, ensure_ascii=False) for rec in latest.values()]
    lines += [to_json_line(r) for r in results]
    atomic_write_text(journal, "".join(line + "\n" for line in lines))
