"""Report figures as PNG bytes: ROC, score histograms per class, confusion matrix, reliability.

Figures are drawn on matplotlib's Agg canvas directly (``Figure`` + ``FigureCanvasAgg``), never
through pyplot: no global backend switch, no display needed, nothing left open. Each function
takes one ``(labels, scores)`` pair per level ("frame", "video") and returns the PNG bytes;
writing them (atomically) is the caller's job.
"""

from __future__ import annotations

import io
from collections.abc import Mapping

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from sklearn.calibration import calibration_curve
from sklearn.metrics import confusion_matrix, roc_curve

Series = Mapping[str, tuple[np.ndarray, np.ndarray]]  # level -> (labels, scores)
_DPI = 110


def _png(fig: Figure) -> bytes:
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=_DPI)
    return buf.getvalue()


def _both_classes(y: np.ndarray) -> bool:
    return 0 < int(np.sum(y)) < len(y)


def plot_roc(series: Series, fars: tuple[float, ...] = (0.01, 0.1)) -> bytes:
    """ROC on a linear and on a log FAR axis (the low-FAR end is where a deployed detector
    lives); dotted lines mark the FAR cut-offs of the report."""
    fig = Figure(figsize=(10, 4.4), layout="constrained")
    ax_lin, ax_log = fig.subplots(1, 2)
    for level, (y, s) in series.items():
        if not _both_classes(y):
            ax_lin.text(0.5, 0.5, f"{level}: one class only, no ROC", ha="center")
            continue
        fpr, tpr, _ = roc_curve(y, s)
        for ax in (ax_lin, ax_log):
            ax.plot(fpr, tpr, label=f"{level} (n={len(y)})")
    ax_lin.plot([0, 1], [0, 1], color="grey", lw=0.8, ls="--", label="chance")
    ax_lin.set(xlim=(0, 1), ylim=(0, 1.01), title="ROC")
    ax_log.set_xscale("log")
    ax_log.set(xlim=(1e-3, 1), ylim=(0, 1.01), title="ROC, log FAR")
    for ax in (ax_lin, ax_log):
        for far in fars:
            ax.axvline(far, color="grey", lw=0.6, ls=":")
        ax.set_xlabel("FAR (reals called fake)")
        ax.set_ylabel("TAR (fakes caught)")
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(loc="lower right", fontsize=8)
    return _png(fig)


def plot_score_histograms(series: Series, threshold: float) -> bytes:
    """Score distribution of real and of fake samples, one panel per level."""
    fig = Figure(figsize=(5 * len(series), 3.8), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(series)))
    for ax, (level, (y, s)) in zip(axes, series.items(), strict=True):
        lo, hi = min(0.0, float(s.min())), max(1.0, float(s.max()))
        bins = np.linspace(lo, hi, 41)
        for cls, name, color in ((0, "real", "tab:blue"), (1, "fake", "tab:red")):
            v = s[y == cls]
            if v.size:
                ax.hist(v, bins=bins, alpha=0.55, color=color, label=f"{name} (n={v.size})")
        ax.axvline(threshold, color="black", lw=1, ls="--", label=f"threshold {threshold:.3g}")
        ax.set(title=f"{level}: scores per class", xlabel="fake score", ylabel="count")
        ax.legend(fontsize=8)
    return _png(fig)


def plot_confusion(series: Series, threshold: float) -> bytes:
    """Counts at ``score >= threshold``; rows = truth, columns = verdict."""
    fig = Figure(figsize=(4.2 * len(series), 3.8), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(series)))
    for ax, (level, (y, s)) in zip(axes, series.items(), strict=True):
        cm = confusion_matrix(y, (s >= threshold).astype(int), labels=[0, 1])
        ax.imshow(cm, cmap="Blues", vmin=0, vmax=max(1, cm.max()))
        for (i, j), v in np.ndenumerate(cm):
            share = v / max(1, cm[i].sum())
            ax.text(j, i, f"{v}\n({share:.1%} of row)", ha="center", va="center",
                    color="white" if v > cm.max() / 2 else "black", fontsize=9)
        ax.set_xticks([0, 1], ["real", "fake"])
        ax.set_yticks([0, 1], ["real", "fake"])
        ax.set(xlabel="verdict", ylabel="truth", title=f"{level} @ {threshold:.3g}")
    return _png(fig)


def plot_reliability(series: Series, n_bins: int = 10) -> bytes:
    """Fraction of fakes against mean predicted probability per bin (the bins of
    `metrics.expected_calibration_error`); the diagonal is perfect calibration."""
    fig = Figure(figsize=(5, 4.6), layout="constrained")
    ax = fig.subplots()
    ax.plot([0, 1], [0, 1], color="grey", lw=0.8, ls="--", label="perfectly calibrated")
    for level, (y, s) in series.items():
        if s.min() < 0 or s.max() > 1:
            ax.text(0.5, 0.45, f"{level}: scores are not probabilities", ha="center")
            continue
        frac, mean_p = calibration_curve(y, s, n_bins=n_bins, strategy="uniform", pos_label=1)
        ax.plot(mean_p, frac, marker="o", label=level)
    ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="mean predicted fake probability",
           ylabel="fraction fake", title="Reliability")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left")
    return _png(fig)
