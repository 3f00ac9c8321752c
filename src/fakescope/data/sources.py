"""Turn what a user types (files, folders, globs, a dataset description) into a list of inputs
with their labels and source-video groups.

Dataset descriptions are read by `fakescope.data.public_layouts`; this module only decides
which reader an argument needs. Files listed by a description are *not* checked for existence
here: a missing file becomes an input that `extract` records as ``missing``, so one bad entry
never stops a run.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from fakescope.data import public_layouts
from fakescope.data.labels import parse_label
from fakescope.errors import FakescopeError

LAYOUTS = ("auto", "files", "dfdc", "faceforensics", "celebdf", "csv")


@dataclass(frozen=True)
class SourceItem:
    """One input to process. `label` is 1 (FAKE) / 0 (REAL) / None (unknown); `group` is the
    source video it derives from (the file itself when nothing better is known)."""

    path: str
    label: int | None
    group: str


def detect_layout(path: str | os.PathLike) -> str:
    """Which reader an argument needs: ``dfdc`` for a ``*.json`` file or a folder with
    ``metadata.json`` (itself or one level down), ``csv`` for a ``*.csv`` file,
    ``faceforensics`` / ``celebdf`` for those dataset roots, else ``files``."""
    p = Path(path)
    if p.is_file():
        suffix = p.suffix.lower()
        if suffix == ".json":
            return "dfdc"
        if suffix == ".csv":
            return "csv"
        return "files"
    if p.is_dir():
        if (p / "original_sequences").is_dir() or (p / "manipulated_sequences").is_dir():
            return "faceforensics"
        if any((p / d).is_dir() for d in ("Celeb-real", "Celeb-synthesis", "YouTube-real")):
            return "celebdf"
        if (p / "metadata.json").is_file() or next(p.glob("*/metadata.json"), None) is not None:
            return "dfdc"
    return "files"


def _from_frame(df: pd.DataFrame) -> list[SourceItem]:
    return [
        SourceItem(str(path), None if pd.isna(label) else parse_label(label), str(group))
        for path, label, group in zip(df["path"], df["label"], df["group"], strict=True)
    ]


def _plain_files(arg: str, recursive: bool) -> list[SourceItem]:
    """Files, folders and globs. A named file that is missing, or a glob that matches
    nothing, is kept as an input so the run records it as ``missing`` instead of dropping it."""
    from fakescope.media import iter_media_files

    files = iter_media_files([arg], recursive=recursive) or [Path(arg)]
    out = []
    for f in files:
        path = str(Path(f).absolute())
        out.append(SourceItem(path, None, path))
    return out


def resolve_sources(
    inputs: Iterable[str | os.PathLike], recursive: bool = True, layout: str = "auto"
) -> list[SourceItem]:
    """Resolve CLI arguments to inputs, in argument order, without duplicates (first wins).

    `layout` forces one reader for every argument (``files``, ``dfdc``, ``faceforensics``,
    ``celebdf``, ``csv``); ``auto`` picks per argument with `detect_layout`. A dataset layout
    that cannot be read raises `public_layouts.LayoutError` naming the file.
    """
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}")
    items: list[SourceItem] = []
    seen: set[str] = set()
    for raw in inputs:
        arg = os.fspath(raw)
        kind = detect_layout(arg) if layout == "auto" else layout
        if kind == "dfdc":
            found = _from_frame(public_layouts.read_dfdc_metadata(arg))
        elif kind == "csv":
            found = _from_frame(public_layouts.read_crop_csv(arg, check_exists=False))
        elif kind == "faceforensics":
            found = _from_frame(public_layouts.read_faceforensics(arg))
        elif kind == "celebdf":
            found = _from_frame(public_layouts.read_celebdf(arg))
        else:
            found = _plain_files(arg, recursive)
        for item in found:
            if item.path not in seen:
                seen.add(item.path)
                items.append(item)
    return items
