"""A detector's file score → a calibrated probability of manipulation and a verdict band.

Why a file-level operating point: a bundle's threshold flags a share of *validation crops* of
its training data (DFDC), but real footage of other kinds scores higher and a verdict is given
per file, through scan's aggregation (mean over a person's frames, max over people). So the
points that decide a verdict are read off real *files* of several sources, scored exactly as
`fakescope scan` scores them, one set of points per media kind (an image's score is one crop's,
a video's a mean over its sampled frames: their spreads differ):

- ``fake``          score >= `fake_threshold`: the ``fake_far`` (1 %) false-alarm point;
- ``inconclusive``  `inconclusive_threshold` <= score < `fake_threshold`: between the 1 % and
                    the ``inconclusive_far`` (5 %) points — a person should look;
- ``real``          below.

Each threshold is the lowest score at which at most that share of the calibration reals is
called (``score >= threshold``, `metrics.tar_at_far`'s convention). The probability is Platt
scaling, ``sigmoid(a * logit(score) + b)``, fit on the calibration files of both classes: two
parameters, monotone in the score, stable on the few dozen files of a calibration set (isotonic
regression would give steps at each of them). It reads "how often files scoring like this were
manipulated, in a calibration set of this make-up", not a universal base rate.

This module is the one place verdicts are decided (`Verdicts.decide`); scan, serve, Ray and eval
call it. Applying a calibration needs numpy only; fitting one (`fit_calibration`) uses
scikit-learn.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from fakescope.errors import WeightsError

if TYPE_CHECKING:
    import pandas as pd

CALIBRATION_FORMAT = 1
FAKE_FAR = 0.01
INCONCLUSIVE_FAR = 0.05
KINDS = ("video", "image")
PACKAGED = "packaged"  # the calibration shipped for the detector's exact weights
_LOGIT_EPS = 1e-6


def _logit(p: np.ndarray | float) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=np.float64), _LOGIT_EPS, 1.0 - _LOGIT_EPS)
    return np.log(p) - np.log1p(-p)


@dataclass(frozen=True)
class KindCalibration:
    """The operating points and probability map of one media kind, with what they reached on
    the calibration files (`achieved`: per source, counts at both points)."""

    fake_threshold: float
    inconclusive_threshold: float
    platt_a: float
    platt_b: float
    n_real: int
    n_fake: int
    achieved: dict[str, dict[str, int]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        values = (self.fake_threshold, self.inconclusive_threshold, self.platt_a, self.platt_b)
        if not all(math.isfinite(v) for v in values):
            raise ValueError(f"calibration values must be finite, got {values}")
        if self.inconclusive_threshold > self.fake_threshold:
            raise ValueError(f"inconclusive threshold {self.inconclusive_threshold} lies above "
                             f"the fake threshold {self.fake_threshold}")
        if self.platt_a < 0:
            raise ValueError(f"Platt slope must not be negative (a probability that falls as "
                             f"the score rises is no calibration), got {self.platt_a}")

    def probability(self, score: float) -> float:
        z = self.platt_a * float(_logit(score)) + self.platt_b
        return float(1.0 / (1.0 + math.exp(-z)))


@dataclass(frozen=True)
class FileCalibration:
    """Calibration of one detector's weights (matched by sha256), per media kind. `settings`:
    the scan settings its file scores were made with; `data` and `command`: what it was fit
    on and how (for the model card)."""

    detector: str
    weights_sha256: str
    kinds: dict[str, KindCalibration]
    fake_far: float = FAKE_FAR
    inconclusive_far: float = INCONCLUSIVE_FAR
    settings: dict[str, Any] = field(default_factory=dict)
    data: str = ""
    command: str = ""

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["format"] = CALIBRATION_FORMAT
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"

    @property
    def sha256(self) -> str:
        """Identity of the calibration's content (part of a scan's settings key)."""
        return hashlib.sha256(self.to_json().encode()).hexdigest()

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FileCalibration:
        if d.get("format") != CALIBRATION_FORMAT:
            raise ValueError(f"calibration format {d.get('format')!r} is not {CALIBRATION_FORMAT}")
        kinds = {k: KindCalibration(**v) for k, v in d["kinds"].items()}
        unknown = set(kinds) - set(KINDS)
        if unknown:
            raise ValueError(f"unknown media kinds {sorted(unknown)}; known: {KINDS}")
        rest = {k: d[k] for k in ("fake_far", "inconclusive_far", "settings", "data", "command")
                if k in d}
        return cls(detector=str(d["detector"]), weights_sha256=str(d["weights_sha256"]),
                   kinds=kinds, **rest)


def load_calibration(path: str | Path) -> FileCalibration:
    """Read a calibration file; a missing or malformed one is a `WeightsError` naming it."""
    path = Path(path)
    try:
        return FileCalibration.from_dict(json.loads(path.read_text()))
    except FileNotFoundError:
        raise WeightsError(f"{path}: calibration file not found") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise WeightsError(f"{path}: not a fakescope calibration file ({type(exc).__name__}: "
                           f"{exc})") from None


def packaged_calibration(detector: str, weights_sha256: str) -> FileCalibration | None:
    """The calibration shipped in ``fakescope/weights/`` for exactly these weights, if any."""
    folder = Path(__file__).resolve().parents[1] / "weights"
    for path in sorted(folder.glob("*.calibration.json")):
        cal = load_calibration(path)
        if cal.detector == detector and cal.weights_sha256 == weights_sha256:
            return cal
    return None


@dataclass(frozen=True)
class Decision:
    """What one file score means: the verdict, the calibrated probability (None without a
    calibration for the file's kind) and the thresholds that drew the bands."""

    verdict: str  # fake | inconclusive | real
    probability: float | None
    threshold: float
    inconclusive_threshold: float | None


class Verdicts:
    """Turns file scores into verdicts, the same way for every caller.

    With a calibration for the file's kind: three bands at its points. A `threshold` given by
    the user overrides them: two bands (``fake`` at or above it, else ``real``), the
    probability still from the calibration. Without either (a user's weights that were never
    calibrated, or a kind the calibration does not cover): two bands at the weights' own
    threshold and no probability.
    """

    def __init__(self, default_threshold: float, calibration: FileCalibration | None = None,
                 threshold: float | None = None) -> None:
        self.default_threshold = float(default_threshold)
        self.calibration = calibration
        self.override = None if threshold is None else float(threshold)

    def threshold(self, kind: str | None) -> float:
        """The fake threshold in force for files of `kind` (None: not known)."""
        if self.override is not None:
            return self.override
        cal = self._kind(kind)
        return self.default_threshold if cal is None else cal.fake_threshold

    def _kind(self, kind: str | None) -> KindCalibration | None:
        if self.calibration is None or kind is None:
            return None
        return self.calibration.kinds.get(kind)

    def decide(self, score: float, kind: str | None) -> Decision:
        cal = self._kind(kind)
        probability = None if cal is None else cal.probability(score)
        if self.override is not None or cal is None:
            t = self.threshold(kind)
            return Decision("fake" if score >= t else "real", probability, t, None)
        if score >= cal.fake_threshold:
            verdict = "fake"
        elif score >= cal.inconclusive_threshold:
            verdict = "inconclusive"
        else:
            verdict = "real"
        return Decision(verdict, probability, cal.fake_threshold, cal.inconclusive_threshold)

    def settings(self) -> dict[str, Any]:
        """What changes verdicts, for the scan's settings key."""
        return {"threshold": self.override, "default_threshold": self.default_threshold,
                "calibration": None if self.calibration is None else self.calibration.sha256}


# ---------------------------------------------------------------------------------- fitting
def far_threshold(real_scores, far: float) -> float:
    """The lowest threshold at which at most `far` of `real_scores` score at or above it:
    just above the (k+1)-th highest real score, k = floor(far * n)."""
    s = np.sort(np.asarray(real_scores, dtype=np.float64))[::-1]
    if s.size == 0:
        raise ValueError("no real scores to read a false-alarm point from")
    if not 0.0 <= far < 1.0:
        raise ValueError(f"far must lie in [0, 1), got {far}")
    k = int(math.floor(far * s.size + 1e-9))
    return float(np.nextafter(s[k], np.inf))


def fit_platt(labels, scores) -> tuple[float, float]:
    """(a, b) of ``sigmoid(a * logit(score) + b)`` by logistic regression on logit(score),
    with a >= 0. Where the calibration's fakes score *lower* than its reals the unconstrained
    slope is negative; the constrained fit is then a = 0, b = logit(share of fakes): every
    score gets the base rate — the score says nothing about these files, and the probability
    says so rather than inverting the score."""
    from sklearn.linear_model import LogisticRegression

    y = np.asarray(labels, dtype=np.int64)
    if set(np.unique(y)) != {0, 1}:
        raise ValueError("Platt scaling needs real and fake files")
    x = _logit(scores).reshape(-1, 1)
    model = LogisticRegression(C=1e6, max_iter=1000).fit(x, y)  # ~unpenalised
    a, b = float(model.coef_[0, 0]), float(model.intercept_[0])
    if a < 0:  # the log-likelihood is concave: the optimum on the boundary a = 0
        a, b = 0.0, float(_logit(y.mean()))
    return a, b


def _counts(part: pd.DataFrame, fake_t: float, inc_t: float) -> dict[str, int]:
    s = part["score"].to_numpy()
    return {"n": int(len(part)), "fake": int((s >= fake_t).sum()),
            "inconclusive": int(((s >= inc_t) & (s < fake_t)).sum())}


def fit_kind(table: pd.DataFrame, fake_far: float = FAKE_FAR,
             inconclusive_far: float = INCONCLUSIVE_FAR) -> KindCalibration:
    """One kind's calibration from a table of files: ``score``, ``label`` (0 real, 1 fake)
    and ``source``. The points come from the reals only; the probability from both."""
    real = table[table["label"] == 0]
    fake_t = far_threshold(real["score"], fake_far)
    inc_t = min(far_threshold(real["score"], inconclusive_far), fake_t)
    a, b = fit_platt(table["label"], table["score"])
    achieved = {f"{src}/{'FAKE' if lab else 'REAL'}": _counts(part, fake_t, inc_t)
                for (src, lab), part in table.groupby(["source", "label"], sort=True)}
    return KindCalibration(fake_threshold=fake_t, inconclusive_threshold=inc_t, platt_a=a,
                           platt_b=b, n_real=int(len(real)), n_fake=int(len(table) - len(real)),
                           achieved=achieved)


def fit_calibration(table: pd.DataFrame, detector: str, weights_sha256: str,
                    fake_far: float = FAKE_FAR, inconclusive_far: float = INCONCLUSIVE_FAR,
                    min_reals: int = 20, **meta: Any) -> FileCalibration:
    """Fit every media kind of `table` (columns ``score, label, kind, source``) that has at
    least `min_reals` real files; `meta`: ``settings``, ``data``, ``command``."""
    need = {"score", "label", "kind", "source"} - set(table.columns)
    if need:
        raise ValueError(f"calibration table lacks {sorted(need)}")
    kinds = {}
    for kind, part in table.groupby("kind", sort=True):
        n_real = int((part["label"] == 0).sum())
        if n_real < min_reals:
            continue
        kinds[str(kind)] = fit_kind(part, fake_far, inconclusive_far)
    if not kinds:
        raise ValueError(f"no media kind has {min_reals} real files to calibrate on")
    return FileCalibration(detector=detector, weights_sha256=weights_sha256, kinds=kinds,
                           fake_far=fake_far, inconclusive_far=inconclusive_far, **meta)


def resolve_calibration(detector, calibration=PACKAGED) -> FileCalibration | None:
    """The calibration a scan uses for `detector` (a `detectors.base.Detector`): ``"packaged"``
    → the one shipped for its exact weights (None if there is none); a path or a
    `FileCalibration` → that one, which must be for these weights; None → none."""
    if calibration is None:
        return None
    info = detector.info
    if isinstance(calibration, str) and calibration == PACKAGED:
        return packaged_calibration(info.name, info.weights_sha256)
    cal = calibration if isinstance(calibration, FileCalibration) else load_calibration(calibration)
    if cal.weights_sha256 != info.weights_sha256:
        raise WeightsError(f"the calibration is for weights {cal.weights_sha256[:12]} of "
                           f"{cal.detector!r}, not {info.weights_sha256[:12]} of {info.name!r}")
    return cal
