"""Decode the frames a sampling strategy names, and as few others as possible.

How little is decoded, for uniform / every-k sampling:
- packets whose timestamp is near no target are sent with ``skip_frame=NONREF``, so the
  decoder drops them when no other frame depends on them (non-reference B-frames: about half
  of a typical H.264 stream) — seed 001's grab-without-retrieve, one step further;
- when the next target lies beyond a keyframe that is ahead of the read position, the demuxer
  seeks to that keyframe instead of decoding the frames in between (keyframes come from the
  container index; a container without one is read sequentially);
- only the kept frames are converted to RGB arrays.
Timestamps, not frame counts, locate frames, so variable frame rate and seeking both work; a
frame's `index` is ``round(time_s * fps)``.

Damage is local: a packet the decoder rejects is skipped (counted in `DecodeStats`) and reading
goes on, and data that ends early ends the read with the frames decoded so far. A file is
unreadable only when no frame decodes at all (then the first decoder error names the cause), so
corrupting one packet cannot turn a scored fake into an abstain.
"""

from __future__ import annotations

import bisect
import itertools
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from fakescope.errors import MediaError
from fakescope.media.container import (
    StreamFacts,
    error_from_av,
    is_image_container,
    open_video,
    stream_facts,
)
from fakescope.media.files import check_file, is_image
from fakescope.media.images import animation_facts, iter_image_frames, read_image
from fakescope.media.sampling import (
    AllFrames,
    EveryKSampling,
    KeyframeSampling,
    Sampling,
    UniformSampling,
    WindowSampling,
    parse_sampling,
)
from fakescope.types import Frame, MediaInfo

# A target is served by a frame within this many frame periods; CFR frames sit exactly one
# period apart, so exactly one packet per target is decoded in full.
_TARGET_TOLERANCE = 0.75
# A stream whose first this-many packets are all rejected is taken as undecodable.
_MAX_ERRORS_BEFORE_A_FRAME = 64
# A target past the last decoded frame (the container over-stated the length) is still served
# by that frame if it is this close; otherwise it is dropped.
_END_SLACK = 3.0


def frame_to_rgb(frame: av.VideoFrame) -> np.ndarray:
    """(H, W, 3) uint8 RGB with the display-matrix rotation applied, C-contiguous."""
    kwargs = {"src_color_range": frame.color_range} if frame.color_range else {}
    arr = frame.to_ndarray(format="rgb24", **kwargs)
    quarter_turns = round((frame.rotation or 0) / 90) % 4  # counter-clockwise, like np.rot90
    if quarter_turns:
        arr = np.rot90(arr, quarter_turns)
    # PyAV >= 18 hands back a view over the padded lines of narrow frames; the crops and the
    # detectors downstream expect (and tests check) a C-contiguous image. No copy when it is.
    return np.ascontiguousarray(arr)


@dataclass
class DecodeStats:
    """What a read cost: for benchmarks and the scan's timings."""

    packets: int = 0  # packets sent to the decoder (skipped ones included)
    frames_decoded: int = 0  # frames the decoder produced
    frames_kept: int = 0  # frames converted to RGB and returned
    seeks: int = 0
    kind: str | None = None  # "video" or "image", once known
    targets: int | None = None  # distinct frames the sampling asked for (targeted sampling)
    frame_count: int | None = None  # the frame count the targets were chosen from
    corrupt_packets: int = 0  # packets the decoder rejected and that were skipped
    cut_off: str | None = None  # why the data ended early, when it did
    first_error: MediaError | None = None  # the first decoder error, for a file that never decodes

    @property
    def frames_missing(self) -> int:
        """Sampled frames that could not be decoded: targets without a frame, or (sequential
        reads) at least one per skipped packet."""
        if self.targets is not None:
            return max(0, self.targets - self.frames_kept)
        return self.corrupt_packets


def read_frames(
    path: str | os.PathLike,
    sampling: Sampling | str = "uniform:32",
    info: MediaInfo | None = None,
    stats: DecodeStats | None = None,
) -> list[Frame]:
    """Frames of `path` chosen by `sampling`, in presentation order. An image gives one frame.

    Uniform sampling returns exactly ``n`` frames when ``circular_pad`` is set (a short video
    repeats from its start; repeated entries share one array). Raises MediaError.
    """
    sampling = parse_sampling(sampling)
    stats = stats if stats is not None else DecodeStats()
    frames = list(iter_frames(path, sampling, info, stats))
    if not frames:
        raise no_frames_error(path, sampling, stats)
    padded = isinstance(sampling, UniformSampling) and sampling.circular_pad and stats.kind == "video"
    if padded and len(frames) < sampling.n:
        frames = [frames[i % len(frames)] for i in range(sampling.n)]
    return frames


def no_frames_error(path, sampling: Sampling, stats: DecodeStats) -> MediaError:
    """Why a read gave nothing: the decoder's own first complaint when there was one."""
    if stats.first_error is not None:
        return stats.first_error
    if stats.cut_off is not None:
        return MediaError(str(path), "truncated", stats.cut_off)
    return MediaError(str(path), "no_frames", f"no decodable frame for sampling {sampling}")


def iter_frames(
    path: str | os.PathLike,
    sampling: Sampling | str = "all",
    info: MediaInfo | None = None,
    stats: DecodeStats | None = None,
) -> Iterator[Frame]:
    """Yield sampled frames one by one, each distinct frame once (memory stays flat even for
    `AllFrames`). `info` (from `probe`) saves re-deciding the kind and re-counting frames."""
    sampling = parse_sampling(sampling)
    p = check_file(path)
    stats = stats if stats is not None else DecodeStats()
    animated = info.codec is not None and info.codec.startswith("animated") if info is not None else None
    if info is None and is_image(p):
        animated = animation_facts(p) is not None
    if animated:
        yield from _animated_frames(p, sampling, stats)
        return
    if (info.kind == "image") if info is not None else is_image(p):
        stats.kind, stats.frames_kept = "image", stats.frames_kept + 1
        yield Frame(0, 0.0, read_image(p))
        return
    container, stream = open_video(p)
    with container:
        if is_image_container(container):
            container.close()
            stats.kind, stats.frames_kept = "image", stats.frames_kept + 1
            yield Frame(0, 0.0, read_image(p))
            return
        stats.kind = "video"
        targeted = isinstance(sampling, (UniformSampling, EveryKSampling, WindowSampling))
        known = info.frame_count if info is not None else None
        facts = stream_facts(container, stream, p, count_if_unknown=targeted and not known)
        reader = _VideoReader(container, stream, facts, p, stats)
        if isinstance(sampling, KeyframeSampling):
            yield from reader.sequential(keyframes_only=True)
        elif isinstance(sampling, AllFrames):
            yield from reader.sequential(keyframes_only=False)
        else:
            stats.frame_count = facts.frame_count or known or 0
            indices = sampling.indices(stats.frame_count)
            # distinct targets; read_frames re-applies the circular padding of a short video
            targets = sorted({i / facts.fps for i in indices})
            stats.targets = len(targets)
            yield from reader.targets(targets)


def _animated_frames(p: Path, sampling: Sampling, stats: DecodeStats) -> Iterator[Frame]:
    """An animated GIF / WebP / PNG, sampled like a short video (keyframes: every frame)."""
    facts = animation_facts(p)
    if facts is None:  # not animated after all
        stats.kind, stats.frames_kept = "image", stats.frames_kept + 1
        yield Frame(0, 0.0, read_image(p))
        return
    stats.kind = "video"
    indices = None
    if isinstance(sampling, (UniformSampling, EveryKSampling, WindowSampling)):
        stats.frame_count = facts.n_frames
        indices = sorted(set(sampling.indices(facts.n_frames)))
        stats.targets = len(indices)
    for i, t, image in iter_image_frames(p, indices, facts):
        stats.frames_decoded += 1
        stats.frames_kept += 1
        yield Frame(index=i, time_s=t, image=image)


class _EndOfData(Exception):
    """The data is cut off: stop reading and keep what was decoded."""


class _VideoReader:
    """One open video stream: packets in, RGB frames out, with the counts in `stats`."""

    def __init__(self, container, stream, facts: StreamFacts, path: Path, stats: DecodeStats) -> None:
        self.container, self.stream, self.facts = container, stream, facts
        self.path, self.stats = path, stats
        self.ctx = stream.codec_context
        self.previous: float | None = None  # time of the last decoded frame

    # -- low level ----------------------------------------------------------------------
    def time_of(self, frame: av.VideoFrame) -> float:
        if frame.pts is not None:
            t = self.facts.seconds(frame.pts)
        else:
            t = 0.0 if self.previous is None else self.previous + 1.0 / self.facts.fps
        self.previous = t
        return t

    def keep(self, frame: av.VideoFrame, t: float) -> Frame:
        self.stats.frames_kept += 1
        return Frame(index=max(0, round(t * self.facts.fps)), time_s=t, image=frame_to_rgb(frame))

    def decode(self, packet: av.Packet | None) -> list[av.VideoFrame]:
        """Frames out of one packet; [] for a packet the decoder rejects (skipped and counted).
        Raises `_EndOfData` where the data is cut off, and the first error when nothing has
        decoded after `_MAX_ERRORS_BEFORE_A_FRAME` rejected packets (a stream that never will)."""
        try:
            frames = self.ctx.decode(packet)
        except av.error.FFmpegError as exc:
            if packet is not None and packet.size and (packet.is_corrupt or _runs_past_eof(packet, self.path)):
                self.stats.cut_off = f"video data is cut off near byte {packet.pos}"
                raise _EndOfData from exc
            if packet is None:  # draining: what is left in the decoder is lost, nothing more
                return []
            err = error_from_av(self.path, exc, "decode")
            self.stats.first_error = self.stats.first_error or err
            self.stats.corrupt_packets += 1
            if self.stats.frames_decoded == 0 and self.stats.corrupt_packets >= _MAX_ERRORS_BEFORE_A_FRAME:
                raise err from exc
            return []
        self.stats.packets += packet is not None and packet.size > 0
        self.stats.frames_decoded += len(frames)
        whole = [f for f in frames if not f.is_corrupt]  # concealed damage is no evidence
        self.stats.corrupt_packets += len(whole) < len(frames)
        return whole

    def demux(self) -> Iterator[av.Packet]:
        packets = self.container.demux(self.stream)
        while True:
            try:
                packet = next(packets)
            except StopIteration:
                return
            except av.error.FFmpegError as exc:
                # The demuxer cannot go past broken container data: the read ends here.
                err = error_from_av(self.path, exc, "decode")
                self.stats.first_error = self.stats.first_error or err
                self.stats.cut_off = f"container data breaks off: {exc}"
                return
            if packet.size and packet.is_corrupt and _runs_past_eof(packet, self.path):
                # frame-threaded decoders do not always report the broken last packet
                self.stats.cut_off = f"video data is cut off near byte {packet.pos}"
                return
            yield packet

    # -- strategies ---------------------------------------------------------------------
    def sequential(self, keyframes_only: bool) -> Iterator[Frame]:
        # Keyframes: non-key packets are not even sent, and frames are checked too, because not
        # every decoder honours skip_frame=NONKEY (VP9 does not).
        self.ctx.skip_frame = "NONKEY" if keyframes_only else "DEFAULT"
        try:
            for packet in self.demux():
                if keyframes_only and packet.size and not packet.is_keyframe:
                    continue
                for frame in self.decode(packet):
                    t = self.time_of(frame)
                    if not keyframes_only or frame.key_frame:
                        yield self.keep(frame, t)
        except _EndOfData:
            return  # cut off: what was yielded stands

    def targets(self, targets: list[float]) -> Iterator[Frame]:
        """Yield, for each target time, the decoded frame nearest to it (each frame once)."""
        m = len(targets)
        if m == 0:
            return
        facts = self.facts
        period = 1.0 / facts.fps
        tol = _TARGET_TOLERANCE * period
        key_times, delay = _keyframe_index(self.container, self.stream, facts)
        best: list[av.VideoFrame | None] = [None] * m
        best_t = [math.nan] * m
        best_d = [math.inf] * m
        state = {"j0": 0, "emitted": None}  # first target whose frame is not final; last time yielded

        def emit(j: int) -> Frame | None:
            if best[j] is None or best_t[j] == state["emitted"]:
                return None  # no frame, or the frame the previous target already got
            state["emitted"] = best_t[j]
            out = self.keep(best[j], best_t[j])
            best[j] = None
            return out

        def take(frames: list[av.VideoFrame]) -> Iterator[Frame]:
            for frame in frames:
                t = self.time_of(frame)
                j = state["j0"]
                while j < m:
                    d = abs(t - targets[j])
                    if d < best_d[j]:
                        best_d[j], best_t[j], best[j] = d, t, frame
                    if targets[j] > t:
                        break
                    j += 1
                while state["j0"] < m and targets[state["j0"]] <= t:  # later frames are farther
                    out = emit(state["j0"])
                    state["j0"] += 1
                    if out is not None:
                        yield out

        packets = self.demux()
        read_pos = key_times[0] if key_times else -math.inf  # decode-order time of the last packet
        last_seek = -math.inf
        can_seek = bool(key_times)
        try:
            while state["j0"] < m:
                target = targets[state["j0"]]
                k = bisect.bisect_right(key_times, target - delay + 0.5 * period) - 1
                if can_seek and k >= 0 and key_times[k] > read_pos + period and key_times[k] > last_seek:
                    # A keyframe lies between here and the next target: jump to it.
                    yield from take(self.decode(None))  # drain the frames still in the decoder
                    if state["j0"] >= m:
                        break
                    last_seek = key_times[k]
                    self.seek(target + 0.5 * period)
                    packets = self.demux()
                    first = next(packets, None)
                    if first is None:
                        break
                    stamp = first.dts if first.dts is not None else first.pts
                    if stamp is not None and facts.seconds(stamp) < read_pos:
                        can_seek = False  # the demuxer went back further than its index said
                    packets = itertools.chain([first], packets)
                    read_pos = key_times[k] - period
                    continue
                packet = next(packets, None)
                if packet is None:
                    break
                if packet.size:
                    stamp = packet.dts if packet.dts is not None else packet.pts
                    if stamp is not None:
                        read_pos = facts.seconds(stamp)
                    # Frames near no target are dropped by the decoder when nothing refers to them.
                    self.ctx.skip_frame = "DEFAULT" if _is_wanted(packet, facts, targets, tol) else "NONREF"
                yield from take(self.decode(packet))
        except _EndOfData:
            pass  # cut off: the frames decoded so far are served below
        # End of data: targets past the last frame take it only when it is close.
        for j in range(state["j0"], m):
            near_end = self.previous is not None and targets[j] <= self.previous + _END_SLACK * period
            if best[j] is not None and near_end:
                out = emit(j)
                if out is not None:
                    yield out

    def seek(self, seconds: float) -> None:
        """Demuxers seek on presentation time: this lands on the last keyframe at or before it
        (and flushes the decoder)."""
        try:
            self.container.seek(self.facts.pts(seconds), backward=True, stream=self.stream)
        except av.error.FFmpegError as exc:
            raise error_from_av(self.path, exc, "decode") from exc
        self.stats.seeks += 1


def _runs_past_eof(packet: av.Packet, path: Path) -> bool:
    try:
        return packet.pos >= 0 and packet.pos + packet.size >= path.stat().st_size
    except OSError:
        return False


def _keyframe_index(container, stream, facts: StreamFacts) -> tuple[list[float], float]:
    """Keyframe times (s) from the container index, and the delay between a keyframe's index
    time and its presentation time (mp4 indexes by decode time, which B-frames shift).

    Matroska/WebM load their cues only on the first seek, so an index of one entry triggers a
    seek to the start (which also leaves the demuxer where reading begins anyway)."""
    try:
        entries = stream.index_entries
        if len(entries) < 2:
            container.seek(facts.start_pts, backward=True, stream=stream)
            entries = stream.index_entries
        raw = [e.timestamp for e in entries if e.is_keyframe]
        first = entries[0].timestamp if len(entries) else None
    except (AttributeError, av.error.FFmpegError):
        return [], 0.0
    if len(raw) < 2 or first is None:
        return [], 0.0
    delay = max(0.0, -facts.seconds(first))  # the first frame presents at 0 s
    return [facts.seconds(ts) for ts in raw], delay


def _is_wanted(packet: av.Packet, facts: StreamFacts, targets: list[float], tol: float) -> bool:
    if packet.pts is None:
        return True
    t = facts.seconds(packet.pts)
    i = bisect.bisect_left(targets, t - tol)
    return i < len(targets) and targets[i] <= t + tol
