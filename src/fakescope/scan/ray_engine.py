"""`fakescope scan --engine ray`: the same scan, scheduled by Ray Data across a cluster.

    list inputs (driver) → front half: probe + decode + faces (`Scanner.find_faces`), CPU actors
    → back half: detector + aggregate (`Scanner.score_faces`), an actor pool, one GPU each when
      the cluster has GPUs → result records → Parquet shards (driver, atomic)

Every stage runs the local scan's own code; the engine only schedules it, so records, verdicts
and scores are the local scan's. Resume: inputs whose file (canonical path, else device and
inode: the local journal's matching) already has a row with the same settings key in the
output folder, with the same file bytes, are skipped. One row per input: after a run, rows that
a later row for the same file superseded (the input changed, or other settings) are removed
from their shards, each rewritten atomically, so `pandas.read_parquet(out)` shows each input
once. Exactly once: rows reach the driver
once per input (a Ray task retried after a worker died replaces its output, it does not add to
it) and a shard is renamed into place only when complete, so a killed run leaves no partial
shard to double-count.

What Ray does not give is the local engine's per-file process isolation: an input that kills
its actor is retried (`max_restarts`), and one that keeps killing it fails the run, after which
a re-run resumes from the shards written (use the local engine for hostile corpora).

A local Ray started here is shut down when the scan ends; a driver killed with SIGKILL cannot
do that, and Ray's own processes (raylet, GCS, dashboard and runtime-env agents) then stay:
`ray stop --force` ends them (docs/security.md).
"""

from __future__ import annotations

import json
import logging
import os
import pickle
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path

from fakescope.errors import FakescopeError
from fakescope.output.parquet import SHARD_GLOB, read_shards, write_shard
from fakescope.scan.settings import ScanSettings
from fakescope.types import ScanResult

log = logging.getLogger(__name__)

FRONT_BATCH = 4  # files per front-half call: a few videos' worth of decoding
BACK_BATCH = 8  # files per detector call (their crops are scored file by file, batched)
SHARD_ROWS = 64  # results per Parquet shard


class _FrontHalf:
    """Ray actor: media → faces. Emits the final record (abstain) or the pickled faces."""

    def __init__(self, settings: ScanSettings) -> None:
        from fakescope.scan.workers import FAULT_ENV

        self.scanner = settings.build()
        self.fault = os.environ.get(FAULT_ENV, "")

    def __call__(self, batch: dict) -> dict:
        from fakescope.output.formats import to_json_line
        from fakescope.types import ScanResult as _Result

        records, fronts = [], []
        for path in batch["path"]:
            path = str(path)
            _maybe_die_once(self.fault, path)
            try:
                front = self.scanner.find_faces(path)
            except Exception as exc:  # noqa: BLE001 - recorded per input, as in the local scan
                front = self.scanner.error_result(path, exc)
            if isinstance(front, _Result):
                records.append(to_json_line(front))
                fronts.append(b"")
            else:
                records.append("")
                fronts.append(pickle.dumps(front, protocol=pickle.HIGHEST_PROTOCOL))
        return {"path": list(map(str, batch["path"])), "record": records, "front": fronts}


class _BackHalf:
    """Ray actor: detector + aggregation of the people the front half found."""

    def __init__(self, settings: ScanSettings) -> None:
        self.scanner = settings.build()

    def __call__(self, batch: dict) -> dict:
        from fakescope.output.formats import to_json_line

        records = []
        for path, record, front in zip(batch["path"], batch["record"], batch["front"], strict=True):
            if record:
                records.append(str(record))
                continue
            try:
                result = self.scanner.score_faces(pickle.loads(front))
            except Exception as exc:  # noqa: BLE001 - recorded per input
                result = self.scanner.error_result(str(path), exc)
            records.append(to_json_line(result))
        return {"path": list(map(str, batch["path"])), "record": records}


def _maybe_die_once(fault: str, path: str) -> None:
    """Test hook: "die_once:<text>:<marker file>" kills the actor process the first time."""
    kind, _, rest = fault.partition(":")
    needle, _, marker = rest.partition(":")
    if kind == "die_once" and needle and needle in path and marker and not os.path.exists(marker):
        Path(marker).write_text("died")
        os._exit(1)


def scan_with_ray(
    settings: ScanSettings,
    paths: Iterable[str | os.PathLike],
    out_dir: str | os.PathLike,
    address: str | None = None,
    retry_errors: bool = False,
    on_result: Callable[[ScanResult], None] | None = None,
    num_cpus: int | None = None,
    shard_rows: int = SHARD_ROWS,
) -> tuple[list[ScanResult], int]:
    """Scan on Ray; returns (results in input order, number of inputs scanned in this run)."""
    import ray

    from fakescope.media import iter_media_files

    files = [str(p) for p in iter_media_files([str(p) for p in paths])]
    key = settings.build().settings_key  # validates the settings before any cluster work
    done = resumable(files, read_shards(out_dir), key, retry_errors)
    todo = [p for p in files if p not in done]
    if todo:
        started_here = not ray.is_initialized()
        if started_here:
            ray.init(address=address, num_cpus=num_cpus, include_dashboard=False,
                     log_to_driver=False, configure_logging=False)
        try:
            for result in _run_pipeline(ray, settings, todo, Path(out_dir), shard_rows):
                done[result.path] = result
                if on_result is not None:
                    on_result(result)
        finally:
            if started_here:
                ray.shutdown()
    drop_superseded_rows(out_dir)
    return [done[p] for p in files], len(todo)


def resumable(files: list[str], rows: Iterable[ScanResult], key: str,
              retry_errors: bool = False) -> dict[str, ScanResult]:
    """The earlier rows that answer `files` (by canonical path or file identity, same settings
    key, same bytes now), keyed and named as `files` spells them."""
    from fakescope.media import sha256_file
    from fakescope.output.formats import result_from_dict, result_to_dict
    from fakescope.scan.batch import RecordIndex, reusable

    index = RecordIndex(result_to_dict(r) for r in rows if r.settings_key == key)
    done: dict[str, ScanResult] = {}
    for path in files:
        rec = index.get(path)
        if rec is None or not reusable(rec, key, retry_errors):
            continue
        try:
            same = sha256_file(path) == rec["sha256"]
        except FakescopeError:  # unreadable now: scanned again, and the new row says so
            continue
        if same:
            done[path] = replace(result_from_dict(rec), path=path)
    return done


def drop_superseded_rows(out_dir: str | os.PathLike) -> int:
    """Keep one row per input file (canonical path) across the shards: the latest written (by
    shard time, then row order). Shards that lose rows are rewritten atomically (their time
    kept), emptied ones removed. Returns the number of rows dropped."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from fakescope.scan.batch import canonical

    folder = Path(out_dir)
    if not folder.is_dir():
        return 0
    tables: dict[Path, pa.Table] = {}
    latest: dict[str, tuple[Path, int]] = {}
    for shard in sorted(folder.glob(SHARD_GLOB), key=lambda p: p.stat().st_mtime_ns):
        try:
            table = pq.read_table(shard)
        except (OSError, ValueError, pa.ArrowException):
            continue  # read_shards says so and ignores it; left as it is
        tables[shard] = table
        for i, path in enumerate(table.column("path").to_pylist()):
            latest[canonical(path)] = (shard, i)
    dropped = 0
    for shard, table in tables.items():
        keep = [latest[canonical(p)] == (shard, i)
                for i, p in enumerate(table.column("path").to_pylist())]
        if all(keep):
            continue
        dropped += keep.count(False)
        if not any(keep):
            shard.unlink()
            continue
        st = shard.stat()
        tmp = shard.with_name(f".{shard.name}.tmp")
        pq.write_table(table.filter(pa.array(keep)), tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.utime(tmp, ns=(st.st_atime_ns, st.st_mtime_ns))
        os.replace(tmp, shard)
    if dropped:
        log.info("%s: %d superseded rows removed", folder, dropped)
    return dropped


def _run_pipeline(ray, settings: ScanSettings, todo: list[str], out_dir: Path, shard_rows: int):
    import ray.data

    from fakescope.output.formats import result_from_dict

    gpus = ray.cluster_resources().get("GPU", 0)
    cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
    back = {"num_gpus": 1} if gpus else {"num_cpus": 1}
    ds = ray.data.from_items([{"path": p} for p in todo], override_num_blocks=max(1, len(todo) // FRONT_BATCH))
    ds = ds.map_batches(_FrontHalf, fn_constructor_args=(settings,), batch_size=FRONT_BATCH,
                        concurrency=(1, max(1, cpus - 1) if not gpus else cpus), num_cpus=1,
                        max_restarts=3, max_task_retries=3)
    ds = ds.map_batches(_BackHalf, fn_constructor_args=(settings,), batch_size=BACK_BATCH,
                        concurrency=(1, max(1, int(gpus)) if gpus else 1), max_restarts=3,
                        max_task_retries=3, **back)
    pending: list[ScanResult] = []
    for batch in ds.iter_batches(batch_size=shard_rows, batch_format="numpy"):
        for record in batch["record"]:
            pending.append(result_from_dict(json.loads(str(record))))
        write_shard(out_dir, pending)
        yield from pending
        pending = []
