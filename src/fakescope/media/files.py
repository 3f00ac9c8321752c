"""Which paths are media, and the checks every reader does before opening a file."""

from __future__ import annotations

import errno
import glob
import os
import stat
from collections.abc import Iterable
from pathlib import Path

from fakescope.errors import MediaError

IMAGE_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif", ".apng"}
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


def _not_regular(mode: int) -> str | None:
    """What a non-regular file is, in words; None for a regular file."""
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "a directory, not a file"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe); never opened, a read could block forever"
    if stat.S_ISSOCK(mode):
        return "a socket, not a file"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device, not a file; never opened"
    return "not a regular file"


def check_file(path: str | os.PathLike) -> Path:
    """Fail early, naming the cause, for inputs no decoder should be asked about.

    Only `stat` calls are made before the decision, so a FIFO or a device is never opened
    (opening a FIFO for reading blocks until a writer comes)."""
    p = Path(path)
    try:
        lst = os.lstat(p)
    except FileNotFoundError:
        raise MediaError(str(p), "missing", "no such file") from None
    except PermissionError as exc:
        raise MediaError(str(p), "unreadable", f"permission denied ({exc.strerror})") from None
    except OSError as exc:
        raise MediaError(str(p), "unreadable", exc.strerror or str(exc)) from None
    try:
        st = os.stat(p)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise MediaError(str(p), "link_loop", "a symbolic link that leads back to itself") from None
        if exc.errno == errno.ENOENT and stat.S_ISLNK(lst.st_mode):
            target = os.readlink(p)
            raise MediaError(str(p), "missing", f"dangling symbolic link to {target}") from None
        if exc.errno in (errno.EACCES, errno.EPERM):
            raise MediaError(str(p), "unreadable", "permission denied") from None
        raise MediaError(str(p), "unreadable", exc.strerror or str(exc)) from None
    if stat.S_ISDIR(st.st_mode) and not os.access(p, os.R_OK | os.X_OK):
        raise MediaError(str(p), "unreadable", "a folder that cannot be listed: permission denied")
    what = _not_regular(st.st_mode)
    if what is not None:
        raise MediaError(str(p), "not_media", what)
    if st.st_size == 0:
        raise MediaError(str(p), "empty", "0 bytes")
    if not os.access(p, os.R_OK):
        raise MediaError(str(p), "unreadable", "permission denied")
    return p


def _hidden(name: str) -> bool:
    return name.startswith(".")


def _walk(directory: Path, recursive: bool) -> list[Path]:
    """Entries under `directory` with a media suffix, whatever they are (regular files, links,
    FIFOs, folders named like videos): each gets a result, so none vanishes silently.

    Hidden files and folders are skipped. Links to folders are followed once: a folder already
    visited (a link loop) is not entered again."""
    out: list[Path] = []
    seen: set[tuple[int, int]] = set()
    stack = [directory]
    while stack:
        folder = stack.pop()
        try:
            st = os.stat(folder)
        except OSError:
            continue  # a link to a folder that vanished: nothing under it to report
        if (st.st_dev, st.st_ino) in seen:
            continue
        seen.add((st.st_dev, st.st_ino))
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError as exc:
            if folder == directory:
                raise MediaError(str(folder), "unreadable", exc.strerror or str(exc)) from None
            out.append(folder)  # an unlistable sub-folder is reported, never skipped silently
            continue
        for entry in entries:
            if _hidden(entry.name):
                continue
            p = Path(entry.path)
            try:
                is_dir = entry.is_dir(follow_symlinks=True)
            except OSError:
                is_dir = False
            if is_dir and recursive and not is_media(p):
                stack.append(p)
            elif is_media(p):
                out.append(p)
    return sorted(out)


def _unique_key(p: Path) -> str:
    # os.path.realpath never raises (a link loop resolves as far as it goes), unlike
    # Path.resolve, which made one bad argument end the whole run.
    return os.path.realpath(p)


def iter_media_files(
    paths: Iterable[str | os.PathLike] | str | os.PathLike, recursive: bool = True
) -> list[Path]:
    """Expand files, directories and glob patterns into a de-duplicated list (folders sorted).

    Every path named explicitly is kept, whatever it is (missing, a dangling link, a loop, a
    FIFO, unknown suffix), so the scan reports it with its cause instead of dropping it.
    Directories and glob matches contribute every entry with a media suffix, regular or not
    (hidden files and folders skipped). A folder that cannot be listed is kept too.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    out: list[Path] = []
    for item in paths:
        p = Path(item)
        if _is_dir(p):
            out.extend(_walk_or_self(p, recursive))
        elif not os.path.lexists(p) and _GLOB_CHARS & set(str(item)):
            for match in sorted(glob.glob(str(item), recursive=True)):
                m = Path(match)
                if _is_dir(m) and not is_media(m):
                    out.extend(_walk_or_self(m, recursive))
                elif is_media(m):
                    out.append(m)
        else:
            out.append(p)
    seen: set[str] = set()
    unique = []
    for p in out:
        key = _unique_key(p)
        if key not in seen:
            seen.add(key)
            unique.append(p)
    return unique


def _is_dir(p: Path) -> bool:
    try:
        return p.is_dir()
    except OSError:  # a link loop raises here on some Pythons
        return False


def _walk_or_self(p: Path, recursive: bool) -> list[Path]:
    try:
        return _walk(p, recursive)
    except MediaError:
        return [p]  # an unlistable folder named by the user: reported as unreadable
