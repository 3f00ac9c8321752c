"""Server-side files, read safely: a path under an `--allow-root` is resolved once, then opened
one component at a time below the root with ``O_NOFOLLOW`` (`open_under`), so a folder swapped
for a symlink between the check and the open is refused instead of followed; the opened
descriptor is then copied into the job's own folder while it is hashed (`snapshot`), so the
worker scans exactly the bytes that were checked and hashed, whatever happens to the original
later. Artefacts are resolved the same way below their job's folder (`artefact_file`).
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from pathlib import Path

_CHUNK = 1 << 20


class PathRefused(Exception):
    """A server path that may not be scanned: `status` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _containing_root(real: str, roots: tuple[Path, ...]) -> tuple[str, str] | None:
    """(resolved root, path relative to it) for the first root that contains `real`."""
    for root in roots:
        base = os.path.realpath(root)
        if real == base:
            return base, ""
        if real.startswith(base.rstrip(os.sep) + os.sep):
            return base, os.path.relpath(real, base)
    return None


def open_under(path: str, roots: tuple[Path, ...]) -> tuple[int, str]:
    """(read-only descriptor of a regular file, its resolved path) for `path` if it lies under
    one of `roots` with symlinks resolved. Raises PathRefused (403 outside, 404 missing, 409 a
    component changed into a link after the check, 422 not a regular file)."""
    real = os.path.realpath(path)
    found = _containing_root(real, roots)
    if found is None:
        raise PathRefused(403, "the path is outside every --allow-root")
    base, rel = found
    parts = [p for p in rel.split(os.sep) if p]
    if not parts:
        raise PathRefused(422, "the path is a folder, not a file")
    nofollow = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        dir_fd = os.open(base, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as exc:
        raise PathRefused(404, "the allowed root cannot be opened") from exc
    try:
        for part in parts[:-1]:
            try:
                nxt = os.open(part, nofollow | os.O_DIRECTORY, dir_fd=dir_fd)
            except FileNotFoundError as exc:
                raise PathRefused(404, "no such file under the allowed roots") from exc
            except OSError as exc:  # ELOOP / ENOTDIR: a link or file where a folder was checked
                raise PathRefused(409, "the path changed while it was checked") from exc
            os.close(dir_fd)
            dir_fd = nxt
        try:  # O_NONBLOCK: a FIFO swapped in must not hang the open
            fd = os.open(parts[-1], nofollow | os.O_NONBLOCK, dir_fd=dir_fd)
        except FileNotFoundError as exc:
            raise PathRefused(404, "no such file under the allowed roots") from exc
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise PathRefused(409, "the path changed while it was checked") from exc
            raise PathRefused(422, f"the file cannot be opened: {exc.strerror}") from exc
    finally:
        os.close(dir_fd)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise PathRefused(422, "not a regular file")
    return fd, real


def snapshot(fd: int, dest: Path) -> tuple[str, int]:
    """Copy the open file `fd` (closed here) to `dest`, hashing the bytes copied: (sha256,
    size). OSError (e.g. ENOSPC) propagates; `dest` is then removed."""
    digest, size = hashlib.sha256(), 0
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        with os.fdopen(fd, "rb") as src, open(dest, "xb") as out:
            while chunk := src.read(_CHUNK):
                digest.update(chunk)
                out.write(chunk)
                size += len(chunk)
            out.flush()
            os.fsync(out.fileno())
    except BaseException:
        dest.unlink(missing_ok=True)
        raise
    return digest.hexdigest(), size


def artefact_file(folder: Path, name: str) -> Path | None:
    """`folder/name` if it is a regular file inside `folder` once links are resolved."""
    base = os.path.realpath(folder)
    real = os.path.realpath(os.path.join(base, name))
    if not real.startswith(base + os.sep) or not os.path.isfile(real):
        return None
    return Path(real)
