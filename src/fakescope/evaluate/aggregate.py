"""Frame (crop) scores → one track / file / video score. The one implementation: `scan` uses it
per track and per file, `eval` for frame → video.

Methods, for fake probabilities p_1..p_n of one unit:

- ``mean``: the average probability (seed 003 §4 aggregates videos "using average").
- ``mean_logit``: ``sigmoid(mean(logit(p)))``, the geometric mean of the odds; a few confident
  frames move it more than the plain mean. p is clipped to [1e-6, 1 - 1e-6] so one saturated
  frame cannot make the result exactly 0 or 1.
- ``max``: the most suspicious frame (a manipulation on a few frames only still shows; also
  the least robust to one bad crop).
- ``confident``: mean weighted by each frame's confidence ``|2p - 1|``; frames near 0.5 say
  little and count little. If every frame is exactly 0.5 the weights are all 0 and the result
  is their plain mean, 0.5 — what the frames said, not a default.

Empty input and NaN / out-of-range probabilities raise ValueError: a unit with no evidence
must be handled by the caller (abstain), never turned into a silent 0.5.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # tables load pandas when one is aggregated; scan scores arrays only
    import pandas as pd

METHODS = ("mean", "mean_logit", "max", "confident")
LOGIT_EPS = 1e-6


def _check(probs) -> np.ndarray:
    p = np.asarray(probs, dtype=np.float64).ravel()
    if p.size == 0:
        raise ValueError("cannot aggregate an empty set of scores (no frame / face to score)")
    if not np.isfinite(p).all():
        raise ValueError(f"{int((~np.isfinite(p)).sum())} of {p.size} scores are NaN or infinite")
    if p.min() < 0.0 or p.max() > 1.0:
        raise ValueError(f"scores must be probabilities in [0, 1], got [{p.min():g}, {p.max():g}]")
    return p


def aggregate_scores(probs, method: str = "mean") -> float:
    """One score in [0, 1] from the fake probabilities of one track, file or video."""
    if method not in METHODS:
        raise ValueError(f"unknown aggregation method {method!r}; one of {METHODS}")
    p = _check(probs)
    if method == "mean":
        return float(p.mean())
    if method == "max":
        return float(p.max())
    if method == "mean_logit":
        from scipy.special import expit, logit

        return float(expit(logit(np.clip(p, LOGIT_EPS, 1.0 - LOGIT_EPS)).mean()))
    w = np.abs(2.0 * p - 1.0)  # confident
    if w.sum() == 0.0:
        return float(p.mean())
    return float(np.average(p, weights=w))


def aggregate_frame_table(
    df: pd.DataFrame,
    group_col: str,
    score_col: str,
    method: str = "mean",
    label_col: str | None = None,
) -> pd.DataFrame:
    """One row per group: `group_col`, `score_col` (the aggregated score), ``n_frames`` and,
    when `label_col` is given, the group's label (which must be the same on all its rows).

    Rows with a missing group raise ValueError (they would silently vanish in a groupby).
    """
    need = [group_col, score_col] + ([label_col] if label_col else [])
    missing = [c for c in need if c not in df.columns]
    if missing:
        raise ValueError(f"frame table lacks column(s) {missing}; has {list(df.columns)}")
    if df.empty:
        raise ValueError("cannot aggregate an empty frame table")
    if df[group_col].isna().any():
        raise ValueError(f"{int(df[group_col].isna().sum())} rows have no {group_col!r}")
    if method not in METHODS:
        raise ValueError(f"unknown aggregation method {method!r}; one of {METHODS}")
    rows = []
    for key, part in df.groupby(group_col, sort=True):
        try:
            score = aggregate_scores(part[score_col].to_numpy(), method)
        except ValueError as err:
            raise ValueError(f"{group_col}={key!r}: {err}") from None
        row = {group_col: key, score_col: score, "n_frames": len(part)}
        if label_col:
            labels = part[label_col].unique()
            if len(labels) != 1:
                raise ValueError(f"{group_col}={key!r} has mixed {label_col!r}: {list(labels)}")
            row[label_col] = labels[0]
        rows.append(row)
    import pandas as pd

    return pd.DataFrame(rows)


def file_scores(
    df: pd.DataFrame,
    file_col: str,
    score_col: str,
    method: str = "mean",
    track_col: str | None = None,
    label_col: str | None = None,
) -> pd.DataFrame:
    """Crop scores → one score per file exactly as `fakescope scan` makes it: crops →
    track (`method`) → file (max over tracks: a file is fake if any person in it is).
    Without `track_col` every file is one track. One row per file: `file_col`, `score_col`,
    ``n_frames`` [, `label_col`]."""
    if track_col is None:
        return aggregate_frame_table(df, file_col, score_col, method, label_col)
    key = "__track"
    tracks = df.assign(**{key: df[file_col].astype(str) + "\x00" + df[track_col].astype(str)})
    per_track = aggregate_frame_table(tracks, key, score_col, method, label_col)
    per_track[file_col] = per_track[key].map(dict(zip(tracks[key], tracks[file_col])))
    return aggregate_frame_table(per_track, file_col, score_col, "max", label_col).drop(
        columns="n_frames").merge(df.groupby(file_col).size().rename("n_frames").reset_index())
