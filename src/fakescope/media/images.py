"""Still and animated images via Pillow: EXIF orientation applied, every mode turned into
8-bit RGB, memory bounded for huge images.

Size limits (pixels = width x height from the header, checked before any pixel is decoded):
- JPEG decodes at a reduced scale (1/2, 1/4, 1/8 by the DCT: `Image.draft`) so that neither side
  exceeds `MAX_DECODED_SIDE` more than needed; accepted up to `MAX_REDUCIBLE_PIXELS`;
- other formats must decode in full: accepted up to `MAX_FULL_PIXELS`, then scaled down;
- beyond those: MediaError ``too_large``, never a decode that could exhaust memory.
A decoded image is never larger than `MAX_DECODED_SIDE` on its longer side (the face stage
works on copies of at most a few thousand pixels anyway).
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

from fakescope.errors import MediaError
from fakescope.media.files import check_file

_EXIF_ORIENTATION = 0x0112
# Clockwise rotation contained in each EXIF orientation (5 and 7 also mirror).
_ORIENTATION_ROTATION = {3: 180, 5: 90, 6: 90, 7: 270, 8: 270}
_SIXTEEN_BIT_MODES = {"I;16", "I;16L", "I;16B", "I;16N", "I"}

MAX_REDUCIBLE_PIXELS = 1_000_000_000  # JPEG: decoded at a reduced scale
MAX_FULL_PIXELS = 250_000_000  # formats decoded in full (~750 MB as RGB)
MAX_DECODED_SIDE = 8192
_REDUCIBLE_FORMATS = {"JPEG", "MPO"}
# fakescope makes its own size decision (above) before decoding, with the cause in the error;
# Pillow's bomb check (an error above twice its limit, 179 MP by default) would refuse the
# 20000x20000 JPEGs that reduced decoding handles, so its limit is raised to ours, never removed.
if Image.MAX_IMAGE_PIXELS is not None and Image.MAX_IMAGE_PIXELS < MAX_REDUCIBLE_PIXELS:
    Image.MAX_IMAGE_PIXELS = MAX_REDUCIBLE_PIXELS


@dataclass(frozen=True)
class ImageHeader:
    width: int  # after EXIF orientation
    height: int
    rotation: int
    format: str


def _open(path: Path) -> Image.Image:
    try:
        img = Image.open(path)
    except UnidentifiedImageError as exc:
        raise MediaError(str(path), "not_media", "not an image Pillow can read") from exc
    except Image.DecompressionBombError as exc:  # beyond Pillow's own guard: far too large
        raise MediaError(str(path), "too_large",
                         f"{exc}; fakescope decodes at most {MAX_REDUCIBLE_PIXELS / 1e6:.0f} MP") from exc
    except OSError as exc:
        raise MediaError(str(path), "unreadable", str(exc)) from exc
    _check_size(path, img)
    return img


def _check_size(path: Path, img: Image.Image) -> None:
    w, h = img.size
    limit = MAX_REDUCIBLE_PIXELS if img.format in _REDUCIBLE_FORMATS else MAX_FULL_PIXELS
    if w * h > limit:
        img.close()
        raise MediaError(str(path), "too_large",
                         f"{w}x{h} = {w * h / 1e6:.0f} MP, over the {limit / 1e6:.0f} MP limit "
                         f"for {img.format or 'this format'}")


def _decode_bounded(img: Image.Image) -> Image.Image:
    """Decode (reduced where the format allows it) to at most MAX_DECODED_SIDE per side."""
    if max(img.size) > MAX_DECODED_SIDE and img.format in _REDUCIBLE_FORMATS:
        scale = MAX_DECODED_SIDE / max(img.size)
        img.draft(img.mode, (max(1, int(img.size[0] * scale)), max(1, int(img.size[1] * scale))))
    img.load()
    if max(img.size) > MAX_DECODED_SIDE:
        factor = -(-max(img.size) // MAX_DECODED_SIDE)  # ceil
        img = img.reduce(factor) if img.mode not in ("P", "1") else img.convert("RGBA").reduce(factor)
    return img


def image_header(path: str | os.PathLike) -> ImageHeader:
    """Size and orientation from the header only (no pixel decode)."""
    p = check_file(path)
    with _open(p) as img:
        orientation = img.getexif().get(_EXIF_ORIENTATION, 1)
        width, height = img.size
        fmt = (img.format or "unknown").lower()
    if orientation in (5, 6, 7, 8):
        width, height = height, width
    return ImageHeader(width, height, _ORIENTATION_ROTATION.get(orientation, 0), fmt)


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Decode to (H, W, 3) uint8 RGB, upright, at most MAX_DECODED_SIDE per side. The first
    frame of a multi-frame file (`iter_image_frames` reads them all)."""
    p = check_file(path)
    with _open(p) as img:
        try:
            upright = ImageOps.exif_transpose(_decode_bounded(img))
            return to_rgb8(upright)
        except Image.DecompressionBombError as exc:
            raise MediaError(str(p), "unreadable", str(exc)) from exc
        except OSError as exc:  # Pillow reports cut-off data as OSError("image file is truncated ...")
            reason = "truncated" if "truncated" in str(exc).lower() else "unreadable"
            raise MediaError(str(p), reason, str(exc)) from exc
        except (ValueError, SyntaxError) as exc:  # corrupt headers surface as these in some plugins
            raise MediaError(str(p), "unreadable", str(exc)) from exc


@dataclass(frozen=True)
class AnimationFacts:
    n_frames: int
    durations_s: tuple[float, ...]  # per frame; a missing or 0 duration counts as 0.1 s

    @property
    def fps(self) -> float:
        total = sum(self.durations_s)
        return self.n_frames / total if total > 0 else 10.0


def animation_facts(path: str | os.PathLike) -> AnimationFacts | None:
    """Frame count and timing of an animated GIF / WebP / PNG; None for a still image.
    Reads frame headers only."""
    p = check_file(path)
    with _open(p) as img:
        n = int(getattr(img, "n_frames", 1) or 1)
        if n < 2:
            return None
        durations = []
        try:
            for i in range(n):
                img.seek(i)
                durations.append(float(img.info.get("duration") or 100) / 1000.0)
        except (EOFError, OSError, ValueError):
            n = len(durations)  # frames past a broken one are not counted
        return AnimationFacts(n, tuple(durations)) if n >= 2 else None


def iter_image_frames(path: str | os.PathLike, indices: list[int] | None,
                      facts: AnimationFacts) -> Iterator[tuple[int, float, np.ndarray]]:
    """(index, time_s, RGB) of the wanted frames of an animated image (None: every frame), in
    order. A frame that fails to decode ends the read (later frames depend on it)."""
    p = check_file(path)
    wanted = None if indices is None else sorted(set(indices))
    starts = np.concatenate([[0.0], np.cumsum(facts.durations_s)[:-1]])
    with _open(p) as img:
        for i in range(facts.n_frames) if wanted is None else wanted:
            if i >= facts.n_frames:
                break
            try:
                img.seek(i)
                frame = to_rgb8(_decode_bounded(img).copy())
            except (EOFError, OSError, ValueError):
                return
            yield i, float(starts[i]), frame


def to_rgb8(img: Image.Image) -> np.ndarray:
    """Any Pillow mode to 8-bit RGB: 16-bit scaled (not clipped), CMYK through its ICC profile
    when it has one, transparency composited on white."""
    mode = img.mode
    if mode in _SIXTEEN_BIT_MODES:
        grey16 = np.asarray(img).astype(np.float32)
        grey8 = np.clip(grey16 / 257.0 + 0.5, 0, 255).astype(np.uint8)
        return np.repeat(grey8[:, :, None], 3, axis=2)
    if mode == "F":
        grey = np.asarray(img, dtype=np.float32)
        scale = 255.0 if np.nanmax(grey, initial=0.0) <= 1.0 else 1.0
        grey8 = np.clip(np.nan_to_num(grey) * scale + 0.5, 0, 255).astype(np.uint8)
        return np.repeat(grey8[:, :, None], 3, axis=2)
    if mode == "CMYK" and img.info.get("icc_profile"):
        try:
            src = ImageCms.ImageCmsProfile(io.BytesIO(img.info["icc_profile"]))
            rgb = ImageCms.profileToProfile(img, src, ImageCms.createProfile("sRGB"), outputMode="RGB")
            return np.array(rgb, dtype=np.uint8)
        except ImageCms.PyCMSError:
            pass  # a broken profile: fall back to Pillow's plain conversion below
    if mode in ("RGBA", "LA", "PA", "La", "RGBa") or (mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return np.array(Image.alpha_composite(white, rgba).convert("RGB"), dtype=np.uint8)
    if mode != "RGB":
        img = img.convert("RGB")
    return np.array(img, dtype=np.uint8)
