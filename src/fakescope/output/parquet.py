"""Result records as Parquet shards: one row per input with the JSON record's fields, tracks and
timeline as nested columns. Shards are written whole or not at all (temp file + rename), so a
killed run leaves only complete shards, and reading takes the latest row per path and settings.
"""

from __future__ import annotations

import json
import logging
import os
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from fakescope.output.formats import result_from_dict, result_to_dict
from fakescope.types import ScanResult

log = logging.getLogger(__name__)

SHARD_GLOB = "part-*.parquet"

RESULT_SCHEMA = pa.schema([
    ("path", pa.string()),
    ("sha256", pa.string()),
    ("kind", pa.string()),
    ("verdict", pa.string()),
    ("score", pa.float64()),
    ("probability", pa.float64()),
    ("threshold", pa.float64()),
    ("inconclusive_threshold", pa.float64()),
    ("reason", pa.string()),
    ("detector", pa.struct([("name", pa.string()), ("version", pa.string()),
                            ("weights_sha256", pa.string())])),
    ("tracks", pa.list_(pa.struct([
        ("id", pa.int64()), ("score", pa.float64()), ("frames", pa.list_(pa.int64())),
        ("boxes", pa.list_(pa.list_(pa.float64()))), ("scores", pa.list_(pa.float64())),
        ("units", pa.list_(pa.list_(pa.int64()))),  # null for crop detectors
    ]))),
    ("timeline", pa.list_(pa.struct([("frame", pa.int64()), ("time_s", pa.float64()),
                                     ("score", pa.float64())]))),
    ("timings_s", pa.map_(pa.string(), pa.float64())),
    ("frames_read", pa.int64()),
    ("frames_unreadable", pa.int64()),
    ("settings_key", pa.string()),
    # free-form sections, as JSON text (their keys vary by file and by reader version)
    ("media", pa.string()),
    ("provenance", pa.string()),
])
_JSON_COLUMNS = ("media", "provenance")


def to_table(results: Iterable[ScanResult]) -> pa.Table:
    rows = []
    for r in results:
        d = result_to_dict(r)
        d["timings_s"] = list(d["timings_s"].items())
        for k in _JSON_COLUMNS:
            d[k] = None if d[k] is None else json.dumps(d[k], ensure_ascii=False)
        rows.append(d)
    return pa.Table.from_pylist(rows, schema=RESULT_SCHEMA)


def from_table(table: pa.Table) -> list[ScanResult]:
    out = []
    for row in table.to_pylist():
        row["timings_s"] = dict(row["timings_s"] or [])
        for k in _JSON_COLUMNS:
            row[k] = None if row.get(k) is None else json.loads(row[k])
        out.append(result_from_dict(_plain(row)))
    return out


def _plain(row: dict[str, Any]) -> dict[str, Any]:
    if row.get("detector") is not None and row["detector"].get("name") is None:
        row["detector"] = None
    return row


def write_shard(folder: str | os.PathLike, results: list[ScanResult]) -> Path:
    """One new shard with `results`, atomically (a reader never sees half a file)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / f"part-{uuid.uuid4().hex}.parquet"
    tmp = folder / f".{final.name}.tmp"
    pq.write_table(to_table(results), tmp)
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, final)
    return final


def read_shards(folder: str | os.PathLike) -> list[ScanResult]:
    """Every complete shard's rows; the last written row wins per (path, settings key)."""
    folder = Path(folder)
    shards = sorted(folder.glob(SHARD_GLOB), key=lambda p: p.stat().st_mtime) if folder.is_dir() else []
    latest: dict[tuple[str, str | None], ScanResult] = {}
    for shard in shards:
        try:
            rows = from_table(pq.read_table(shard, schema=RESULT_SCHEMA))
        except (OSError, ValueError, pa.ArrowException) as exc:
            # written atomically by fakescope, so damaged by something else: its inputs are
            # simply scanned again, and the other shards still count
            log.warning("%s: unreadable result shard, ignored (%s)", shard, exc)
            continue
        for r in rows:
            latest[(r.path, r.settings_key)] = r
    return list(latest.values())
