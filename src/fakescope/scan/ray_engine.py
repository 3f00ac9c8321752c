"""`fakescope scan --engine ray`: the same scan, scheduled by Ray Data across a cluster.

    list inputs (driver) → front half: probe + decode + faces (`Scanner.find_faces`), CPU actors
    → back half: detector + aggregate (`Scanner.score_faces`), an actor pool, one GPU each when
      the cluster has GPUs → result records → Parquet shards (driver, atomic)

Every stage runs the local scan's own code; the engine only schedules it, so records, verdicts
and scores are the local scan's. Resume: inputs whose (path, settings key) already has a row in
the output folder, with the same file bytes, are skipped. Exactly once: rows reach the driver
once per input (a Ray task retried after a worker died replaces its output, it does not add to
it) and a shard is renamed into place only when complete, so a killed run leaves no partial
shard to double-count.

What Ray does not give is the local engine's per-file process isolation: an input that kills
its actor is retried (`max_restarts`), and one that keeps killing it fails the run, after which
a re-run resumes from the shards written (use the local engine for hostile corpora).
"""

from __future__ import annotations

import json
import logging
import os
import pickle
from collections.abc import Callable, Iterable
from pathlib import Path

from fakescope.output.parquet import read_shards, write_shard
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

    from fakescope.media import iter_media_files, sha256_file
    from fakescope.output.formats import result_to_dict
    from fakescope.scan.batch import reusable

    files = [str(p) for p in iter_media_files([str(p) for p in paths])]
    key = settings.build().settings_key  # validates the settings before any cluster work
    done: dict[str, ScanResult] = {}
    for r in read_shards(out_dir):
        if r.path in files and reusable(result_to_dict(r), key, retry_errors):
            try:
                if sha256_file(r.path) == r.sha256:
                    done[r.path] = r
            except Exception:  # noqa: BLE001 - unreadable now: scan it again and say so
                pass
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
    return [done[p] for p in files], len(todo)


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
