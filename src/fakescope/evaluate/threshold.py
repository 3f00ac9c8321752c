"""Choosing the decision threshold on validation data, and keeping it with the model.

A detector outputs a fake probability; the verdict needs a threshold, and 0.5 is only right
for a calibrated model on balanced data. The threshold is chosen on validation data — at a
target false-alarm rate (what an operator can afford) or at the best accuracy / balanced
accuracy / Youden J — and saved as JSON next to the weights, with what it achieved there.

Decision rule: fake iff ``score >= threshold`` (`Threshold.apply`; sklearn's ROC convention).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from sklearn import metrics as skm

from fakescope.evaluate.metrics import (
    check_labels_scores,
    classification_metrics,
    confusion_counts,
    require_both_classes,
    tar_at_far,
)

METHODS = ("far", "accuracy", "balanced_accuracy", "youden", "fixed")


@dataclass(frozen=True)
class Threshold:
    """A decision threshold and how it was chosen. `target` is the FAR asked for (method
    "far"), None otherwise; `achieved` holds the metrics it reached on the data it was chosen
    on (accuracy, balanced_accuracy, precision, recall, f1, tar, far, n_real, n_fake)."""

    value: float
    method: str
    target: float | None = None
    achieved: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"unknown threshold method {self.method!r}; one of {METHODS}")
        if not math.isfinite(self.value):
            raise ValueError(f"threshold value must be finite, got {self.value}")

    def apply(self, scores) -> np.ndarray:
        """Boolean array: True where the score means fake."""
        return np.asarray(scores, dtype=np.float64) >= self.value

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["achieved"] = {k: (None if not math.isfinite(v) else v)
                         for k, v in self.achieved.items()}
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Threshold:
        missing = {"value", "method"} - d.keys()
        if missing:
            raise ValueError(f"threshold record lacks {sorted(missing)}: {d}")
        achieved = {k: (float("nan") if v is None else float(v))
                    for k, v in (d.get("achieved") or {}).items()}
        target = d.get("target")
        return cls(value=float(d["value"]), method=str(d["method"]),
                   target=None if target is None else float(target), achieved=achieved)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Threshold:
        return cls.from_dict(json.loads(text))


def fixed_threshold(value: float = 0.5) -> Threshold:
    """A threshold that was not chosen on data (nothing achieved to report)."""
    return Threshold(value=float(value), method="fixed")


def _achieved(y: np.ndarray, s: np.ndarray, value: float) -> dict[str, float]:
    m = classification_metrics(y, s, value)
    c = confusion_counts(y, s, value)
    n_real, n_fake = c["tn"] + c["fp"], c["tp"] + c["fn"]
    m["tar"] = c["tp"] / n_fake if n_fake else float("nan")
    m["far"] = c["fp"] / n_real if n_real else float("nan")
    m["n_real"], m["n_fake"] = float(n_real), float(n_fake)
    return m


def _candidates(s: np.ndarray) -> np.ndarray:
    """Every distinct decision on these scores: each distinct score (``>=`` calls it fake) and
    one value above the maximum (nothing is fake)."""
    u = np.unique(s)
    return np.append(u, np.nextafter(u[-1], np.inf))


def select_threshold(labels, scores, method: str = "far", target: float | None = None) -> Threshold:
    """Choose a threshold on validation predictions.

    - ``"far"``: the lowest threshold whose FAR (share of reals called fake) is <= target,
      i.e. the highest TAR allowed at that false-alarm budget (`metrics.tar_at_far`).
    - ``"accuracy"``: maximise accuracy (depends on the class balance of the data).
    - ``"balanced_accuracy"`` / ``"youden"``: maximise TAR - FAR (Youden's J = 2 * balanced
      accuracy - 1, so both pick the same threshold), indifferent to class balance.

    Ties are broken towards the higher threshold (fewer false alarms).
    """
    y, s = check_labels_scores(labels, scores)
    if method == "far":
        if target is None:
            raise ValueError('method "far" needs target, the FAR to allow (e.g. 0.01)')
        value = tar_at_far(y, s, target).threshold
        return Threshold(value=value, method="far", target=float(target),
                         achieved=_achieved(y, s, value))
    if target is not None:
        raise ValueError(f"method {method!r} takes no target (got {target})")
    if method == "accuracy":
        cand = _candidates(s)  # ascending
        # TN and FN at every candidate at once: how many reals / fakes score below it
        tn = np.searchsorted(np.sort(s[y == 0]), cand, side="left")
        fn = np.searchsorted(np.sort(s[y == 1]), cand, side="left")
        acc = (tn + (int(y.sum()) - fn)) / s.size
        i = len(acc) - 1 - int(np.argmax(acc[::-1]))  # highest threshold among the best
        value = float(cand[i])
    elif method in ("balanced_accuracy", "youden"):
        require_both_classes(y, f"threshold by {method}")
        fpr, tpr, thr = skm.roc_curve(y, s, drop_intermediate=False)
        j = tpr - fpr
        i = int(np.argmax(j))  # roc thresholds descend: first best = highest threshold
        value = float(np.nextafter(s.max(), np.inf)) if np.isinf(thr[i]) else float(thr[i])
    else:
        raise ValueError(f"unknown threshold method {method!r}; one of {METHODS[:-1]}")
    return Threshold(value=value, method=method, achieved=_achieved(y, s, value))
