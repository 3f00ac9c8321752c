"""The job store of `fakescope serve`: one SQLite file (WAL) in the data folder, so jobs and
results survive a restart.

A job is claimed by a runner with one conditional UPDATE (queued → running), so two runners
can never take the same job; at start-up, jobs left ``running`` by a crash go back to
``queued`` — re-run once, never lost, never duplicated (a result is written only by the runner
that claimed the job, in the same transaction that marks it done). A job claimed
`MAX_ATTEMPTS` times without finishing is failed, not queued again: an input that kills the
server itself must not do so forever.

The reuse key of a finished job is computed from the sha256 the scan itself reported (the bytes
actually scanned), never from what was hashed at submission.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

STATUSES = ("queued", "running", "done", "failed")
MAX_ATTEMPTS = 2  # the first run and the one re-run after a crash

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
    error TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,  -- times a runner claimed it
    origin TEXT                    -- a path job: the server path the user named (resolved)
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
    attempts: int = 0
    origin: str | None = None

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
        error=row["error"], attempts=row["attempts"], origin=row["origin"],
    )


def dedup_key(sha256: str, settings: dict[str, Any], version: str) -> str:
    """Identical bytes scanned with identical settings by the same fakescope: one result."""
    text = json.dumps([sha256, settings, version], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


class JobStore:
    """Thread-safe: one connection per call, serialised writes (SQLite's own locking, WAL)."""

    def __init__(self, path: str | Path, version: str = "") -> None:
        self.path = Path(path)
        self.version = version
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        # Held open for the store's life: the WAL and shared-memory files then persist between
        # calls (the last connection to close deletes them), so reads keep working on a full
        # disk, where creating them again would fail.
        self._keeper = self._connect()
        self._keeper.execute("PRAGMA journal_mode=WAL")
        self._keeper.executescript(_SCHEMA)
        columns = {r["name"] for r in self._keeper.execute("PRAGMA table_info(jobs)")}
        for name, decl in (("attempts", "INTEGER NOT NULL DEFAULT 0"), ("origin", "TEXT")):
            if name not in columns:  # a store made by an older fakescope
                self._keeper.execute(f"ALTER TABLE jobs ADD COLUMN {name} {decl}")

    def close(self) -> None:
        self._keeper.close()

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
            sha256: str | None, dedup_key: str | None, job_id: str | None = None,
            origin: str | None = None) -> Job:
        now = time.time()
        job_id = job_id or uuid.uuid4().hex
        self._write(
            "INSERT INTO jobs (id, status, created, updated, source, input_path, filename, "
            "sha256, settings, dedup_key, origin) VALUES (?, 'queued', ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (job_id, now, now, source, input_path, filename, sha256, json.dumps(settings),
             dedup_key, origin),
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
        """At start-up: jobs a crash or restart left running are queued again, unless they
        have had their `MAX_ATTEMPTS` (then they fail, saying so). Returns the number queued."""
        now = time.time()
        self._write("UPDATE jobs SET status = 'failed', progress = 1, updated = ?, error = "
                    "'interrupted ' || attempts || ' times (the server stopped while scanning "
                    "it); not tried again' WHERE status = 'running' AND attempts >= ?",
                    (now, MAX_ATTEMPTS))
        return self._write("UPDATE jobs SET status = 'queued', progress = 0, updated = ? "
                           "WHERE status = 'running'", (now,))

    def ids(self) -> set[str]:
        """Every job id (to find files no job owns)."""
        db = self._connect()
        try:
            return {r[0] for r in db.execute("SELECT id FROM jobs")}
        finally:
            db.close()

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
            taken = self._write("UPDATE jobs SET status = 'running', progress = 0.05, updated = ?, "
                                "attempts = attempts + 1 WHERE id = ? AND status = 'queued'",
                                (time.time(), row["id"]))
            if taken:
                return self.get(row["id"])
            # another runner took it first: look again

    def set_progress(self, job_id: str, progress: float) -> None:
        self._write("UPDATE jobs SET progress = ?, updated = ? WHERE id = ? AND status = 'running'",
                    (float(progress), time.time(), job_id))

    def finish(self, job_id: str, result: dict[str, Any] | None, error: str | None = None) -> bool:
        """Mark done (a result) or failed (an error). False when the job is gone (deleted).
        The reuse key becomes that of the bytes the scan reported hashing (none without)."""
        status = "done" if error is None else "failed"
        job = self.get(job_id)
        if job is None:
            return False
        scanned = (result or {}).get("sha256")
        key = dedup_key(scanned, job.settings, self.version) if scanned and error is None else None
        return self._write(
            "UPDATE jobs SET status = ?, progress = 1, result = ?, error = ?, sha256 = ?, "
            "dedup_key = ?, updated = ? WHERE id = ? AND status = 'running'",
            (status, json.dumps(result) if result is not None else None, error, scanned, key,
             time.time(), job_id),
        ) > 0

    def finish_from_twin(self, job_id: str, twin: Job) -> None:
        self._write("UPDATE jobs SET status = 'done', progress = 1, result = ?, updated = ? "
                    "WHERE id = ? AND status = 'queued'", (json.dumps(twin.result), time.time(),
                                                           job_id))
