"""Evaluate predictions and write the report: report.json, report.md and PNG figures.

`evaluate_predictions` computes every metric of `metrics.compute_metrics` with bootstrap
intervals at frame level and — when group ids (videos) are given — at video level, after the
frame → video aggregation of `aggregate.py`. `write_report` writes it all atomically. The
`fakescope eval` command is a thin shell around these two.
"""

from __future__ import annotations

import json
import math
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import roc_curve

from fakescope.evaluate import plots
from fakescope.evaluate.aggregate import aggregate_frame_table
from fakescope.evaluate.bootstrap import Interval, bootstrap_ci
from fakescope.evaluate.metrics import (
    DFDC_CLIP,
    DFDC_WP_ALPHA,
    check_labels_scores,
    compute_metrics,
    confusion_counts,
)
from fakescope.evaluate.threshold import Threshold, fixed_threshold
from fakescope.output.atomic import atomic_write_bytes, atomic_write_text

PLOT_FILES = {
    "roc": "roc.png",
    "histograms": "score_histograms.png",
    "confusion": "confusion.png",
    "reliability": "reliability.png",
}


@dataclass
class LevelReport:
    """Metrics of one level ("frame" or "video"). `labels`/`scores` (and `ids` at video
    level) are kept for the figures and for callers, but not written to report.json."""

    level: str
    n: int
    n_fake: int
    n_real: int
    metrics: dict[str, float]
    ci: dict[str, Interval]
    points: dict[str, dict[str, float]]
    undefined: dict[str, str]
    confusion: dict[str, int]
    roc: dict[str, list[float]] | None  # fpr, tpr, threshold (collinear points dropped)
    bootstrap_unit: str | None  # "sample", "group" or None (no intervals)
    aggregation: str | None = None  # video level: how frames were combined
    labels: np.ndarray = field(default_factory=lambda: np.zeros(0, int), repr=False)
    scores: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False)
    ids: np.ndarray | None = field(default=None, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "level": self.level,
            "n": self.n,
            "n_fake": self.n_fake,
            "n_real": self.n_real,
            "aggregation": self.aggregation,
            "metrics": self.metrics,
            "ci": {k: vars(v) for k, v in self.ci.items()},
            "operating_points": self.points,
            "undefined": self.undefined,
            "confusion": self.confusion,
            "bootstrap_unit": self.bootstrap_unit,
            "roc": self.roc,
        }


@dataclass
class EvalReport:
    threshold: Threshold
    levels: dict[str, LevelReport]
    settings: dict[str, Any]  # n_bootstrap, seed, confidence, fars, recalls, alpha, clip, ...
    provenance: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return _jsonable({
            "threshold": self.threshold.to_dict(),
            "settings": self.settings,
            "provenance": self.provenance,
            "levels": {k: v.to_dict() for k, v in self.levels.items()},
        })


def _jsonable(obj: Any) -> Any:
    """NaN → null (undefined; the reason is under "undefined"), ±inf → "inf"/"-inf" (log(wP)
    with no true positive is -inf), numpy scalars → Python numbers."""
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, np.ndarray)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float):
        if math.isnan(obj):
            return None
        if math.isinf(obj):
            return "inf" if obj > 0 else "-inf"
    return obj


def _as_threshold(threshold: Threshold | float | None) -> Threshold:
    if threshold is None:
        return fixed_threshold(0.5)
    if isinstance(threshold, Threshold):
        return threshold
    return fixed_threshold(float(threshold))


def _level(level: str, y: np.ndarray, s: np.ndarray, thr: float, groups, opts: dict[str, Any],
           n_bootstrap: int, seed: int, confidence: float,
           ci_metrics: tuple[str, ...] | None, unit_name: str = "group") -> LevelReport:
    ms = compute_metrics(y, s, thr, **opts)
    ci: dict[str, Interval] = {}
    unit = None
    if n_bootstrap > 0:
        include = tuple(ms.values) if ci_metrics is None else tuple(ci_metrics)
        unknown = set(include) - set(ms.values)
        if unknown:
            raise ValueError(f"ci_metrics {sorted(unknown)} unknown; known: {list(ms.values)}")

        def fn(yb: np.ndarray, sb: np.ndarray) -> dict[str, float]:
            return compute_metrics(yb, sb, thr, include=include, **opts).values

        ci = bootstrap_ci(fn, y, s, groups=groups, n_bootstrap=n_bootstrap, seed=seed,
                          confidence=confidence)
        ci = {k: v for k, v in ci.items() if k in include}
        unit = "sample" if groups is None else unit_name
    roc = None
    if 0 < y.sum() < y.size:
        fpr, tpr, t = roc_curve(y, s)
        roc = {"fpr": fpr.tolist(), "tpr": tpr.tolist(), "threshold": t.tolist()}
    return LevelReport(
        level=level, n=int(y.size), n_fake=int(y.sum()), n_real=int(y.size - y.sum()),
        metrics=ms.values, ci=ci, points=ms.points, undefined=ms.undefined,
        confusion=confusion_counts(y, s, thr), roc=roc, bootstrap_unit=unit,
        labels=y, scores=s,
    )


def evaluate_predictions(
    labels,
    scores,
    groups=None,
    threshold: Threshold | float | None = None,
    n_bootstrap: int = 1000,
    seed: int = 0,
    *,
    aggregation: str = "mean",
    confidence: float = 0.95,
    fars: tuple[float, ...] = (0.01, 0.1),
    recalls: tuple[float, ...] = (0.1, 0.5, 0.9),
    alpha: float = DFDC_WP_ALPHA,
    clip: float = DFDC_CLIP,
    n_bins: int = 10,
    ci_metrics: tuple[str, ...] | None = None,
    provenance: Mapping[str, Any] | None = None,
    clusters=None,
) -> EvalReport:
    """Metrics of frame-level predictions (label 1 = fake; score = fake probability).

    groups: one video (or source) id per frame. When given, the frame-level intervals resample
        whole videos, and a video level is added: frames aggregated per video with
        `aggregation` (see `aggregate.METHODS`), labels checked to agree within each video.
    threshold: a `Threshold` chosen on validation data, a number, or None for 0.5; it sets the
        verdicts behind accuracy, precision, recall, F1, the confusion matrix and log(wP)@thr.
    n_bootstrap: resamples for the 95% percentile intervals (0: no intervals); `ci_metrics`
        restricts the intervals to some metrics (they cost n_bootstrap x the metric time).
    provenance: what data / command produced the predictions; copied into the report.
    clusters: one cluster id per frame (e.g. the person's identity cluster) that the bootstrap
        resamples instead of videos: crops of one person are not independent either, and
        intervals over crops of a dataset that reuses actors are too narrow. A video must lie
        in one cluster.
    """
    y, s = check_labels_scores(labels, scores)
    if n_bootstrap < 0:
        raise ValueError(f"n_bootstrap must be >= 0, got {n_bootstrap}")
    thr = _as_threshold(threshold)
    opts = {"fars": tuple(fars), "recalls": tuple(recalls), "alpha": alpha, "clip": clip,
            "n_bins": n_bins}
    common = dict(opts=opts, n_bootstrap=n_bootstrap, seed=seed, confidence=confidence,
                  ci_metrics=ci_metrics)
    g = None
    if groups is not None:
        g = np.asarray(groups)
        if g.shape != y.shape:
            raise ValueError(f"groups has {g.size} entries for {y.size} predictions")
        if pd.isna(g).any():
            raise ValueError(f"{int(pd.isna(g).sum())} predictions have no group id")
    table = None
    if g is not None:  # before the frame-level bootstrap: bad labels / method fail fast
        table = aggregate_frame_table(
            pd.DataFrame({"group": g, "label": y, "score": s}), "group", "score",
            method=aggregation, label_col="label",
        )
    c = video_c = None
    if clusters is not None:
        c = np.asarray(clusters)
        if c.shape != y.shape or pd.isna(c).any():
            raise ValueError("clusters needs one non-null id per prediction")
        if table is not None:
            per_video = pd.DataFrame({"group": g, "cluster": c}).groupby("group")["cluster"]
            if (per_video.nunique() > 1).any():
                raise ValueError("a video's frames lie in more than one cluster")
            video_c = table["group"].map(per_video.first()).to_numpy()
    frame_units = c if c is not None else g
    levels = {"frame": _level("frame", y, s, thr.value, frame_units,
                              unit_name="cluster" if c is not None else "group", **common)}
    if table is not None:
        video = _level("video", table["label"].to_numpy(np.int64),
                       table["score"].to_numpy(np.float64), thr.value, video_c,
                       unit_name="cluster", **common)
        video.aggregation = aggregation
        video.ids = table["group"].to_numpy()
        levels["video"] = video
    settings = {"n_bootstrap": n_bootstrap, "seed": seed, "confidence": confidence,
                "aggregation": aggregation if g is not None else None, **opts}
    settings["fars"], settings["recalls"] = list(fars), list(recalls)
    return EvalReport(threshold=thr, levels=levels, settings=settings,
                      provenance=dict(provenance or {}))


# ----------------------------------------------------------------------------- writing


_LABELS = {
    "accuracy": "Accuracy",
    "balanced_accuracy": "Balanced accuracy",
    "precision": "Precision (fake)",
    "recall": "Recall (fake) = TAR",
    "f1": "F1 (fake)",
    "auc": "ROC-AUC",
    "average_precision": "Average precision",
    "log_loss": "Log loss (clipped)",
    "ece": "ECE",
    "eer": "EER",
}


def _label(key: str) -> str:
    if key in _LABELS:
        return _LABELS[key]
    name, _, at = key.partition("@")
    nice = {"tar": "TAR", "pauc": "pAUC (McClish)", "tauc": "tAUC", "log_wp": "log(wP)"}
    return f"{nice.get(name, name)} @ {at.replace('=', ' ')}" if at else key


def _fmt(v: float | None) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "n/a"
    if isinstance(v, float) and math.isinf(v):
        return "-inf" if v < 0 else "inf"
    return f"{v:.4f}"


def _cell(lr: LevelReport, key: str) -> str:
    if key not in lr.metrics:
        return ""
    text = _fmt(lr.metrics[key])
    iv = lr.ci.get(key)
    if iv is not None and iv.n_valid and math.isfinite(lr.metrics[key]):
        text += f" [{_fmt(iv.low)}, {_fmt(iv.high)}]"
    return text


def render_markdown(report: EvalReport, title: str, plot_files: Mapping[str, str]) -> str:
    lv = list(report.levels.values())
    st = report.settings
    out = [f"# {title}", ""]
    prov = report.provenance
    if prov:
        out += ["## Source", ""]
        out += [f"- **{k}**: {v}" for k, v in prov.items() if k != "command"]
        if "command" in prov:
            cmd = prov["command"]
            cmd = shlex.join(map(str, cmd)) if isinstance(cmd, (list, tuple)) else str(cmd)
            out += ["", "Command:", "", "```", cmd, "```"]
        out.append("")
    t = report.threshold
    out += ["## Setup", "",
            f"- Label 1 = fake (positive class); a sample is called fake when score >= "
            f"**{t.value:.6g}** (threshold method: {t.method}"
            + (f", target FAR {t.target:g}" if t.target is not None else "") + ").",
            ]
    if t.achieved:
        ach = ", ".join(f"{k} {_fmt(v) if k[:2] != 'n_' else int(v)}"
                        for k, v in t.achieved.items())
        out.append(f"- On the data the threshold was chosen on: {ach}.")
    if st.get("aggregation"):
        out.append(f"- Video score = `{st['aggregation']}` of its frame scores "
                   "(fakescope.evaluate.aggregate).")
    if st["n_bootstrap"]:
        unit = {"group": "videos", "sample": "samples", "cluster": "identity clusters"}
        units = ", ".join(f"{x.level}: resampling {unit[x.bootstrap_unit]}" for x in lv)
        out.append(f"- Brackets: {st['confidence']:.0%} percentile bootstrap intervals, "
                   f"{st['n_bootstrap']} resamples, seed {st['seed']} ({units}).")
    out += ["", "## Counts", "", "| | " + " | ".join(x.level for x in lv) + " |",
            "|---|" + "---:|" * len(lv)]
    for key in ("n", "n_fake", "n_real"):
        out.append(f"| {key} | " + " | ".join(str(getattr(x, key)) for x in lv) + " |")
    for key in ("tp", "fp", "tn", "fn"):
        out.append(f"| {key.upper()} | " + " | ".join(str(x.confusion[key]) for x in lv) + " |")
    out += ["", "## Metrics", "", "| metric | " + " | ".join(x.level for x in lv) + " |",
            "|---|" + "---|" * len(lv)]
    for key in lv[0].metrics:
        out.append(f"| {_label(key)} | " + " | ".join(_cell(x, key) for x in lv) + " |")
    out += ["", "## Operating points", "",
            "| point | level | value | threshold | reached |", "|---|---|---:|---:|---|"]
    for x in lv:
        for key, p in x.points.items():
            rest = {k: v for k, v in p.items() if k != "threshold"}
            main_key = next(iter(rest))
            reached = ", ".join(f"{k} {_fmt(v)}" for k, v in list(rest.items())[1:])
            out.append(f"| {_label(key)} | {x.level} | {_fmt(rest[main_key])} | "
                       f"{p['threshold']:.6g} | {reached} |")
    notes = [(x.level, k, why) for x in lv for k, why in x.undefined.items()]
    if notes:
        out += ["", "## Undefined metrics", ""]
        out += [f"- {level} {_label(k)}: {why}" for level, k, why in notes]
    out += ["", "## Definitions", "",
            "- TAR@FAR: best TAR of a threshold whose FAR <= the target (no interpolation).",
            "- pAUC: McClish-standardised partial AUC over FAR in [0, cut-off] "
            "(0.5 = chance, 1 = perfect; sklearn roc_auc_score(max_fpr)).",
            "- tAUC (Masi et al. 2020): mean TAR over the FAR values 0, 1/N_real, ..., cut-off.",
            f"- log(wP) (DFDC preview): ln(TP / (TP + {st['alpha']:g} FP)); @recall = best over "
            "thresholds keeping recall >= R (recall reached in Operating points).",
            f"- Log loss: predictions clipped to [{st['clip']:g}, 1 - {st['clip']:g}] (DFDC). "
            f"ECE: {st['n_bins']} equal-width bins.",
            ""]
    if plot_files:
        out += ["## Figures", ""]
        out += [f"![{name}]({fname})" for name, fname in plot_files.items()]
        out.append("")
    return "\n".join(out)


def write_report(report: EvalReport, out_dir: str | Path, title: str = "fakescope evaluation",
                 provenance: Mapping[str, Any] | None = None) -> dict[str, Path]:
    """Write report.json, report.md and the PNG figures into `out_dir`, each atomically.
    `provenance` (data, command, ...) is merged over the report's own. Returns name -> path."""
    out_dir = Path(out_dir)
    if provenance:
        report = replace(report, provenance={**report.provenance, **dict(provenance)})
    series = {k: (v.labels, v.scores) for k, v in report.levels.items()}
    figures = {
        "roc": lambda: plots.plot_roc(series, tuple(report.settings["fars"])),
        "histograms": lambda: plots.plot_score_histograms(series, report.threshold.value),
        "confusion": lambda: plots.plot_confusion(series, report.threshold.value),
        "reliability": lambda: plots.plot_reliability(series, report.settings["n_bins"]),
    }
    written: dict[str, Path] = {}
    for name, draw in figures.items():
        path = out_dir / PLOT_FILES[name]
        atomic_write_bytes(path, draw())
        written[name] = path
    doc = report.to_dict()
    doc["title"] = title
    doc["figures"] = {k: p.name for k, p in written.items()}
    written["json"] = out_dir / "report.json"
    text = json.dumps(doc, indent=2, allow_nan=False, default=str)
    atomic_write_text(written["json"], text + "\n")
    md = render_markdown(report, title, {k: p.name for k, p in written.items() if k in figures})
    written["markdown"] = out_dir / "report.md"
    atomic_write_text(written["markdown"], md)
    return written


def format_metric(level: Mapping[str, Any], key: str, ci_label: str = "") -> str:
    """``0.866 (0.839–0.891)`` from one level of a saved report.json (``metrics``, ``ci``):
    how model cards and benchmark tables quote a figure with its interval."""
    v = level["metrics"].get(key)
    ci = (level.get("ci") or {}).get(key)
    if v is None:
        return "n/a"
    return f"{v:.3f}" + (f" ({ci_label}{ci['low']:.3f}–{ci['high']:.3f})" if ci else "")
