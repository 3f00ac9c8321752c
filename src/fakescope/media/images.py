"""Still images via Pillow: EXIF orientation applied, every mode turned into 8-bit RGB."""

from __future__ import annotations

import io
import os
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


@dataclass(frozen=True)
class ImageHeader:
    width: int  # after EXIF orientation
    height: int
    rotation: int
    format: str


def _open(path: Path) -> Image.Image:
    try:
        return Image.open(path)
    except UnidentifiedImageError as exc:
        raise MediaError(str(path), "not_media", "not an image Pillow can read") from exc
    except Image.DecompressionBombError as exc:
        raise MediaError(str(path), "unreadable", str(exc)) from exc
    except OSError as exc:
        raise MediaError(str(path), "unreadable", str(exc)) from exc


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
    """Decode to (H, W, 3) uint8 RGB, upright. The first frame of a multi-frame file is used."""
    p = check_file(path)
    with _open(p) as img:
        try:
            img.load()
            upright = ImageOps.exif_transpose(img)
            return to_rgb8(upright)
        except Image.DecompressionBombError as exc:
            raise MediaError(str(p), "unreadable", str(exc)) from exc
        except OSError as exc:  # Pillow reports cut-off data as OSError("image file is truncated ...")
            reason = "truncated" if "truncated" in str(exc).lower() else "unreadable"
            raise MediaError(str(p), reason, str(exc)) from exc
        except (ValueError, SyntaxError) as exc:  # corrupt headers surface as these in some plugins
            raise MediaError(str(p), "unreadable", str(exc)) from exc


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
