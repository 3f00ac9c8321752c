"""Percentile-bootstrap confidence intervals for any metrics of (labels, scores).

Seeded (``numpy.random.default_rng(seed)``): the same inputs and seed give the same intervals.
Frames of one video are not independent samples: their errors move together, so resampling
frames gives intervals that are too narrow. With `groups` (video ids) whole groups are
resampled with replacement, each bringing all its rows (cluster bootstrap).

A resample on which a metric is undefined (e.g. AUC of a resample that drew one class only)
is left out for that metric; `n_valid` says on how many resamples each interval rests.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Interval:
    low: float
    high: float
    confidence: float
    n_valid: int  # resamples on which the metric was defined
    n_resamples: int


class _Resampler:
    """Draws bootstrap index sets: of samples, or of all rows of resampled groups."""

    def __init__(self, n: int, groups, rng: np.random.Generator) -> None:
        self.n, self.rng = n, rng
        if groups is None:
            self.order = None
            return
        codes, _ = _group_codes(groups, n)
        self.order = np.argsort(codes, kind="stable")  # rows grouped together
        self.counts = np.bincount(codes)
        self.starts = np.concatenate(([0], np.cumsum(self.counts)[:-1]))

    def draw(self) -> np.ndarray:
        if self.order is None:
            return self.rng.integers(0, self.n, self.n)
        g = self.rng.integers(0, self.counts.size, self.counts.size)
        lengths = self.counts[g]
        # row positions: for each drawn group, starts[g] .. starts[g] + counts[g] - 1
        offsets = np.repeat(self.starts[g] - (np.cumsum(lengths) - lengths), lengths)
        return self.order[offsets + np.arange(lengths.sum())]


def _group_codes(groups, n: int) -> tuple[np.ndarray, np.ndarray]:
    g = np.asarray(groups)
    if g.shape != (n,):
        raise ValueError(f"groups must have one entry per sample ({n}), got shape {g.shape}")
    uniques, codes = np.unique(g, return_inverse=True)
    return codes, uniques


def bootstrap_ci(
    fn: Callable[[np.ndarray, np.ndarray], dict[str, float]],
    labels,
    scores,
    *,
    groups=None,
    n_bootstrap: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> dict[str, Interval]:
    """Percentile intervals of each metric `fn(labels, scores)` returns (NaN = undefined).

    The same resamples serve all metrics; `seed` makes the result reproducible.
    """
    if n_bootstrap < 1:
        raise ValueError(f"n_bootstrap must be >= 1, got {n_bootstrap}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")
    y = np.asarray(labels)
    s = np.asarray(scores)
    if y.shape != s.shape or y.ndim != 1 or y.size == 0:
        raise ValueError(f"labels and scores must be equal-length non-empty 1-D, "
                         f"got {y.shape} and {s.shape}")
    sampler = _Resampler(y.size, groups, np.random.default_rng(seed))
    draws: dict[str, list[float]] = {}
    for b in range(n_bootstrap):
        idx = sampler.draw()
        for k, v in fn(y[idx], s[idx]).items():
            draws.setdefault(k, [float("nan")] * b).append(float(v))
        for k, lst in draws.items():  # a metric absent from this resample's answer
            if len(lst) < b + 1:
                lst.append(float("nan"))
    tail = 100.0 * (1.0 - confidence) / 2.0
    out: dict[str, Interval] = {}
    for k, lst in draws.items():
        a = np.asarray(lst)
        ok = a[~np.isnan(a)]
        if ok.size:
            # order statistics at or just outside the nominal quantiles (no interpolation:
            # slightly conservative, and well defined when a draw is -inf, e.g. log(wP) = ln 0)
            low = np.percentile(ok, tail, method="lower")
            high = np.percentile(ok, 100.0 - tail, method="higher")
        else:
            low = high = float("nan")
        out[k] = Interval(low=float(low), high=float(high), confidence=confidence,
                          n_valid=int(ok.size), n_resamples=n_bootstrap)
    return out
