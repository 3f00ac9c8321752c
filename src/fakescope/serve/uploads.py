"""Uploads written to disk as they arrive: never the whole body in memory, the size counted as
it streams (over the limit → 413 before the rest is read), the kind sniffed from the bytes
(a name or a Content-Type proves nothing), and a full disk refused cleanly (507).

Multipart bodies are parsed with python-multipart's streaming parser: the form field ``file``
goes to the file, small text fields (scan options) are collected. The stored name is the
server's (``upload`` + the sniffed suffix, or a media suffix the client gave, else ``.bin``);
the client's name is kept for display only, read as UTF-8 as browsers send it.
"""

from __future__ import annotations

import errno
import hashlib
import os
import unicodedata
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from python_multipart import MultipartParser
from python_multipart.multipart import parse_options_header

from fakescope.media import IMAGE_SUFFIXES, VIDEO_SUFFIXES

_MAX_FIELD_BYTES = 4096
_SNIFF_BYTES = 64
_MAX_NAME_CHARS = 255
PARTIAL_NAME = "upload.part"


class UploadError(Exception):
    """An upload refused: `status` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class Upload:
    path: Path  # where the bytes were written (suffix from the sniffed kind)
    filename: str  # the name the client gave (for display only)
    size: int
    sha256: str  # of the bytes stored, hashed as they were written
    fields: dict[str, str] = field(default_factory=dict)


def sniff_suffix(head: bytes, filename: str) -> str:
    """A suffix for the stored file from its first bytes; the client's suffix only when the
    bytes say nothing and it names a media kind the scan reads (which then reports what the
    file really is); anything else is ``.bin`` — never a suffix a browser would render."""
    if head.startswith(b"\xff\xd8\xff"):
        return ".jpg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return ".png"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return ".gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return ".webp"
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return ".avi"
    if head[:2] == b"BM":
        return ".bmp"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return ".tif"
    if head[4:8] == b"ftyp":
        return ".mov" if head[8:10] == b"qt" else ".mp4"
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return ".webm" if b"webm" in head[:_SNIFF_BYTES] else ".mkv"
    suffix = Path(filename).suffix.lower()
    return suffix if suffix in IMAGE_SUFFIXES | VIDEO_SUFFIXES else ".bin"


def display_name(raw: bytes) -> str:
    """The client's file name for display: UTF-8 (what browsers send; Latin-1 if it is not
    UTF-8), its last path component, control characters dropped, at most 255 characters."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    text = text.replace("\\", "/").rsplit("/", 1)[-1]
    text = "".join(c for c in text if unicodedata.category(c)[0] != "C")
    return text.strip()[:_MAX_NAME_CHARS]


async def receive_upload(chunks: AsyncIterator[bytes], content_type: str, folder: Path,
                         max_bytes: int) -> Upload:
    """Stream a multipart body into `folder/upload<suffix>`. Raises UploadError."""
    kind, params = parse_options_header(content_type or "")
    if kind != b"multipart/form-data" or b"boundary" not in params:
        raise UploadError(415, "send the file as multipart/form-data in the field 'file'")
    folder.mkdir(parents=True, exist_ok=True)
    partial = folder / PARTIAL_NAME
    state = _PartState(partial, max_bytes)
    parser = MultipartParser(params[b"boundary"], callbacks=state.callbacks())
    try:
        async for chunk in chunks:
            parser.write(chunk)
            if state.error is not None:
                raise state.error
        parser.finalize()
        if state.error is not None:
            raise state.error
        state.finished = True
    except UploadError:
        raise
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise UploadError(507, "the server has no space left for this upload") from exc
        raise UploadError(507, f"the upload could not be stored: {exc.strerror or exc}") from exc
    except Exception as exc:  # noqa: BLE001 - a malformed body is the client's error
        raise UploadError(400, f"malformed multipart body: {exc}") from exc
    finally:  # also on a client that goes away (cancelled): no partial file is left behind
        state.close()
        if state.error is not None or not state.finished:
            partial.unlink(missing_ok=True)
    if not state.got_file:
        partial.unlink(missing_ok=True)
        raise UploadError(422, "no form field named 'file' in the upload")
    final = folder / ("upload" + sniff_suffix(state.head, state.filename))
    os.replace(partial, final)
    return Upload(final, state.filename or final.name, state.size, state.digest.hexdigest(),
                  state.fields)


class _PartState:
    """Callbacks of the streaming parser: headers → which field; data → file or field."""

    def __init__(self, partial: Path, max_bytes: int) -> None:
        self.partial, self.max_bytes = partial, max_bytes
        self.fields: dict[str, str] = {}
        self.size = 0
        self.digest = hashlib.sha256()
        self.head = b""
        self.filename = ""
        self.got_file = False
        self.finished = False
        self.error: UploadError | None = None
        self._fh = None
        self._name = None
        self._value = bytearray()
        self._header_field = bytearray()
        self._header_value = bytearray()
        self._headers: dict[str, bytes] = {}

    def callbacks(self) -> dict:
        return {
            "on_part_begin": self._part_begin, "on_part_data": self._part_data,
            "on_part_end": self._part_end, "on_header_field": self._header_field_data,
            "on_header_value": self._header_value_data, "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
        }

    def _part_begin(self) -> None:
        self._headers, self._name, self._value = {}, None, bytearray()

    def _header_field_data(self, data: bytes, start: int, end: int) -> None:
        self._header_field += data[start:end]

    def _header_value_data(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _header_end(self) -> None:
        # Raw bytes: browsers send a file name as UTF-8, which a str round trip through
        # Latin-1 would garble or refuse.
        self._headers[self._header_field.decode("latin-1").lower()] = bytes(self._header_value)
        self._header_field, self._header_value = bytearray(), bytearray()

    def _headers_finished(self) -> None:
        _, params = parse_options_header(self._headers.get("content-disposition", b""))
        self._name = params.get(b"name", b"").decode("utf-8", "replace")
        if self._name == "file" and not self.got_file:
            self.got_file = True
            self.filename = display_name(params.get(b"filename", b""))
            self._fh = open(self.partial, "wb")  # noqa: SIM115 - closed in _part_end / close

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self.error is not None:
            return
        piece = data[start:end]
        if self._fh is not None and self._name == "file":
            self.size += len(piece)
            if self.size > self.max_bytes:
                self.error = UploadError(413, f"the upload is over the {self.max_bytes // 2**20} MiB limit")
                return
            if len(self.head) < _SNIFF_BYTES:
                self.head += piece[: _SNIFF_BYTES - len(self.head)]
            self._fh.write(piece)
            self.digest.update(piece)
        else:
            self._value += piece
            if len(self._value) > _MAX_FIELD_BYTES:
                self.error = UploadError(413, f"form field {self._name!r} is too long")

    def _part_end(self) -> None:
        if self._name == "file" and self._fh is not None:
            self._fh.flush()
            os.fsync(self._fh.fileno())
            self._fh.close()
            self._fh = None
        elif self._name:
            self.fields[self._name] = self._value.decode("utf-8", "replace")

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
