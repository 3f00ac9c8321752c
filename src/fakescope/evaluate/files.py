"""Scan records joined to file labels: the table a file-level calibration is fit on and the
per-source report of what its verdicts do on files it never saw.

A labels CSV has ``path, label (REAL|FAKE or 0|1), source, split`` and optionally ``set`` (a
sub-folder of `root` the path is relative to) and ``group`` (person / pair: the bootstrap
unit). Records are matched to labels by resolved path, so a scan may name the files by any
spelling.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from fakescope.evaluate.calibration import FileCalibration
from fakescope.types import ScanResult


def _label01(values: pd.Series) -> pd.Series:
    mapped = values.astype(str).str.upper().map({"REAL": 0, "FAKE": 1, "0": 0, "1": 1})
    if mapped.isna().any():
        bad = sorted(set(values[mapped.isna()].astype(str)))[:5]
        raise ValueError(f"labels must be REAL/FAKE or 0/1, got {bad}")
    return mapped.astype(int)


def read_labels(path: str | Path, root: str | Path | None = None) -> pd.DataFrame:
    """The labels CSV with a resolved ``file`` column and 0/1 ``y``."""
    path = Path(path)
    try:
        df = pd.read_csv(path)
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path}: cannot read labels ({exc})") from None
    need = {"path", "label", "source", "split"} - set(df.columns)
    if need:
        raise ValueError(f"{path}: labels lack column(s) {sorted(need)}")
    base = Path(root) if root is not None else path.parent
    parts = [base / s / p for s, p in zip(df["set"], df["path"])] if "set" in df.columns \
        else [base / p for p in df["path"]]
    df = df.assign(file=[os.path.realpath(p) for p in parts], y=_label01(df["label"]))
    if "group" not in df.columns:
        df["group"] = df["file"]
    return df


def file_table(results: Iterable[ScanResult], labels: pd.DataFrame) -> pd.DataFrame:
    """One row per labelled file that has a record: labels + ``verdict, score, kind,
    weights_sha256, settings_key`` (score NaN for an abstain or error)."""
    rows = {}
    for r in results:
        rows[os.path.realpath(r.path)] = {
            "verdict": r.verdict, "score": np.nan if r.score is None else float(r.score),
            "kind": r.kind, "reason": r.reason,
            "weights_sha256": r.detector.weights_sha256 if r.detector else None,
            "detector": r.detector.name if r.detector else None,
            "settings_key": r.settings_key}
    found = labels[labels["file"].isin(rows)]
    extra = pd.DataFrame([rows[f] for f in found["file"]], index=found.index)
    return pd.concat([found, extra], axis=1)


def calibration_rows(table: pd.DataFrame) -> pd.DataFrame:
    """The scored files of the ``calibration`` split, checked to come from one scan setting."""
    part = table[(table["split"] == "calibration") & table["score"].notna()]
    if part.empty:
        raise ValueError("no scored file of the calibration split among the records")
    for col in ("weights_sha256", "settings_key"):
        values = part[col].dropna().unique()
        if len(values) != 1:
            raise ValueError(f"calibration records come from {len(values)} different {col}s "
                             f"({', '.join(map(str, values[:3]))}): scan them with one setting")
    return part


def source_report(table: pd.DataFrame, cal: FileCalibration, splits=("calibration", "eval")
                  ) -> pd.DataFrame:
    """Per split, kind, source and label: files, abstains, and how many the calibrated bands
    call ``fake`` and ``inconclusive``."""
    rows = []
    for (split, kind, source, y), part in table[table["split"].isin(splits)].groupby(
            ["split", "kind", "source", "y"], sort=True, dropna=False):
        k = cal.kinds.get(kind) if isinstance(kind, str) else None
        s = part["score"].dropna().to_numpy()
        row = {"split": split, "kind": kind, "source": source, "label": "FAKE" if y else "REAL",
               "n": len(part), "scored": len(s), "fake": None, "inconclusive": None}
        if k is not None:
            row["fake"] = int((s >= k.fake_threshold).sum())
            row["inconclusive"] = int(((s >= k.inconclusive_threshold) & (s < k.fake_threshold)).sum())
        rows.append(row)
    return pd.DataFrame(rows)


def auc_with_ci(part: pd.DataFrame, seed: int = 0) -> tuple[float, float, float] | None:
    """Video / file ROC-AUC with a 95 % bootstrap interval over ``group`` clusters; None when
    one class is missing."""
    from fakescope.evaluate.bootstrap import bootstrap_ci
    from fakescope.evaluate.metrics import roc_auc

    part = part[part["score"].notna()]
    if part["y"].nunique() < 2:
        return None
    y, s = part["y"].to_numpy(), part["score"].to_numpy()
    ci = bootstrap_ci(lambda a, b: {"auc": roc_auc(a, b) if len(set(a)) == 2 else np.nan}, y, s,
                      groups=part["group"].to_numpy(), seed=seed)["auc"]
    return float(roc_auc(y, s)), ci.low, ci.high


def _share(k: int | None, n: int) -> str:
    return "–" if k is None else f"{k} of {n}"


def report_markdown(table: pd.DataFrame, cal: FileCalibration) -> str:
    """The calibration's points and, per split and source, what its bands call fake and
    inconclusive; file AUC per ``set`` (when the labels have one) with cluster intervals."""
    lines = [f"# File-level calibration of `{cal.detector}` (weights {cal.weights_sha256[:12]})",
             "", f"Points: `fake` at the {cal.fake_far:.0%} and `inconclusive` at the "
             f"{cal.inconclusive_far:.0%} false-alarm point of the calibration's real files.", "",
             "| kind | fake at | inconclusive at | Platt a, b | calibration files (real / fake) |",
             "|---|---:|---:|---|---|"]
    for kind, k in sorted(cal.kinds.items()):
        lines.append(f"| {kind} | {k.fake_threshold:.4f} | {k.inconclusive_threshold:.4f} | "
                     f"{k.platt_a:.3f}, {k.platt_b:.3f} | {k.n_real} / {k.n_fake} |")
    rep = source_report(table, cal, splits=tuple(sorted(table["split"].dropna().unique())))
    lines += ["", "| split | kind | source | label | files | scored | called fake | "
              "called inconclusive |", "|---|---|---|---|---:|---:|---:|---:|"]
    for r in rep.itertuples():
        lines.append(f"| {r.split} | {r.kind} | {r.source} | {r.label} | {r.n} | {r.scored} | "
                     f"{_share(r.fake, r.scored)} | {_share(r.inconclusive, r.scored)} |")
    if "set" in table.columns:
        lines += ["", "| split | set | files (real / fake) | AUC (95 % CI, clusters) |",
                  "|---|---|---|---|"]
        for (split, name), part in table.groupby(["split", "set"], sort=True):
            auc = auc_with_ci(part)
            n_real, n_fake = int((part["y"] == 0).sum()), int((part["y"] == 1).sum())
            text = "–" if auc is None else f"{auc[0]:.3f} ({auc[1]:.3f}–{auc[2]:.3f})"
            lines.append(f"| {split} | {name} | {n_real} / {n_fake} | {text} |")
    return "\n".join(lines) + "\n"
