"""Scanning: one input (`scanner`), many inputs (`batch`), each in a worker process
(`workers`), and what the results mean for the exit status (`outcome`).

`Scanner` loads torch; it is imported on first use so that a parent process that only hands
inputs to workers stays light.
"""

from __future__ import annotations

from fakescope.scan.batch import compact_journal, reusable, scan_batch
from fakescope.scan.outcome import (
    EXIT_CLEAN,
    EXIT_FAKE,
    EXIT_INCOMPLETE,
    EXIT_INCONCLUSIVE,
    EXIT_INTERNAL,
    REASON_NO_FACE,
    UNREADABLE,
    exit_code,
    is_failure,
)
from fakescope.scan.settings import ScanSettings
from fakescope.scan.workers import IsolatedScanner, Limits, WorkerStartError

__all__ = [
    "EXIT_CLEAN", "EXIT_FAKE", "EXIT_INCOMPLETE", "EXIT_INCONCLUSIVE", "EXIT_INTERNAL", "REASON_NO_FACE",
    "UNREADABLE", "FoundFaces", "IsolatedScanner", "Limits", "ScanSettings", "Scanner",
    "WorkerStartError", "build_timeline", "compact_journal", "exit_code", "is_failure",
    "reusable", "scan_batch", "write_explanation",
]

_LAZY = ("Scanner", "FoundFaces", "build_timeline", "write_explanation", "MIN_READABLE_SHARE")


def __getattr__(name: str):
    if name in _LAZY:
        from fakescope.scan import scanner

        return getattr(scanner, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
