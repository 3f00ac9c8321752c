"""Which paths are media, and the checks every reader does before opening a file."""

from __future__ import annotations

import glob
import os
from collections.abc import Iterable
from pathlib import Path

from fakescope.errors import MediaError

IMAGE_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif"}
)
VIDEO_SUFFIXES = frozenset(
    {".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".mpg", ".mpeg", ".ts", ".m2ts", ".mts",
     ".wmv", ".flv", ".3gp", ".ogv"}
)
_GLOB_CHARS = set("*?[")


def is_image(path: str | os.PathLike) -> bool:
    """By suffix; content is checked when the file is opened."""
    return Path(path).suffix.lower() in IMAGE_SUFFIXES


def is_video(path: str | os.PathLike) -> bool:
    """By suffix; content is checked when the file is opened."""
    return Path(path).suffix.lower() in VIDEO_SUFFIXES


def is_media(path: str | os.PathLike) -> bool:
    return is_image(path) or is_video(path)


def check_file(path: str | os.PathLike) -> Path:
    """Fail early, naming the cause, for inputs no decoder should be asked about."""
    p = Path(path)
    if not p.exists():
        raise MediaError(str(p), "missing", "no such file")
    if not p.is_file():
        raise MediaError(str(p), "not_media", "not a regular file")
    try:
        size = p.stat().st_size
    except OSError as exc:
        raise MediaError(str(p), "unreadable", str(exc)) from exc
    if size == 0:
        raise MediaError(str(p), "empty", "0 bytes")
    if not os.access(p, os.R_OK):
        raise MediaError(str(p), "unreadable", "permission denied")
    return p


def _walk(directory: Path, recursive: bool) -> list[Path]:
    found = directory.rglob("*") if recursive else directory.iterdir()
    return sorted(
        p
        for p in found
        if p.is_file() and is_media(p) and not any(part.startswith(".") for part in p.relative_to(directory).parts)
    )


def iter_media_files(
    paths: Iterable[str | os.PathLike] | str | os.PathLike, recursive: bool = True
) -> list[Path]:
    """Expand files, directories and glob patterns into a sorted, de-duplicated list.

    A path named explicitly is kept even when it is missing or has an unknown suffix, so the
    batch reports it as an error instead of dropping it silently. Directories and glob matches
    contribute only files with a media suffix (hidden files and folders skipped).
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    out: list[Path] = []
    for item in paths:
        p = Path(item)
        if p.is_dir():
            out.extend(_walk(p, recursive))
        elif not p.exists() and _GLOB_CHARS & set(str(item)):
            for match in sorted(glob.glob(str(item), recursive=True)):
                m = Path(match)
                if m.is_dir():
                    out.extend(_walk(m, recursive))
                elif is_media(m):
                    out.append(m)
        else:
            out.append(p)
    seen: set[Path] = set()
    unique = []
    for p in out:
        key = p.resolve()
        if key not in seen:
            seen.add(key)
            unique.append(p)
    return unique
