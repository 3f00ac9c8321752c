"""Opening a video with PyAV and turning FFmpeg's failures into MediaError with a cause."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av

from fakescope.errors import MediaError

# Leading bytes of containers FFmpeg reads; a file that starts like one but will not open is
# cut off (the usual case: an mp4 whose index was never written), not "not a video".
_SIGNATURES = (
    (4, b"ftyp"),  # mp4 / mov / 3gp / m4v
    (4, b"moov"),
    (4, b"mdat"),
    (4, b"free"),
    (4, b"wide"),
    (0, b"RIFF"),  # avi
    (0, b"\x1a\x45\xdf\xa3"),  # matroska / webm
    (0, b"FLV"),
    (0, b"OggS"),
    (0, b"\x30\x26\xb2\x75"),  # asf / wmv
    (0, b"\x00\x00\x01\xba"),  # mpeg-ps
)
_IMAGE_DEMUXERS = ("image2", "_pipe")
# Decoder threads: FFmpeg's automatic count is the core count + 1 (3 on 2 cores). With frame
# threads, each thread holds one frame in flight; more of them than cores let the decoder run
# ahead past frames it skips (sampled reads) and keep both cores busy while one frame waits
# for its reference, at the memory of a few more frames (benchmarks/results/scan_clip.md).
# The ceiling is FFmpeg's own for its automatic count.
MIN_DECODER_THREADS = 8
MAX_DECODER_THREADS = 16


def decoder_threads() -> int:
    """Frame threads for a video decoder here: the core count + 1, at least 8, at most 16."""
    return min(MAX_DECODER_THREADS, max(MIN_DECODER_THREADS, (os.cpu_count() or 1) + 1))


@dataclass(frozen=True)
class StreamFacts:
    """What the container says about its first video stream, in seconds from its first frame."""

    time_base: Fraction
    start_pts: int
    fps: float
    duration_s: float | None
    frame_count: int | None
    codec: str
    coded_width: int
    coded_height: int

    def seconds(self, pts: int) -> float:
        return float((pts - self.start_pts) * self.time_base)

    def pts(self, seconds: float) -> int:
        return self.start_pts + int(math.floor(seconds / self.time_base))


def looks_like_video_container(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            head = fh.read(16)
    except OSError:
        return False
    return any(head[off : off + len(sig)] == sig for off, sig in _SIGNATURES)


def error_from_av(path: Path, exc: Exception, where: str) -> MediaError:
    """Map an FFmpeg error to a MediaError reason. `where` is "open" or "decode"."""
    if isinstance(exc, MediaError):
        return exc
    if isinstance(exc, av.error.InvalidDataError):
        if where == "open":
            if looks_like_video_container(path):
                return MediaError(
                    str(path), "truncated", f"container header found but the rest is missing or broken: {exc}"
                )
            return MediaError(str(path), "not_media", "FFmpeg does not recognise the data as a video")
        return MediaError(str(path), "truncated", f"data ends or breaks while decoding: {exc}")
    if isinstance(exc, (av.error.DecoderNotFoundError, av.error.PatchWelcomeError)):
        return MediaError(str(path), "unsupported_codec", str(exc))
    if isinstance(exc, (PermissionError, av.error.PermissionError)):
        return MediaError(str(path), "unreadable", "permission denied")
    return MediaError(str(path), "unreadable", f"{type(exc).__name__}: {exc}")


def open_video(path: Path) -> tuple[av.container.InputContainer, av.video.stream.VideoStream]:
    """Open `path` and return its first video stream with a working decoder, multi-threaded."""
    try:
        container = av.open(str(path), metadata_errors="ignore")
    except Exception as exc:  # noqa: BLE001 - every FFmpeg failure becomes a MediaError with a cause
        raise error_from_av(path, exc, "open") from exc
    try:
        if not container.streams.video:
            kinds = sorted({s.type for s in container.streams}) or ["none"]
            raise MediaError(str(path), "no_frames", f"no video stream (streams: {', '.join(kinds)})")
        stream = container.streams.video[0]
        if stream.codec_context is None:
            raise MediaError(
                str(path), "unsupported_codec", "FFmpeg has no decoder for this video stream's codec"
            )
        stream.thread_type = "AUTO"
        stream.codec_context.thread_count = decoder_threads()
        check_index_within_file(stream, path)
    except BaseException:
        container.close()
        raise
    return container, stream


def check_index_within_file(stream: av.video.stream.VideoStream, path: Path) -> None:
    """A container index (mp4 sample table, mkv cues) pointing past the end of the file means
    the file was cut off: say so at probe time instead of when decoding reaches the gap."""
    try:
        entries = stream.index_entries
        last = entries[len(entries) - 1] if len(entries) else None
    except (AttributeError, av.error.FFmpegError):
        return
    if last is None or last.pos < 0:
        return
    size = path.stat().st_size
    if last.pos + last.size > size:
        raise MediaError(
            str(path), "truncated",
            f"the index lists data up to byte {last.pos + last.size} but the file has {size} bytes",
        )


def is_image_container(container: av.container.InputContainer) -> bool:
    """FFmpeg also opens still images (as one-frame "videos" via its image demuxers)."""
    name = container.format.name
    return any(part in name for part in _IMAGE_DEMUXERS)


def stream_facts(container: av.container.InputContainer, stream: av.video.stream.VideoStream, path: Path,
                 count_if_unknown: bool = True) -> StreamFacts:
    """Rate, duration and frame count from the container; frames are counted by demuxing
    (no decoding) only when the container gives neither a count nor a duration."""
    tb = stream.time_base or Fraction(1, av.time_base)
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    fps = float(rate) if rate else 0.0
    start = stream.start_time if stream.start_time is not None else 0
    if stream.duration:
        duration = float(stream.duration * tb)
    elif container.duration:
        duration = container.duration / av.time_base
    else:
        duration = None
    count = stream.frames or None
    if count is None and duration and fps:
        count = max(1, round(duration * fps))
    if (count is None or not fps) and count_if_unknown:
        count, duration, fps = _count_by_demux(container, stream, path, start, tb)
    ctx = stream.codec_context
    return StreamFacts(
        time_base=tb,
        start_pts=start,
        fps=fps or 25.0,
        duration_s=duration,
        frame_count=count,
        codec=ctx.name,
        coded_width=ctx.width,
        coded_height=ctx.height,
    )


def _count_by_demux(container, stream, path, start, tb) -> tuple[int, float | None, float]:
    n, last = 0, None
    try:
        for packet in container.demux(stream):
            if packet.size == 0:
                continue
            n += 1
            if packet.pts is not None:
                last = packet.pts if last is None else max(last, packet.pts)
        container.seek(0, backward=True, any_frame=False)  # rewinds and flushes the decoder
    except Exception as exc:  # noqa: BLE001
        raise error_from_av(path, exc, "decode") from exc
    duration = float((last - start) * tb) if last is not None and n > 1 else None
    fps = (n - 1) / duration if duration else 0.0
    return n, duration, fps
