"""Content hash of an input, so results and caches follow the bytes, not the file name."""

from __future__ import annotations

import hashlib
import os

from fakescope.errors import MediaError
from fakescope.media.files import check_file


def sha256_file(path: str | os.PathLike) -> str:
    """Hex sha256 of the whole file, read in chunks (no full copy in memory)."""
    p = check_file(path)
    try:
        with open(p, "rb") as fh:
            return hashlib.file_digest(fh, "sha256").hexdigest()
    except OSError as exc:
        raise MediaError(str(p), "unreadable", str(exc)) from exc
