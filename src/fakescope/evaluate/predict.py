"""Run a detector over a table of face crops → one score per crop.

The table is what training and evaluation share: CSV or parquet with ``path`` and ``label``
(1 fake / 0 real), optionally ``group`` (the split key: source video), ``video`` and
``split``. Scoring goes through the `Detector` protocol — the same preprocessing `scan` uses —
on crops resized to the detector's input size. A crop that cannot be read gets a NaN score
and its error in the ``error`` column; the other crops are still scored, and the caller
decides what to report (never a default score).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from fakescope.data.datasets import ImageStore, item_sequences
from fakescope.data.labels import parse_label
from fakescope.detectors.base import Detector
from fakescope.errors import FakescopeError, MediaError

PREDICTION_COLUMNS = ["path", "label", "group", "score", "error"]


class TableError(FakescopeError):
    """An item table that cannot be used (missing file, missing column, bad label)."""


def read_item_table(path: str | Path, image_root: str | Path | None = None) -> pd.DataFrame:
    """Read a CSV/parquet item table; labels parsed (FAKE/REAL/1/0), relative paths resolved
    against `image_root` (default: the table's folder), ``group`` defaulting to the path."""
    path = Path(path)
    if not path.is_file():
        raise TableError(f"{path}: table not found")
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            df = pd.read_parquet(path)
        else:
            df = pd.read_csv(path)
    except Exception as exc:  # pandas/pyarrow raise many types; all mean "not a table"
        raise TableError(f"{path}: cannot read table ({exc})") from exc
    missing = [c for c in ("path", "label") if c not in df.columns]
    if missing:
        raise TableError(f"{path}: missing column(s) {missing} (has {list(df.columns)})")
    if df.empty:
        raise TableError(f"{path}: table has no rows")
    try:
        df["label"] = [parse_label(v) for v in df["label"]]
    except ValueError as exc:
        raise TableError(f"{path}: {exc}") from exc
    base = Path(image_root) if image_root is not None else path.resolve().parent
    df["path"] = [str(p if Path(p).is_absolute() else (base / p)) for p in df["path"].astype(str)]
    if "group" not in df.columns:
        df["group"] = df["path"]
    elif df["group"].isna().any():
        df["group"] = df["group"].where(df["group"].notna(), df["path"])
    return df.reset_index(drop=True)


def select_split(df: pd.DataFrame, split: str | None, where: str = "table") -> pd.DataFrame:
    """Rows of one split (``split`` column); all rows when `split` is None."""
    if split is None:
        return df
    if "split" not in df.columns:
        raise TableError(f"{where}: no 'split' column, cannot select split {split!r}")
    part = df[df["split"] == split].reset_index(drop=True)
    if part.empty:
        found = sorted(map(str, df["split"].dropna().unique()))
        raise TableError(f"{where}: no rows with split {split!r} (splits present: {found})")
    return part


class _CropReader(Dataset):
    """uint8 crop, or an error message, per item (a bad file must not stop the batch)."""

    def __init__(self, paths: list[str], size: int) -> None:
        self.store = ImageStore(paths, size=size)
        self.size = size

    def __len__(self) -> int:
        return len(self.store)

    def __getitem__(self, i: int) -> tuple[np.ndarray, str]:
        try:
            return self.store[i], ""
        except MediaError as exc:
            return np.zeros((self.size, self.size, 3), np.uint8), str(exc)


def _collate(batch: list[tuple[np.ndarray, str]]) -> tuple[np.ndarray, list[str]]:
    return np.stack([b[0] for b in batch]), [b[1] for b in batch]


def predict_items(
    detector: Detector,
    items: pd.DataFrame,
    batch_size: int = 64,
    num_workers: int = 0,
    progress: bool = False,
    on_batch: Callable[[int], None] | None = None,
) -> pd.DataFrame:
    """Score every crop of `items` (columns ``path``, ``label``[, ``group``]).

    Returns the table's ``path, label, group`` (+ ``video`` when present) with ``score``
    (fake probability; NaN where the crop could not be read) and ``error``.
    """
    if detector.requirements.temporal:
        return predict_sequences(detector, items, batch_size=max(1, batch_size // 8),
                                 progress=progress, on_batch=on_batch)
    size = detector.requirements.input_size
    reader = _CropReader(items["path"].astype(str).tolist(), size)
    loader = DataLoader(reader, batch_size=batch_size, shuffle=False, num_workers=num_workers,
                        collate_fn=_collate)
    scores = np.full(len(items), np.nan, dtype=np.float64)
    errors = [""] * len(items)
    pos = 0
    with torch.inference_mode():
        for crops, errs in tqdm(loader, desc="scoring", unit="batch", disable=not progress):
            n = len(errs)
            ok = np.array([not e for e in errs])
            if ok.any():
                scores[pos : pos + n][ok] = detector.score_crops(crops[ok])
            errors[pos : pos + n] = errs
            pos += n
            if on_batch is not None:
                on_batch(n)
    out = pd.DataFrame({"path": items["path"].astype(str).to_numpy(),
                        "label": items["label"].to_numpy()})
    out["group"] = items["group"].to_numpy() if "group" in items.columns else out["path"]
    for col in ("video", "identity", "split_group"):  # what reports group or resample by
        if col in items.columns:
            out[col] = items[col].to_numpy()
    out["score"] = scores
    out["error"] = errors
    return out


def predict_sequences(
    detector: Detector,
    items: pd.DataFrame,
    batch_size: int = 8,
    progress: bool = False,
    on_batch: Callable[[int], None] | None = None,
) -> pd.DataFrame:
    """Score the sequences / clips a temporal detector asks for, cut from each track of a crop
    table (``video``, ``frame_index``[, ``track_id``]; see `data.datasets.item_sequences`).

    One row per sequence: ``path`` (its first crop), ``paths``, ``frames``, ``label``,
    ``group``, ``video``, ``track_id``, ``score`` and ``error`` (a sequence with an
    unreadable crop is not scored: NaN and the crop's error). The same columns as
    `predict_items` otherwise, so reports and video aggregation take either.
    """
    req = detector.requirements
    seqs = item_sequences(items, req.sequence_length, req.frame_step)
    if seqs.empty:
        raise TableError("no track of the table holds a sequence")
    extra = [c for c in ("identity", "split_group") if c in items.columns]
    if extra:  # carried per video (constant within one)
        per_video = items.groupby("video")[extra].first()
        for col in extra:
            seqs[col] = seqs["video"].map(per_video[col])
    unique = list(dict.fromkeys(p for ps in seqs["paths"] for p in ps))
    reader = _CropReader(unique, req.input_size)
    pos = {p: i for i, p in enumerate(unique)}
    scores = np.full(len(seqs), np.nan, dtype=np.float64)
    errors = [""] * len(seqs)
    cache: dict[int, tuple[np.ndarray, str]] = {}
    order = range(0, len(seqs), batch_size)
    with torch.inference_mode():
        for start in tqdm(order, desc="scoring", unit="batch", disable=not progress):
            rows = list(range(start, min(start + batch_size, len(seqs))))
            units, ok = [], []
            for r in rows:
                got = [cache.setdefault(pos[p], reader[pos[p]]) for p in seqs["paths"][r]]
                bad = next((e for _, e in got if e), "")
                errors[r] = bad
                if not bad:
                    units.append(np.stack([g[0] for g in got]))
                    ok.append(r)
            if units:
                scores[ok] = detector.score_units(np.stack(units))
            if on_batch is not None:
                on_batch(len(rows))
            cache.clear()
    out = pd.DataFrame({"path": [ps[0] for ps in seqs["paths"]], "label": seqs["label"].to_numpy()})
    out["group"] = seqs["group"].to_numpy()
    out["video"] = seqs["video"].astype(str).to_numpy()
    out["track_id"] = seqs["track_id"].to_numpy()
    out["frames"] = [" ".join(map(str, f)) for f in seqs["frame_indices"]]
    for col in extra:
        out[col] = seqs[col].to_numpy()
    out["score"] = scores
    out["error"] = errors
    return out
