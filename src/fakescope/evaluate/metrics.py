"""Binary detection metrics: label 1 = FAKE is the positive class, a higher score = more fake.

Where scikit-learn has the metric, it computes it; this module adds input checks that fail with
a clear message (instead of a NaN and a warning from deep inside sklearn) and the metrics of
the deepfake literature sklearn lacks:

- TAR at FAR and EER, read off the empirical ROC curve;
- pAUC, the McClish-standardised partial AUC (sklearn's ``roc_auc_score(max_fpr=...)``);
- tAUC, the truncated AUC of Masi et al. (seed 003, §4): the mean TAR over the FAR values
  ``{0, ..., FAR_tau}``;
- log(wP), the log weighted precision of the DFDC preview (seed 003, §4.3), alpha = 100;
- DFDC's clipped log loss and the expected calibration error.

Decision rule everywhere: a sample is called fake when ``score >= threshold`` (the convention
of ``sklearn.metrics.roc_curve``, and of `threshold.Threshold.apply` for scan's verdicts), so
every threshold reported here reproduces its operating point exactly.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np
import sklearn
from sklearn import metrics as skm

DFDC_CLIP = 1e-15  # DFDC's submission scorer clipped predictions to [1e-15, 1 - 1e-15]
DFDC_WP_ALPHA = 100.0  # false-positive weight of the DFDC preview's weighted precision
_FAR_TOL = 1e-12  # FAR values are ratios k/N; absorb float noise when comparing to a target


@dataclass(frozen=True)
class OperatingPoint:
    """One point of the ROC curve: its threshold and the rates measured there."""

    threshold: float
    tar: float  # true acceptance rate = TPR = recall of fakes
    far: float  # false acceptance rate = FPR = share of reals called fake


@dataclass(frozen=True)
class EqualErrorRate:
    """EER = the rate where FAR equals the miss rate (1 - TAR), on the linearly interpolated
    ROC curve. `threshold` is that of the first ROC point at or past the crossing."""

    eer: float
    threshold: float


@dataclass(frozen=True)
class WeightedPrecision:
    """log(wP) at one operating point, with the recall and threshold it was measured at."""

    log_wp: float
    recall: float
    threshold: float


# ----------------------------------------------------------------------------- input checks


def check_labels_scores(labels, scores) -> tuple[np.ndarray, np.ndarray]:
    """Return (labels as int 0/1, scores as float64) after checking shape, values, finiteness."""
    y = np.asarray(labels)
    s = np.asarray(scores, dtype=np.float64)
    if y.ndim != 1 or s.ndim != 1:
        raise ValueError(f"labels and scores must be 1-D, got shapes {y.shape} and {s.shape}")
    if y.shape != s.shape:
        raise ValueError(f"labels ({y.size}) and scores ({s.size}) differ in length")
    if y.size == 0:
        raise ValueError("no samples: labels and scores are empty")
    if y.dtype == bool:
        y = y.astype(np.int64)
    if not np.issubdtype(y.dtype, np.number):
        raise ValueError(f"labels must be 0 (real) / 1 (fake), got dtype {y.dtype}")
    bad = ~np.isin(y, (0, 1))
    if bad.any():
        raise ValueError(f"labels must be 0 (real) / 1 (fake); found {np.unique(y[bad])[:5]}")
    if not np.isfinite(s).all():
        raise ValueError(f"{int((~np.isfinite(s)).sum())} scores are NaN or infinite")
    return y.astype(np.int64), s


def check_probabilities(probs: np.ndarray) -> None:
    if probs.size and (probs.min() < 0.0 or probs.max() > 1.0):
        raise ValueError(
            f"probabilities must lie in [0, 1], got range [{probs.min():g}, {probs.max():g}]"
        )


def require_both_classes(y: np.ndarray, metric: str | None = None) -> None:
    """Ranking metrics compare fakes with reals; with one class they are undefined."""
    n_pos = int(y.sum())
    if n_pos == 0 or n_pos == y.size:
        only = "fake" if n_pos else "real"
        what = f"{metric} is " if metric else ""
        raise ValueError(f"{what}undefined with one class: all {y.size} samples are {only}")


# ----------------------------------------------------------------------- threshold metrics


def confusion_counts(labels, scores, threshold: float) -> dict[str, int]:
    """TN, FP, FN, TP at ``score >= threshold``."""
    y, s = check_labels_scores(labels, scores)
    pred = (s >= threshold).astype(np.int64)
    tn, fp, fn, tp = skm.confusion_matrix(y, pred, labels=[0, 1]).ravel()
    return {"tn": int(tn), "fp": int(fp), "fn": int(fn), "tp": int(tp)}


def _ratio(num: float, den: float) -> float:
    return num / den if den else float("nan")


def classification_metrics(labels, scores, threshold: float) -> dict[str, float]:
    """Accuracy, balanced accuracy, precision, recall, F1 at ``score >= threshold``, all read
    off one confusion matrix (the same definitions as sklearn's functions of those names).

    A ratio with a zero denominator (precision with no sample called fake, recall with no fake
    sample, balanced accuracy with one class) is NaN, not sklearn's default 0, so it cannot be
    mistaken for a measurement.
    """
    c = confusion_counts(labels, scores, threshold)
    tn, fp, fn, tp = c["tn"], c["fp"], c["fn"], c["tp"]
    tpr, tnr = _ratio(tp, tp + fn), _ratio(tn, tn + fp)
    return {
        "accuracy": (tp + tn) / (tp + tn + fp + fn),
        "balanced_accuracy": (tpr + tnr) / 2.0,
        "precision": _ratio(tp, tp + fp),
        "recall": tpr,
        "f1": _ratio(2 * tp, 2 * tp + fp + fn),
    }


# ------------------------------------------------------------------------- ranking metrics


@dataclass(frozen=True)
class RocCurve:
    """Every operating point of the empirical ROC curve (sklearn's ``roc_curve`` with no point
    dropped), FAR ascending. The ROC metrics below are read off one curve, so a report (and
    each bootstrap resample) sorts the scores once."""

    far: np.ndarray
    tar: np.ndarray
    thresholds: np.ndarray  # finite: sklearn's leading +inf is replaced, see `roc`
    n_fake: int
    n_real: int

    def tar_at_far(self, far: float) -> OperatingPoint:
        """The highest TAR of a threshold whose FAR does not exceed `far`. No interpolation
        between operating points: every reported point is reachable by a real threshold."""
        if not 0.0 <= far <= 1.0:
            raise ValueError(f"far must lie in [0, 1], got {far}")
        # far and tar are non-decreasing along the curve: the last point with FAR <= far is best
        i = int(np.searchsorted(self.far, far + _FAR_TOL, side="right")) - 1
        return OperatingPoint(threshold=float(self.thresholds[i]), tar=float(self.tar[i]),
                              far=float(self.far[i]))

    def auc(self) -> float:
        """Trapezoidal area under the curve, as ``roc_auc_score`` computes it."""
        return float(skm.auc(self.far, self.tar))

    def truncated_auc(self, far_cutoff: float) -> float:
        """tAUC of Masi et al. (seed 003, §4): ``tAUC_tau = sum_{i in F_tau} TAR_i / |F_tau|``
        with ``F_tau = {0, ..., FAR_tau}``: the mean TAR over the FAR values 0 .. cut-off.

        The paper leaves the spacing of F_tau implicit; here it is every FAR value the data can
        produce, ``k / N_real`` for k = 0 .. floor(FAR_tau * N_real), and ``TAR_i`` is
        `tar_at_far` at ``FAR_i``. Unlike pAUC nothing is interpolated: a run of tied scores
        counts only once a threshold passes all of it. With fewer than 1 / FAR_tau real
        samples, F_tau = {0} and tAUC = TAR at FAR 0.
        """
        if not 0.0 < far_cutoff <= 1.0:
            raise ValueError(f"far_cutoff must lie in (0, 1], got {far_cutoff}")
        k_max = int(np.floor(far_cutoff * self.n_real + 1e-9))
        grid = np.arange(k_max + 1) / self.n_real  # F_tau
        idx = np.searchsorted(self.far, grid + _FAR_TOL, side="right") - 1
        return float(self.tar[idx].mean())

    def equal_error_rate(self) -> EqualErrorRate:
        """Where the curve, linearly interpolated between operating points, meets the line
        FAR = 1 - TAR. ``g = FAR + TAR - 1`` rises from -1 at (0, 0) to 1 at (1, 1); the EER is
        the FAR where g crosses 0."""
        g = self.far + self.tar - 1.0
        i = int(np.argmax(g >= 0.0))  # g[-1] = 1, so a crossing exists; g[0] = -1, so i >= 1
        if g[i] == 0.0:
            eer = self.far[i]
        else:
            t = -g[i - 1] / (g[i] - g[i - 1])
            eer = self.far[i - 1] + t * (self.far[i] - self.far[i - 1])
        return EqualErrorRate(eer=float(eer), threshold=float(self.thresholds[i]))

    def log_wp_at_recall(self, recall: float, alpha: float = DFDC_WP_ALPHA) -> WeightedPrecision:
        """The best log(wP) (see `log_weighted_precision`) over the thresholds that keep
        recall >= `recall`. Seed 003 §4.3 reports log(wP)@R for R in {10%, 50%, 90%}, having
        "searched for the best log(wP)" at each R, and prints the recall reached with it
        (-2.564@0.100); so does this. Among equal wP the higher recall wins."""
        if not 0.0 < recall <= 1.0:
            raise ValueError(f"recall must lie in (0, 1], got {recall}")
        if alpha <= 0:
            raise ValueError(f"alpha must be positive, got {alpha}")
        tp = np.rint(self.tar * self.n_fake)
        fp = np.rint(self.far * self.n_real)
        ok = self.tar >= recall - 1e-12
        with np.errstate(divide="ignore", invalid="ignore"):
            lw = np.where(ok & (tp > 0), np.log(tp) - np.log(tp + alpha * fp), -np.inf)
        i = len(lw) - 1 - int(np.argmax(lw[::-1]))  # last best = lowest threshold = most recall
        return WeightedPrecision(log_wp=float(lw[i]), recall=float(self.tar[i]),
                                 threshold=float(self.thresholds[i]))


def roc(labels, scores, metric: str | None = "ROC curve") -> RocCurve:
    """The empirical ROC curve; ValueError naming `metric` when one class is missing."""
    y, s = check_labels_scores(labels, scores)
    require_both_classes(y, metric)
    fpr, tpr, thr = skm.roc_curve(y, s, drop_intermediate=False)
    thr = thr.copy()
    # sklearn's first threshold is +inf (nothing called fake); a finite number with the same
    # effect on these scores survives JSON
    thr[np.isinf(thr)] = np.nextafter(s.max(), np.inf)
    return RocCurve(far=fpr, tar=tpr, thresholds=thr, n_fake=int(y.sum()),
                    n_real=int(y.size - y.sum()))


def roc_auc(labels, scores) -> float:
    return roc(labels, scores, "ROC-AUC").auc()


def average_precision(labels, scores) -> float:
    y, s = check_labels_scores(labels, scores)
    require_both_classes(y, "average precision")
    return float(skm.average_precision_score(y, s))


def tar_at_far(labels, scores, far: float) -> OperatingPoint:
    """TAR at FAR <= `far`: see `RocCurve.tar_at_far`."""
    return roc(labels, scores, "TAR@FAR").tar_at_far(far)


def truncated_auc(labels, scores, far_cutoff: float) -> float:
    """tAUC at a FAR cut-off (seed 003 §4): see `RocCurve.truncated_auc`."""
    return roc(labels, scores, "tAUC").truncated_auc(far_cutoff)


def equal_error_rate(labels, scores) -> EqualErrorRate:
    """EER: see `RocCurve.equal_error_rate`."""
    return roc(labels, scores, "EER").equal_error_rate()


def log_wp_at_recall(labels, scores, recall: float,
                     alpha: float = DFDC_WP_ALPHA) -> WeightedPrecision:
    """Best log(wP) at recall >= `recall`: see `RocCurve.log_wp_at_recall`."""
    return roc(labels, scores, "log(wP)@recall").log_wp_at_recall(recall, alpha)


def partial_auc(labels, scores, max_far: float) -> float:
    """Standardised partial AUC over FAR in [0, max_far] (McClish 1989), as reported in seed 003.

    sklearn's ``roc_auc_score(max_fpr=...)`` computes exactly this: the trapezoidal area A under
    the ROC curve up to max_far (interpolating the curve at max_far), mapped to
    ``0.5 * (1 + (A - max_far**2 / 2) / (max_far - max_far**2 / 2))`` so that a chance
    classifier scores 0.5 and a perfect one 1.
    """
    if not 0.0 < max_far <= 1.0:
        raise ValueError(f"max_far must lie in (0, 1], got {max_far}")
    y, s = check_labels_scores(labels, scores)
    require_both_classes(y, "pAUC")
    return float(skm.roc_auc_score(y, s, max_fpr=max_far))


# --------------------------------------------------------- DFDC preview: weighted precision


def log_weighted_precision(labels, scores, threshold: float,
                           alpha: float = DFDC_WP_ALPHA) -> WeightedPrecision:
    """log(wP) at ``score >= threshold``, the metric of the DFDC preview (Dolhansky et al. 2019,
    cited as [14] by seed 003 §4.3): ``wP = TP / (TP + alpha * FP)``, natural log, alpha = 100.
    Weighting false positives by alpha stands in for real traffic, where real videos outnumber
    fakes far more than in any test set. No sample called fake → NaN (undefined); samples called
    fake but none of them fake → -inf."""
    if alpha <= 0:
        raise ValueError(f"alpha must be positive, got {alpha}")
    c = confusion_counts(labels, scores, threshold)
    n_fake = c["tp"] + c["fn"]
    recall = c["tp"] / n_fake if n_fake else float("nan")
    den = c["tp"] + alpha * c["fp"]
    if den == 0:
        log_wp = float("nan")
    elif c["tp"] == 0:
        log_wp = float("-inf")
    else:
        log_wp = float(np.log(c["tp"] / den))
    return WeightedPrecision(log_wp=log_wp, recall=recall, threshold=float(threshold))


# ------------------------------------------------------------------ probability metrics


def log_loss(labels, probs, clip: float = DFDC_CLIP) -> float:
    """Binary cross-entropy of probabilities clipped to [clip, 1 - clip]; the default clip is
    DFDC's, so one confident mistake costs at most -log(1e-15) ≈ 34.5 instead of infinity."""
    if not 0.0 <= clip < 0.5:
        raise ValueError(f"clip must lie in [0, 0.5), got {clip}")
    y, p = check_labels_scores(labels, probs)
    check_probabilities(p)
    p = np.clip(p, clip, 1.0 - clip)
    return float(skm.log_loss(y, p, labels=[0, 1]))


def expected_calibration_error(labels, probs, n_bins: int = 10) -> float:
    """ECE of the fake probability: ``sum_b (n_b / N) * |mean(label)_b - mean(prob)_b|`` over
    equal-width bins of [0, 1]. The bins are those of ``sklearn.calibration.calibration_curve``
    (strategy="uniform"), so the ECE is the count-weighted gap of the reliability diagram."""
    if n_bins < 1:
        raise ValueError(f"n_bins must be >= 1, got {n_bins}")
    y, p = check_labels_scores(labels, probs)
    check_probabilities(p)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    b = np.searchsorted(edges[1:-1], p)  # same binning as calibration_curve
    sum_p = np.bincount(b, weights=p, minlength=n_bins)
    sum_y = np.bincount(b, weights=y, minlength=n_bins)
    return float(np.abs(sum_y - sum_p).sum() / y.size)


# ------------------------------------------------------------------------------ the suite


def metric_key(name: str, at: float | None = None) -> str:
    """Stable names for the report: ``tar@far=0.01``, ``log_wp@recall=0.9``."""
    if at is None:
        return name
    param = "recall" if name == "log_wp" else "far"
    return f"{name}@{param}={at:g}"


@dataclass
class MetricSet:
    """Every metric of one set of predictions. `values` holds the numbers (NaN when undefined,
    with the reason in `undefined`); `points` the operating point behind a value where one
    exists (threshold and the rates reached there)."""

    values: dict[str, float] = field(default_factory=dict)
    points: dict[str, dict[str, float]] = field(default_factory=dict)
    undefined: dict[str, str] = field(default_factory=dict)


def compute_metrics(
    labels,
    scores,
    threshold: float = 0.5,
    *,
    fars: Iterable[float] = (0.01, 0.1),
    recalls: Iterable[float] = (0.1, 0.5, 0.9),
    alpha: float = DFDC_WP_ALPHA,
    clip: float = DFDC_CLIP,
    n_bins: int = 10,
    include: Iterable[str] | None = None,
) -> MetricSet:
    """All metrics of this module for one set of predictions.

    Bad input (shape, NaN score, label not 0/1) raises ValueError. A metric that the data
    cannot define — ROC metrics with one class only, probability metrics on scores outside
    [0, 1] — becomes NaN with its reason in ``undefined``, so one degenerate metric does not
    hide the others. `include` restricts the work to the named metrics (for the bootstrap).
    """
    y, s = check_labels_scores(labels, scores)
    # inputs are checked above; sklearn's own per-call validation would otherwise be most of
    # the cost of a bootstrap resample
    with sklearn.config_context(skip_parameter_validation=True, assume_finite=True):
        return _compute(y, s, threshold, tuple(fars), tuple(recalls), alpha, clip, n_bins,
                        None if include is None else set(include))


def _compute(y: np.ndarray, s: np.ndarray, threshold: float, fars: tuple[float, ...],
             recalls: tuple[float, ...], alpha: float, clip: float, n_bins: int,
             wanted: set[str] | None) -> MetricSet:
    out = MetricSet()
    curve: list[RocCurve] = []  # built on first use, shared by every ROC metric

    def the_curve() -> RocCurve:
        if not curve:
            curve.append(roc(y, s, metric=None))
        return curve[0]

    def run(keys: tuple[str, ...], fn: Callable[[], dict[str, float]]) -> None:
        if wanted is not None and wanted.isdisjoint(keys):
            return
        try:
            out.values.update(fn())
        except ValueError as err:  # a metric these data cannot define (inputs were checked)
            for k in keys:
                out.values[k] = float("nan")
                out.undefined[k] = str(err)

    def point(key: str, value_name: str, op) -> dict[str, float]:
        out.points[key] = {k: float(v) for k, v in vars(op).items()}
        return {key: getattr(op, value_name)}

    run(("accuracy", "balanced_accuracy", "precision", "recall", "f1"),
        lambda: classification_metrics(y, s, threshold))
    run(("auc",), lambda: {"auc": the_curve().auc()})
    run(("average_precision",), lambda: {"average_precision": average_precision(y, s)})
    run(("log_loss",), lambda: {"log_loss": log_loss(y, s, clip=clip)})
    run(("ece",), lambda: {"ece": expected_calibration_error(y, s, n_bins=n_bins)})
    run(("eer",), lambda: point("eer", "eer", the_curve().equal_error_rate()))
    for far in fars:
        k_tar, k_p, k_t = (metric_key(n, far) for n in ("tar", "pauc", "tauc"))
        run((k_tar,), lambda f=far, k=k_tar: point(k, "tar", the_curve().tar_at_far(f)))
        run((k_p,), lambda f=far, k=k_p: {k: partial_auc(y, s, f)})
        run((k_t,), lambda f=far, k=k_t: {k: the_curve().truncated_auc(f)})
    for r in recalls:
        k_w = metric_key("log_wp", r)
        run((k_w,), lambda r=r, k=k_w: point(k, "log_wp", the_curve().log_wp_at_recall(r, alpha)))
    run(("log_wp@threshold",), lambda: point(
        "log_wp@threshold", "log_wp", log_weighted_precision(y, s, threshold, alpha)))
    for k, v in out.values.items():
        if np.isnan(v) and k not in out.undefined:
            out.undefined[k] = _nan_reason(k)
    return out


def _nan_reason(key: str) -> str:
    if key in ("precision", "log_wp@threshold"):
        return "no sample is called fake at this threshold"
    if key == "recall":
        return "no fake sample"
    if key == "f1":
        return "no fake sample and none called fake"
    if key == "balanced_accuracy":
        return "needs both classes"
    return "undefined for these data"
