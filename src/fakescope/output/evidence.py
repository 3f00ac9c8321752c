"""The pictures behind a verdict, gathered for a report: the most suspicious sampled frame with
each face's box and score (re-read from the file, only when it still has the scanned sha256),
and per person the crop and its explanation overlay that `scan --explain` wrote."""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from fakescope.media.hashing import sha256_file

_OVERLAY = re.compile(r"^track(\d+)_frame(\d+)_p([0-9.]+)\.png$")
MAX_FRAME_SIDE = 960  # the frame is inlined as a JPEG at most this wide or tall


@dataclass
class Person:
    track_id: int
    frame: int
    score: float
    overlay: bytes  # PNG
    crop: bytes | None  # PNG, the same size (None: written by a fakescope before the crops)


@dataclass
class Evidence:
    frame: bytes | None = None  # JPEG of the most suspicious sampled frame with boxes drawn
    frame_index: int | None = None
    frame_note: str | None = None  # why there is no frame, when there is none
    people: list[Person] = field(default_factory=list)
    timeline_png: bytes | None = None


def explain_folder(explain_dir: Path, record: dict[str, Any]) -> Path:
    """Where `scan --explain DIR` put this file's pictures (`scanner.write_explanation`)."""
    return Path(explain_dir) / f"{Path(record['path']).stem}_{(record.get('sha256') or '')[:8]}"


def gather(record: dict[str, Any], media: Path | None, explain: Path | None) -> Evidence:
    """`media`: the scanned file (None: not at hand); `explain`: its `--explain` folder."""
    ev = Evidence()
    if explain is not None and explain.is_dir():
        for p in sorted(explain.iterdir()):
            m = _OVERLAY.match(p.name)
            if m:
                crop = p.with_name(f"crop_track{m[1]}_frame{m[2]}.png")
                ev.people.append(Person(int(m[1]), int(m[2]), float(m[3]), p.read_bytes(),
                                        crop.read_bytes() if crop.is_file() else None))
        if (explain / "timeline.png").is_file():
            ev.timeline_png = (explain / "timeline.png").read_bytes()
    points = record.get("timeline") or []
    if not points:
        ev.frame_note = "no sampled frame had a scored face"
    elif media is None or not media.is_file():
        ev.frame_note = f"the file is not at hand ({record['path']}): frame not shown"
    elif record.get("sha256") and sha256_file(media) != record["sha256"]:
        ev.frame_note = "the file changed since it was scanned (sha256 differs): frame not shown"
    else:
        top = max(points, key=lambda p: p["score"])
        image = read_frame(media, record.get("kind"), top["frame"], top["time_s"])
        ev.frame = draw_boxes(image, faces_at(record, top["frame"]))
        ev.frame_index = top["frame"]
    return ev


def faces_at(record: dict[str, Any], frame: int) -> list[tuple[list[float], float, int]]:
    """(box, score, track id) of every face scored in `frame`: the crop's own score for a crop
    detector, the track's score for a temporal one (its scores are per unit)."""
    out = []
    for t in record.get("tracks") or []:
        if frame in t["frames"]:
            i = t["frames"].index(frame)
            per_crop = t.get("units") is None and len(t["scores"]) == len(t["frames"])
            out.append((t["boxes"][i], t["scores"][i] if per_crop else t["score"], t["id"]))
    return out


def read_frame(path: Path, kind: str | None, index: int, time_s: float) -> np.ndarray:
    """One frame, rotated for display like the scan's: an image's only frame, or the video
    frame at `time_s` (seek to the keyframe before it, decode forward)."""
    if kind == "image":
        from fakescope.media import read_image

        return read_image(path)
    import av

    from fakescope.media import frame_to_rgb

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        if stream.time_base is not None:
            container.seek(int(max(0.0, time_s - 1.0) / stream.time_base), stream=stream,
                           backward=True)
        best = None
        for frame in container.decode(stream):
            t = frame.time if frame.time is not None else 0.0
            best = frame
            if t >= time_s - 1e-3:
                break
    if best is None:
        raise ValueError(f"{path}: frame {index} at {time_s:.3f} s could not be decoded")
    return frame_to_rgb(best)


def draw_boxes(image: np.ndarray, faces: list[tuple[list[float], float, int]]) -> bytes:
    """JPEG of `image` (downscaled to `MAX_FRAME_SIDE`) with a labelled box per face."""
    from PIL import Image, ImageDraw, ImageFont

    img = Image.fromarray(image)
    scale = min(1.0, MAX_FRAME_SIDE / max(img.size))
    if scale < 1.0:
        img = img.resize((round(img.width * scale), round(img.height * scale)))
    draw = ImageDraw.Draw(img)
    width = max(2, round(max(img.size) / 300))
    font = ImageFont.load_default(size=max(12, round(max(img.size) / 30)))  # readable at any size
    for box, score, track in faces:
        x0, y0, x1, y1 = (v * scale for v in box)
        draw.rectangle((x0, y0, x1, y1), outline=(255, 210, 0), width=width)
        label = f"person {track + 1}: {score:.2f}"
        left, top, right, bottom = draw.textbbox((0, 0), label, font=font)
        tx, ty = x0, max(0.0, y0 - (bottom - top) - 2 * width)
        draw.rectangle((tx, ty, tx + right + 4, ty + bottom + 2), fill=(0, 0, 0))
        draw.text((tx + 2, ty), label, fill=(255, 255, 255), font=font)
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=85)
    return buf.getvalue()
