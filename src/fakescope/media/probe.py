"""Probe: what an input is (kind, size, rotation, rate, length, codec, sha256), decoding one frame."""

from __future__ import annotations

import os

import av

from fakescope.errors import MediaError
from fakescope.media.container import (
    error_from_av,
    is_image_container,
    looks_like_video_container,
    open_video,
    stream_facts,
)
from fakescope.media.files import check_file, is_image
from fakescope.media.hashing import sha256_file
from fakescope.media.images import animation_facts, image_header

_ANIMATED_FORMATS = {"gif", "webp", "png"}
from fakescope.types import MediaInfo


def probe(path: str | os.PathLike) -> MediaInfo:
    """Read the container header and decode one keyframe (the display rotation lives in frame
    side data, and decoding it proves the codec works). Raises MediaError naming the cause."""
    p = check_file(path)
    if is_image(p):
        try:
            return _probe_image(p)
        except MediaError as err:
            if err.reason != "not_media" or not looks_like_video_container(p):
                raise
            # a video with an image's suffix: probed (and then decoded) as the video it is
    container, stream = open_video(p)
    with container:
        if is_image_container(container):
            container.close()
            return _probe_image(p)
        facts = stream_facts(container, stream, p)
        stream.thread_type = "SLICE"  # frame threads would delay the first frame
        stream.codec_context.skip_frame = "NONKEY"
        rotation = None
        first_error = None
        try:
            for packet in container.demux(stream):
                try:
                    frames = stream.codec_context.decode(packet)
                except av.error.FFmpegError as exc:
                    # a damaged keyframe: the next one may decode (the read skips it too)
                    first_error = first_error or exc
                    if packet.is_corrupt or not packet.size:
                        raise
                    continue
                if frames:
                    rotation = (-round((frames[0].rotation or 0) / 90) * 90) % 360  # to clockwise
                    break
        except Exception as exc:  # noqa: BLE001 - every FFmpeg failure becomes a MediaError
            raise error_from_av(p, exc, "decode") from exc
        if rotation is None and first_error is not None:
            raise error_from_av(p, first_error, "decode")
    if rotation is None:
        raise MediaError(str(p), "no_frames", "the video stream holds no decodable keyframe")
    width, height = facts.coded_width, facts.coded_height
    if rotation in (90, 270):
        width, height = height, width
    return MediaInfo(
        path=str(p),
        kind="video",
        sha256=sha256_file(p),
        width=width,
        height=height,
        rotation=rotation,
        fps=facts.fps,
        duration_s=facts.duration_s,
        frame_count=facts.frame_count,
        codec=facts.codec,
    )


def _probe_image(p) -> MediaInfo:
    header = image_header(p)
    anim = animation_facts(p) if header.format in _ANIMATED_FORMATS else None
    if anim is not None:  # scanned like a short video
        return MediaInfo(
            path=str(p), kind="video", sha256=sha256_file(p), width=header.width,
            height=header.height, rotation=header.rotation, fps=anim.fps,
            duration_s=float(sum(anim.durations_s)), frame_count=anim.n_frames,
            codec=f"animated {header.format}",
        )
    return MediaInfo(
        path=str(p),
        kind="image",
        sha256=sha256_file(p),
        width=header.width,
        height=header.height,
        rotation=header.rotation,
        codec=header.format,
    )
