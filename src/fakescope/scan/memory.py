"""Keep a long scan's memory flat: glibc's malloc raises its mmap threshold after the first large
buffer is freed, so later frame-sized buffers (6 MB per 1080p frame) come from the heap, which
fragments and never shrinks — streaming every frame of a 35-s 1080p clip then grew resident
memory by ~1.3 GB (benchmarks/results/scan_memory.md). A fixed threshold keeps every buffer of
a few MB or more in its own mapping, returned to the system when freed."""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

_M_MMAP_THRESHOLD = -3  # from glibc's malloc.h
_LARGE_BUFFER_BYTES = 4 * 2**20


def keep_large_buffers_unpooled() -> bool:
    """Process-wide (call it in a process that scans: a worker, the CLI). True when applied;
    False where the C library is not glibc (nothing to do there)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return bool(libc.mallopt(_M_MMAP_THRESHOLD, _LARGE_BUFFER_BYTES))
    except (OSError, AttributeError):
        return False
