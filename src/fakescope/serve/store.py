"""The job store of `fakescope serve`: one SQLite file (WAL) in the data folder, so jobs and
results survive a restart.

A job is claimed by a runner with one conditional UPDATE (queued → running), so two runners
can never take the same job; at start-up, jobs left ``running`` by a crash go back to
``queued`` — re-run once, never lost, never duplicated (a result is written only by the runner
that claimed the job, in the same transaction that marks it done).
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

STATUSES = ("queued", "running", "done", "failed")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    created REAL NOT NULL,
    updated REAL NOT NULL,
    source TEXT NOT NULL,          -- 'upload' or 'path'
    input_path TEXT NOT NULL,      -- the file scanned (the stored upload, or the server path)
    filename TEXT NOT NULL,        -- the name the user gave
    sha256 TEXT,                   -- of the input bytes, when known
    settings TEXT NOT NULL,        -- ScanSettings as JSON
    dedup_key TEXT,                -- sha256 + settings + version: identical scans share results
    progress REAL NOT NULL DEFAULT 0,
    result TEXT,                   -- the CLI's JSON record
    error TEXT
);
CREATE INDEX IF NOT EXISTS jobs_status ON jobs (status, created);
CREATE INDEX IF NOT EXISTS jobs_dedup ON jobs (dedup_key, status);
"""


@dataclass
class Job:
    id: str
    status: str
    created: float
    updated: float
    source: str
    input_path: str
    filename: str
    sha256: str | None
    settings: dict[str, Any]
    dedup_key: str | None
    progress: float
    result: dict[str, Any] | None
    error: str | None

    def public(self) -> dict[str, Any]:
        """What the API returns: the result is exactly the CLI's JSON record."""
        return {"id": self.id, "status": self.status, "progress": self.progress,
                "filename": self.filename, "created": self.created, "updated": self.updated,
                "settings": self.settings, "result": self.result, "error": self.error}


def _job(row: sqlite3.Row) -> Job:
    return Job(
        id=row["id"], status=row["status"], created=row["created"], updated=row["updated"],
        source=row["source"], input_path=row["input_path"], filename=row["filename"],
        sha256=row["sha256"], settings=json.loads(row["settings"]), dedup_key=row["dedup_key"],
        progress=row["progress"], result=json.loads(row["result"]) if row["result"] else None,
        error=row["error"],
    )


class JobStore:
    """Thread-safe: one connection per call, serialised writes (SQLite's own locking, WAL)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        with self._connect() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(_SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA synchronous=NORMAL")
        return db

    def _write(self, sql: str, args: tuple) -> int:
        with self._lock:
            db = self._connect()
            try:
                return db.execute(sql, args).rowcount
            finally:
                db.close()

    # -- jobs -----------------------------------------------------------------------------
    def add(self, source: str, input_path: str, filename: str, settings: dict[str, Any],
            sha256: str | None, dedup_key: str | None, job_id: str | None = None) -> Job:
        now = time.time()
        job_id = job_id or uuid.uuid4().hex
        self._write(
            "INSERT INTO jobs (id, status, created, updated, source, input_path, filename, "
            "sha256, settings, dedup_key) VALUES (?, 'queued', ?, ?, ?, ?, ?, ?, ?, ?)",
            (job_id, now, now, source, input_path, filename, sha256, json.dumps(settings),
             dedup_key),
        )
        return self.get(job_id)

    def get(self, job_id: str) -> Job | None:
        db = self._connect()
        try:
            row = db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        finally:
            db.close()
        return _job(row) if row else None

    def list(self, limit: int = 20, offset: int = 0) -> tuple[list[Job], int]:
        db = self._connect()
        try:
            rows = db.execute("SELECT * FROM jobs ORDER BY created DESC, id LIMIT ? OFFSET ?",
                              (limit, offset)).fetchall()
            total = db.execute("SELECT COUNT(*) FROM jobs").fetchone()[0]
        finally:
            db.close()
        return [_job(r) for r in rows], total

    def count(self, status: str) -> int:
        db = self._connect()
        try:
            return db.execute("SELECT COUNT(*) FROM jobs WHERE status = ?", (status,)).fetchone()[0]
        finally:
            db.close()

    def delete(self, job_id: str) -> bool:
        return self._write("DELETE FROM jobs WHERE id = ?", (job_id,)) > 0

    def finished_twin(self, dedup_key: str) -> Job | None:
        """A completed job with the same input bytes and settings, whose result can be reused."""
        db = self._connect()
        try:
            row = db.execute("SELECT * FROM jobs WHERE dedup_key = ? AND status = 'done' "
                             "ORDER BY updated DESC LIMIT 1", (dedup_key,)).fetchone()
        finally:
            db.close()
        return _job(row) if row else None

    # -- the runner's side ----------------------------------------------------------------
    def requeue_interrupted(self) -> int:
        """At start-up: jobs a crash or restart left running are queued again."""
        return self._write("UPDATE jobs SET status = 'queued', progress = 0, updated = ? "
                           "WHERE status = 'running'", (time.time(),))

    def claim_next(self) -> Job | None:
        """The oldest queued job, now running and owned by the caller; None when none is queued."""
        while True:
            db = self._connect()
            try:
                row = db.execute("SELECT id FROM jobs WHERE status = 'queued' "
                                 "ORDER BY created, id LIMIT 1").fetchone()
            finally:
                db.close()
            if row is None:
                return None
            taken = self._write("UPDATE jobs SET status = 'running', progress = 0.05, updated = ? "
                                "WHERE id = ? AND status = 'queued'", (time.time(), row["id"]))
            if taken:
                return self.get(row["id"])
            # another runner took it first: look again

    def set_progress(self, job_id: str, progress: float) -> None:
        self._write("UPDATE jobs SET progress = ?, updated = ? WHERE id = ? AND status = 'running'",
                    (float(progress), time.time(), job_id))

    def finish(self, job_id: str, result: dict[str, Any] | None, error: str | None = None) -> bool:
        """Mark done (a result) or failed (an error). False when the job is gone (deleted)."""
        status = "done" if error is None else "failed"
        return self._write(
            "UPDATE jobs SET status = ?, progress = 1, result = ?, error = ?, sha256 = "
            "COALESCE(?, sha256), updated = ? WHERE id = ? AND status = 'running'",
            (status, json.dumps(result) if result is not None else None, error,
             (result or {}).get("sha256"), time.time(), job_id),
        ) > 0

    def finish_from_twin(self, job_id: str, twin: Job) -> None:
        self._write("UPDATE jobs SET status = 'done', progress = 1, result = ?, updated = ? "
                    "WHERE id = ?", (json.dumps(twin.result), time.time(), job_id))
