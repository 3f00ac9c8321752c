"""Errors that name the input and the cause, so a batch run can record them and go on."""

from __future__ import annotations

# The exit status of a failure of fakescope itself, not of an input, for every command: never 1,
# which `scan` uses for "fake found" (scan.outcome holds scan's other codes).
EXIT_INTERNAL = 3


class FakescopeError(Exception):
    """Base class for every error fakescope raises on purpose."""


class MediaError(FakescopeError):
    """An input could not be read as media.

    `reason` is a short machine-readable code (``missing``, ``empty``, ``not_media``,
    ``truncated``, ``unsupported_codec``, ``no_frames``, ``unreadable``); the message is for people.
    """

    def __init__(self, path: str, reason: str, detail: str = "") -> None:
        self.path = str(path)
        self.reason = reason
        self.detail = detail
        super().__init__(f"{self.path}: {reason}" + (f" ({detail})" if detail else ""))


class WeightsError(FakescopeError):
    """A weights file is missing, corrupt or does not match its pinned sha256."""
