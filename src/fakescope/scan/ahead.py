"""The front half of the next input, run while the current one is scored.

Why: in a batch, the detector stage of one file and the bookkeeping around it (journal, output)
leave the decoder idle; starting the next file's decode and face search then uses cores that
would wait. Where the cores are already full it gains nothing: on 2 cores it was slower
(benchmarks/results/scan_clip.md), so batches use it only when asked. One input ahead at most, so memory holds at most one file's frames beside the current
file's crops. Whatever the front half raises is raised when that input's turn comes, in its
own scan: a bad next file never costs the current one its result.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Ahead(Generic[T]):
    """`work(key)` running in a daemon thread; `take()` waits for it and returns its result
    (or raises its exception)."""

    def __init__(self, key: str, work: Callable[[str], T]) -> None:
        self.key = key
        self._work = work
        self._value: T | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="fakescope-ahead", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._value = self._work(self.key)
        except BaseException as exc:  # noqa: BLE001 - raised by take(), in the input's turn
            self._error = exc

    def wait(self) -> None:
        self._thread.join()

    def take(self) -> T:
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._value  # type: ignore[return-value]
