"""Writers of small test media built from a real face (skimage's astronaut).

Plain functions, not fixtures: call them with a path under ``tmp_path``. Everything is small
(default 320x240, 30 frames) so a test that writes a video stays well under a second.

Geometry helpers (`scene`, `face_boxes`) tell a test where the faces are in each frame, so face
tests can check boxes against a known truth instead of a detector's opinion.
"""

from __future__ import annotations

import math
from fractions import Fraction
from functools import lru_cache
from pathlib import Path

import av
import numpy as np
from PIL import Image

# Face box of skimage.data.astronaut() (512x512), measured with facenet-pytorch MTCNN
# (confidence 0.99999): x0, y0, x1, y1.
ASTRONAUT_FACE_BOX = (181.1, 62.2, 267.7, 172.1)
ASTRONAUT_SIZE = 512

_CONTAINERS = {".mp4": "mp4", ".mov": "mov", ".mkv": "matroska", ".avi": "avi", ".webm": "webm"}

# EXIF orientation -> the Pillow transpose that *stores* an upright image so that
# ImageOps.exif_transpose turns it upright again (the inverse of what exif_transpose applies).
_EXIF_STORE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_90,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_270,
}


def has_encoder(codec: str) -> bool:
    """True when PyAV's bundled FFmpeg can encode with `codec`."""
    if codec not in av.codecs_available:
        return False
    try:
        av.codec.Codec(codec, "w")
    except Exception:  # noqa: BLE001 - any failure means "cannot encode here"
        return False
    return True


def skip_unless_encoder(codec: str) -> None:
    """pytest.skip the calling test when `codec` cannot be encoded here."""
    if not has_encoder(codec):
        import pytest

        pytest.skip(f"FFmpeg in PyAV {av.__version__} has no {codec} encoder")


@lru_cache(maxsize=1)
def astronaut() -> np.ndarray:
    from skimage import data

    return data.astronaut()


@lru_cache(maxsize=16)
def _tile(side: int, mirrored: bool) -> np.ndarray:
    img = Image.fromarray(astronaut()).resize((side, side), Image.Resampling.BILINEAR)
    arr = np.asarray(img)
    return np.ascontiguousarray(arr[:, ::-1]) if mirrored else arr


def _background(width: int, height: int) -> np.ndarray:
    """A smooth colour gradient: no face-like structure, compresses well."""
    gx = np.linspace(40, 200, width, dtype=np.float32)[None, :]
    gy = np.linspace(60, 160, height, dtype=np.float32)[:, None]
    bg = np.stack([gx + 0 * gy, 0.5 * (gx + gy), gy + 0 * gx], axis=-1)
    return bg.astype(np.uint8)


def _tile_layout(size: tuple[int, int], faces: int, index: int, n_frames: int, moving: bool):
    """(x0, y0, side, mirrored) of each astronaut tile in display coordinates."""
    width, height = size
    if faces not in (1, 2):
        raise ValueError("faces must be 1 or 2")
    side = min(height, width) if faces == 1 else min(height, width // 2)
    dx = round(0.04 * width * math.sin(2 * math.pi * index / max(n_frames, 1))) if moving else 0
    y0 = (height - side) // 2
    centres = [width / 2] if faces == 1 else [width / 4, 3 * width / 4]
    return [(round(c - side / 2) + dx, y0, side, i == 1) for i, c in enumerate(centres)]


def face_boxes(
    size: tuple[int, int], faces: int = 1, index: int = 0, n_frames: int = 30, moving: bool = True
) -> list[tuple[float, float, float, float]]:
    """True face boxes (x0, y0, x1, y1) in display pixels of frame `index` of `make_video`."""
    boxes = []
    for x0, y0, side, mirrored in _tile_layout(size, faces, index, n_frames, moving):
        s = side / ASTRONAUT_SIZE
        bx0, by0, bx1, by1 = ASTRONAUT_FACE_BOX
        if mirrored:
            bx0, bx1 = ASTRONAUT_SIZE - bx1, ASTRONAUT_SIZE - bx0
        boxes.append((x0 + bx0 * s, y0 + by0 * s, x0 + bx1 * s, y0 + by1 * s))
    return boxes


def scene(
    size: tuple[int, int] = (320, 240),
    faces: int = 1,
    index: int = 0,
    n_frames: int = 30,
    moving: bool = True,
    blank: bool = False,
    seed: int = 0,
) -> np.ndarray:
    """One upright display frame (H, W, 3) uint8: astronaut(s) on a gradient, or no face."""
    width, height = size
    img = _background(width, height)
    if blank:
        rng = np.random.default_rng(seed + index)
        noise = rng.integers(-20, 21, size=img.shape, dtype=np.int16)
        return np.clip(img.astype(np.int16) + noise, 0, 255).astype(np.uint8)
    for x0, y0, side, mirrored in _tile_layout(size, faces, index, n_frames, moving):
        tile = _tile(side, mirrored)
        sx0, sx1 = max(0, -x0), min(side, width - x0)
        img[y0 : y0 + side, x0 + sx0 : x0 + sx1] = tile[:, sx0:sx1]
    return img


def make_video(
    path: str | Path,
    n_frames: int = 30,
    fps: float = 30,
    size: tuple[int, int] = (320, 240),
    codec: str = "libx264",
    rotation: int = 0,
    vfr: bool = False,
    moving: bool = True,
    faces: int = 1,
    blank: bool = False,
    gop: int = 10,
    seed: int = 0,
) -> Path:
    """Write a short video; the container comes from the suffix (mp4, mov, mkv, avi, webm).

    `size` is the *display* (W, H). `rotation` (0/90/180/270, clockwise) stores the frames
    turned the other way and writes a display matrix, so only a reader that honours rotation
    gets the upright `scene` back. `vfr` gives irregular frame durations (0.5x-1.5x of 1/fps)
    with timestamps in ms. `gop` is the keyframe interval.
    """
    path = Path(path)
    fmt = _CONTAINERS.get(path.suffix.lower())
    if fmt is None:
        raise ValueError(f"unknown video suffix {path.suffix!r}; use one of {sorted(_CONTAINERS)}")
    if rotation % 90:
        raise ValueError("rotation must be a multiple of 90")
    k = (rotation // 90) % 4
    width, height = size
    coded_w, coded_h = (height, width) if k % 2 else (width, height)
    if coded_w % 2 or coded_h % 2:
        raise ValueError("width and height must be even for yuv420p")
    skip_unless_encoder(codec)

    rate = Fraction(fps).limit_denominator(1001)
    rng = np.random.default_rng(seed)
    with av.open(str(path), "w", format=fmt) as container:
        stream = container.add_stream(codec, rate=rate, options=_encoder_options(codec))
        stream.width, stream.height = coded_w, coded_h
        stream.pix_fmt = "yuv420p"
        stream.codec_context.gop_size = gop
        if vfr:
            stream.codec_context.time_base = Fraction(1, 1000)
        if k:
            stream.set_display_rotation(-90 * k)  # PyAV's angle is counter-clockwise
        pts = 0
        for i in range(n_frames):
            display = scene(size, faces, i, n_frames, moving, blank, seed)
            coded = np.ascontiguousarray(np.rot90(display, k=k))  # undone by a clockwise turn
            frame = av.VideoFrame.from_ndarray(coded, format="rgb24")
            if vfr:
                frame.pts = pts
                frame.time_base = Fraction(1, 1000)
                pts += max(1, round(1000 / fps * rng.uniform(0.5, 1.5)))
            else:
                frame.pts = i
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def _encoder_options(codec: str) -> dict[str, str]:
    if codec == "libx264":
        return {"preset": "veryfast", "sc_threshold": "0"}  # keeps B-frames, fixed GOP
    if codec == "libx265":
        return {"preset": "ultrafast", "x265-params": "log-level=none:scenecut=0"}
    if codec in ("libvpx-vp9", "libvpx"):
        return {"deadline": "realtime", "cpu-used": "8"}
    return {}


def make_image(
    path: str | Path,
    mode: str = "RGB",
    exif_orientation: int | None = None,
    size: tuple[int, int] = (256, 256),
    faces: int = 1,
    blank: bool = False,
) -> Path:
    """Write the astronaut scene as an image; the format comes from the suffix.

    `mode` "RGB", "RGBA" (top-left 16x16 transparent), "L", "CMYK" (jpg/tiff) or "I;16" (16-bit grey over the full
    0-65535 range; png/tiff). With `exif_orientation` (2-8) the pixels are stored transformed
    and the EXIF tag says how to undo it, so only an EXIF-aware reader gets `scene` back.
    """
    path = Path(path)
    rgb = scene(size, faces=faces, moving=False, blank=blank)
    if mode == "RGB":
        img = Image.fromarray(rgb)
    elif mode == "RGBA":  # the top-left 16x16 block is fully transparent
        alpha = np.full(rgb.shape[:2], 255, np.uint8)
        alpha[:16, :16] = 0
        img = Image.fromarray(np.dstack([rgb, alpha]))
    elif mode == "L":
        img = Image.fromarray(rgb).convert("L")
    elif mode == "CMYK":
        img = Image.fromarray(rgb).convert("CMYK")
    elif mode == "I;16":
        grey = np.asarray(Image.fromarray(rgb).convert("L"), dtype=np.uint16) * 257
        img = Image.fromarray(grey)  # a 2-D uint16 array becomes mode "I;16"
    else:
        raise ValueError(f"unsupported mode {mode!r}")
    kwargs = {}
    if exif_orientation is not None:
        if exif_orientation != 1:
            img = img.transpose(_EXIF_STORE[exif_orientation])
        exif = Image.Exif()
        exif[0x0112] = exif_orientation
        kwargs["exif"] = exif.tobytes()
    img.save(path, **kwargs)
    return path


def make_corrupt(path: str | Path, kind: str = "garbage") -> Path:
    """Write a bad input.

    kind: "empty" (0 bytes), "truncated" (first half of a valid mp4: index lost),
    "truncated_tail" (fast-start mp4 cut mid-data: opens, then the data runs out),
    "garbage" (random bytes), "text" (a text file with a video suffix),
    "unsupported_codec" (an AVI whose fourcc names no codec FFmpeg knows),
    "audio_only" (a valid file without a video stream).
    """
    path = Path(path)
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "garbage":
        path.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    elif kind == "text":
        path.write_text("this is not a video\n" * 20)
    elif kind in ("truncated", "truncated_tail"):
        tmp = path.with_name(path.stem + ".full" + path.suffix)
        make_video(tmp, n_frames=30, size=(160, 120), gop=5)
        if kind == "truncated_tail":
            _faststart(tmp)
        data = tmp.read_bytes()
        tmp.unlink()
        path.write_bytes(data[: len(data) // 2])
    elif kind == "unsupported_codec":
        tmp = path.with_name(path.stem + ".full.avi")
        make_video(tmp, n_frames=5, size=(160, 120), codec="mpeg4")
        data = tmp.read_bytes()
        tmp.unlink()
        for tag in (b"FMP4", b"fmp4"):  # stream header fourcc and BITMAPINFOHEADER compression
            data = data.replace(tag, b"ZQX9")
        path.write_bytes(data)
    elif kind == "audio_only":
        _write_audio_only(path)
    else:
        raise ValueError(f"unknown corrupt kind {kind!r}")
    return path


def _faststart(path: Path) -> None:
    """Rewrite an mp4 with its index (moov) at the front via a remux."""
    tmp = path.with_name(path.stem + ".fs" + path.suffix)
    with av.open(str(path)) as src, av.open(
        str(tmp), "w", format="mp4", options={"movflags": "+faststart"}
    ) as dst:
        in_stream = src.streams.video[0]
        out_stream = dst.add_stream_from_template(in_stream)
        for packet in src.demux(in_stream):
            if packet.dts is None:
                continue
            packet.stream = out_stream
            dst.mux(packet)
    tmp.replace(path)


def _write_audio_only(path: Path) -> None:
    fmt = _CONTAINERS.get(path.suffix.lower(), "mp4")
    codec = "aac" if fmt in ("mp4", "mov") else "pcm_s16le" if fmt in ("avi", "matroska") else "libopus"
    skip_unless_encoder(codec)
    with av.open(str(path), "w", format=fmt) as container:
        stream = container.add_stream(codec, rate=48000)
        stream.layout = "mono"
        samples = (np.sin(np.arange(48000) / 48000 * 2 * np.pi * 440) * 3000).astype(np.int16)
        frame_size = stream.codec_context.frame_size or 1024
        resampler = av.AudioResampler(format=stream.codec_context.format.name, layout="mono", rate=48000)
        for start in range(0, len(samples), frame_size):
            chunk = samples[start : start + frame_size]
            if len(chunk) < frame_size:
                break
            arr = chunk[None, :]
            frame = av.AudioFrame.from_ndarray(arr, format="s16", layout="mono")
            frame.sample_rate = 48000
            frame.pts = start
            for f in resampler.resample(frame):
                container.mux(stream.encode(f))
        container.mux(stream.encode(None))
