"""Seed 000's training faces from a crop table: every crop aligned once (dlib's 68 landmarks of
the crop → 5 FFHQ points → `align.align_crop`), written as JPEG with a table beside it, so
training, `fakescope eval` and the figures all read the same aligned faces.

A crop whose landmarks cannot be found is left out and counted (never silently kept
unaligned). Resumable: faces already written are not redone.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from fakescope.data.datasets import read_image_rgb
from fakescope.data.landmarks import crop_landmarks
from fakescope.families.latentforensics.align import ALIGNED_SIZE, align_crop, five_from_68
from fakescope.families.latentforensics.projectors import resize_faces
from fakescope.output.atomic import atomic_write_text

log = logging.getLogger(__name__)
JPEG_QUALITY = 95


@dataclass(frozen=True)
class PreparedFaces:
    table: Path  # CSV: the input table's columns, `path` now the aligned face (relative to it)
    n_written: int
    n_skipped: int  # no landmarks / unreadable


def prepare_aligned(items: pd.DataFrame, out_dir: str | Path, cache_dir: str | Path | None = None,
                    size: int = ALIGNED_SIZE) -> PreparedFaces:
    """Align every crop of `items` (a `read_item_table` frame with absolute paths) into
    ``out_dir/faces`` and write ``out_dir/aligned.csv``."""
    out_dir = Path(out_dir)
    faces_dir = out_dir / "faces"
    faces_dir.mkdir(parents=True, exist_ok=True)
    paths = items["path"].astype(str).tolist()
    lms = crop_landmarks(paths, cache_dir)
    keep, new_paths, skipped = [], [], 0
    for i, (src, lm) in enumerate(zip(paths, lms)):
        dst = faces_dir / (Path(src).stem + ".jpg")
        if not dst.is_file():
            if not np.isfinite(lm).all():
                skipped += 1
                continue
            try:
                face = align_crop(read_image_rgb(src), five_from_68(lm), size)
            except ValueError as exc:  # degenerate landmarks
                log.warning("%s: %s", src, exc)
                skipped += 1
                continue
            tmp = dst.with_name(f".{dst.name}.tmp.jpg")
            cv2.imwrite(str(tmp), cv2.cvtColor(face, cv2.COLOR_RGB2BGR),
                        [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
            tmp.replace(dst)
        keep.append(i)
        new_paths.append(f"faces/{dst.name}")  # relative to the table, as read_item_table reads
    table = items.iloc[keep].copy()
    table["source_path"] = table["path"]
    table["path"] = new_paths
    target = out_dir / "aligned.csv"
    atomic_write_text(target, table.to_csv(index=False))
    return PreparedFaces(table=target, n_written=len(keep), n_skipped=skipped)


def load_faces(paths: list[str], resolution: int) -> np.ndarray:
    """Aligned faces at `resolution` as one uint8 array (N, r, r, 3)."""
    out = np.empty((len(paths), resolution, resolution, 3), np.uint8)
    for i, p in enumerate(paths):
        out[i] = resize_faces(read_image_rgb(p)[None], resolution)[0]
    return out
