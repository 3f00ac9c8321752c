"""The queue bound, enforced before a request's body is read: each submission takes a place
(queued jobs + submissions still receiving their body < `--max-queue`) and holds it until its
job is queued or it fails. Counting only queued jobs let a burst of slow uploads all pass the
check while none of them had reached the queue yet."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager


class QueueFull(Exception):
    """No place left: answer 429 with Retry-After."""


class Admission:
    def __init__(self, limit: int, queued: Callable[[], int]) -> None:
        self.limit, self._queued = limit, queued
        self._lock = threading.Lock()
        self._receiving = 0

    @contextmanager
    def place(self) -> Iterator[None]:
        """Hold a place in the queue for the duration of the block. Raises QueueFull."""
        with self._lock:
            if self._queued() + self._receiving >= self.limit:
                raise QueueFull
            self._receiving += 1
        try:
            yield
        finally:
            with self._lock:
                self._receiving -= 1
