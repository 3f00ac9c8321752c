"""The crops manifest that `fakescope extract` writes and training reads: one table, Parquet or
CSV (chosen by the file's extension), written atomically.

Two kinds of rows share the table:

* a **crop row** per face crop written (``status == "ok"``, ``crop`` set);
* a **status row** per input that gave no usable face or could not be read
  (``status`` ``"no_face"`` or ``"error"``, ``reason``/``detail`` say why, ``crop`` empty).

An input that yielded crops has only crop rows; a failed input has exactly one status row (plus
fallback crop rows, flagged ``fallback``, when a center-crop fallback was asked for), so every
input of a run appears in the manifest and ``df.drop_duplicates("path")`` lists them all.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd

from fakescope.output.atomic import atomic_write_bytes

#: Column -> what it holds. Order is the order written.
MANIFEST_COLUMNS: dict[str, str] = {
    "path": "source file, as given (absolute when it came from a dataset description)",
    "sha256": "sha256 of the source file (empty when it could not be read)",
    "kind": "'video' or 'image'",
    "label": "1 = FAKE, 0 = REAL, empty when unknown",
    "group": "source-video group: a fake and its real source share it (split by this)",
    "status": "'ok' (a crop row), 'no_face' or 'error' (a status row for the input)",
    "reason": "machine-readable cause for a status row: a MediaError reason, 'no_face', ...",
    "detail": "human-readable detail of the cause",
    "crop": "crop image path, relative to the manifest's folder (empty on status rows)",
    "frame_index": "frame number in presentation order (0 for an image)",
    "time_s": "frame timestamp in seconds",
    "track_id": "person track within the input (-1 for a fallback crop)",
    "box_x0": "face box left, full-resolution frame pixels",
    "box_y0": "face box top",
    "box_x1": "face box right",
    "box_y1": "face box bottom",
    "landmarks": "JSON [[x, y] x 5]: left eye, right eye, nose, mouth left, mouth right",
    "confidence": "face detector confidence",
    "fallback": "True for a center crop made because no face was found",
    "frame_width": "width of the source frame (after rotation)",
    "frame_height": "height of the source frame (after rotation)",
    "detector": "face detector name",
    "config_hash": "hash of the extraction settings that produced the row",
}

_DTYPES: dict[str, str] = {
    "path": "string",
    "sha256": "string",
    "kind": "string",
    "label": "Int64",
    "group": "string",
    "status": "string",
    "reason": "string",
    "detail": "string",
    "crop": "string",
    "frame_index": "Int64",
    "time_s": "float64",
    "track_id": "Int64",
    "box_x0": "float64",
    "box_y0": "float64",
    "box_x1": "float64",
    "box_y1": "float64",
    "landmarks": "string",
    "confidence": "float64",
    "fallback": "boolean",
    "frame_width": "Int64",
    "frame_height": "Int64",
    "detector": "string",
    "config_hash": "string",
}

STATUS_OK = "ok"
STATUS_NO_FACE = "no_face"
STATUS_ERROR = "error"


def _format(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        return "parquet"
    if suffix == ".csv":
        return "csv"
    raise ValueError(f"{path}: manifest must end in .parquet, .pq or .csv")


def manifest_frame(rows: list[dict] | pd.DataFrame) -> pd.DataFrame:
    """Rows -> a DataFrame with exactly `MANIFEST_COLUMNS`, in order, with their dtypes.

    Missing columns are added empty; unknown columns are an error (a typo would otherwise be
    dropped silently)."""
    df = rows.copy() if isinstance(rows, pd.DataFrame) else pd.DataFrame(rows)
    unknown = [c for c in df.columns if c not in MANIFEST_COLUMNS]
    if unknown:
        raise ValueError(f"unknown manifest column(s): {unknown}")
    for col in MANIFEST_COLUMNS:
        if col not in df.columns:
            df[col] = pd.NA
    df = df[list(MANIFEST_COLUMNS)]
    for col, dtype in _DTYPES.items():
        if dtype in ("Int64", "float64"):
            df[col] = pd.to_numeric(df[col], errors="raise").astype(dtype)
        else:
            df[col] = df[col].astype(dtype)
    return df.reset_index(drop=True)


def write_manifest(rows: list[dict] | pd.DataFrame, path: str | os.PathLike) -> pd.DataFrame:
    """Write the manifest atomically (a reader never sees a half-written file); returns it."""
    path = Path(path)
    fmt = _format(path)
    df = manifest_frame(rows)
    buf = io.BytesIO()
    if fmt == "parquet":
        df.to_parquet(buf, index=False)
    else:
        df.to_csv(buf, index=False)
    atomic_write_bytes(path, buf.getvalue())
    return df


def read_manifest(path: str | os.PathLike, absolute_crops: bool = True) -> pd.DataFrame:
    """Read a manifest written by `write_manifest`. With `absolute_crops` the ``crop`` column
    is resolved against the manifest's folder, so the table can be used from anywhere."""
    path = Path(path)
    fmt = _format(path)
    if fmt == "parquet":
        df = pd.read_parquet(path)
    else:
        df = pd.read_csv(path, dtype={c: "string" for c, t in _DTYPES.items() if t == "string"},
                         keep_default_na=True)
    df = manifest_frame(df)
    if absolute_crops:
        base = path.resolve().parent
        df["crop"] = df["crop"].map(lambda c: pd.NA if pd.isna(c) else str(base / c)).astype(
            "string"
        )
    return df


def landmarks_to_json(landmarks: np.ndarray | None) -> str | None:
    """(5, 2) landmarks -> the JSON text stored in the ``landmarks`` column."""
    if landmarks is None:
        return None
    return json.dumps([[round(float(x), 2), round(float(y), 2)] for x, y in np.asarray(landmarks)])


def landmarks_from_json(value: object) -> np.ndarray | None:
    """The ``landmarks`` column's text -> a (5, 2) float32 array, or None when empty."""
    if value is None or (not isinstance(value, str) and pd.isna(value)) or value == "":
        return None
    return np.asarray(json.loads(str(value)), dtype=np.float32).reshape(-1, 2)
