"""Leakage-free splits: by source video, merged with identity clusters where known.

A fake and the real video it was made from must fall on the same side of a split, and so
must every video of one person (DFDC reuses a few hundred actors); otherwise a model can
score well by recognising who is faked. `merge_groups` joins the group keys that share a
value (connected components), `group_split` splits by the merged key, and
`check_no_leakage` refuses any split where a key appears on two sides.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from sklearn.model_selection import GroupShuffleSplit, StratifiedGroupKFold

from fakescope.errors import FakescopeError


class LeakageError(FakescopeError):
    """A group or identity appears in more than one part of a split."""

    def __init__(self, column: str, parts: tuple[str, str], values: Sequence[Hashable]) -> None:
        self.column = column
        self.parts = parts
        self.values = list(values)
        shown = ", ".join(map(str, self.values[:10]))
        more = f" (and {len(self.values) - 10} more)" if len(self.values) > 10 else ""
        super().__init__(
            f"split leaks: {len(self.values)} value(s) of '{column}' appear in both "
            f"{parts[0]} and {parts[1]}: {shown}{more}"
        )


@dataclass(frozen=True)
class Split:
    """The three parts of a split; `val` may be empty (two-way split)."""

    train: pd.DataFrame
    val: pd.DataFrame
    test: pd.DataFrame

    def parts(self) -> dict[str, pd.DataFrame]:
        return {"train": self.train, "val": self.val, "test": self.test}


def connected_keys(nodes: Sequence[Sequence[Hashable]]) -> list[Hashable]:
    """Connected components over rows of linked keys; returns one key per row.

    Row ``i`` links all its non-null keys together (e.g. ``(target_video, donor_video)``); two
    rows sharing any key end up in one component. Each row gets its component's name: the
    smallest first-position key in that component (readable and deterministic).
    """
    index: dict[Hashable, int] = {}
    rows, cols = [], []
    firsts: list[int] = []
    for keys in nodes:
        ids = [index.setdefault(k, len(index)) for k in keys if not _isnull(k)]
        if not ids:
            raise ValueError("a row has no key to group by (all values are null)")
        firsts.append(ids[0])
        for other in ids[1:]:
            rows.append(ids[0])
            cols.append(other)
    n = len(index)
    graph = coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, n))
    _, comp = connected_components(graph, directed=False)
    names: dict[int, Hashable] = {}
    keys_by_id = list(index)
    for fid in firsts:
        c = comp[fid]
        key = keys_by_id[fid]
        if c not in names or str(key) < str(names[c]):
            names[c] = key
    return [names[comp[fid]] for fid in firsts]


def merge_groups(
    df: pd.DataFrame,
    extra_cols: str | Sequence[str],
    group_col: str = "group",
    out_col: str = "split_group",
) -> pd.DataFrame:
    """Return a copy of `df` with `out_col`: `group_col` joined with `extra_cols` (union-find).

    Two rows get the same `out_col` when they are linked by any chain of shared values, e.g.
    source video A and B share identity 7 → A's and B's rows (with all their fakes) form one
    split key. Null extra values link nothing.
    """
    extra = [extra_cols] if isinstance(extra_cols, str) else list(extra_cols)
    for col in [group_col, *extra]:
        if col not in df.columns:
            raise KeyError(f"column '{col}' not in frame (columns: {list(df.columns)})")
    tagged = [
        [("g", g)] + [(c, v) for c, v in zip(extra, vals) if not _isnull(v)]
        for g, *vals in zip(df[group_col], *(df[c] for c in extra))
    ]
    keys = connected_keys(tagged)
    out = df.copy()
    out[out_col] = [k[1] for k in keys]
    return out


def check_no_leakage(
    *frames: pd.DataFrame,
    cols: Iterable[str] = ("group", "identity"),
    names: Sequence[str] | None = None,
) -> None:
    """Raise LeakageError if any value of any of `cols` occurs in two of `frames`.

    Columns absent from a frame are skipped, but at least one column must be checkable, so a
    frame without any grouping column is refused rather than passed unchecked.
    """
    if len(frames) < 2:
        raise ValueError("check_no_leakage needs at least two frames")
    names = list(names) if names is not None else ["train", "test", "val"][: len(frames)]
    if len(names) < len(frames):
        names += [f"part{i}" for i in range(len(names), len(frames))]
    cols = list(cols)
    checked = False
    for col in cols:
        present = [i for i, f in enumerate(frames) if col in f.columns]
        if len(present) < 2:
            continue
        checked = True
        for a_pos, i in enumerate(present):
            a = set(frames[i][col].dropna())
            for j in present[a_pos + 1 :]:
                shared = a.intersection(frames[j][col].dropna())
                if shared:
                    raise LeakageError(col, (names[i], names[j]), sorted(shared, key=str))
    if not checked:
        raise ValueError(f"none of the columns {cols} is present in the frames; cannot check")


def check_split(split: Split, cols: Iterable[str] = ("group", "identity")) -> None:
    """`check_no_leakage` over all pairs of the non-empty parts of `split`."""
    parts = {k: v for k, v in split.parts().items() if len(v)}
    check_no_leakage(*parts.values(), cols=cols, names=list(parts))


def group_split(
    df: pd.DataFrame,
    group_col: str = "group",
    fractions: Sequence[float] = (0.8, 0.1, 0.1),
    test_size: float | None = None,
    seed: int = 0,
    label_col: str | None = "label",
    check_cols: Iterable[str] = ("group", "identity"),
) -> Split:
    """Split rows so that no value of `group_col` is in two parts; stratified by label.

    `fractions` is (train, val, test) or (train, test); `test_size` is a shortcut for a two-way
    split. Stratification uses StratifiedGroupKFold (so the realised fractions are 1/k for an
    integer k close to the request, e.g. 0.1 → exactly 1/10 of the groups' rows on average);
    when there are too few groups per class for that, it falls back to GroupShuffleSplit.
    The result is checked with `check_no_leakage` on `group_col` and `check_cols`.
    """
    if test_size is not None:
        fractions = (1.0 - test_size, test_size)
    fr = [float(f) for f in fractions]
    if len(fr) == 2:
        fr = [fr[0], 0.0, fr[1]]
    if len(fr) != 3 or any(f < 0 for f in fr) or not np.isclose(sum(fr), 1.0):
        raise ValueError(f"fractions must be 2 or 3 non-negative numbers summing to 1, got {fractions}")
    if group_col not in df.columns:
        raise KeyError(f"group column '{group_col}' not in frame")
    if df[group_col].isna().any():
        raise ValueError(f"{int(df[group_col].isna().sum())} row(s) have no '{group_col}'")
    rng = np.random.default_rng(seed)
    df = df.reset_index(drop=True)
    rest, test = _take(df, group_col, fr[2], label_col, int(rng.integers(2**31)))
    val_frac = fr[1] / (fr[0] + fr[1]) if fr[1] > 0 else 0.0
    train, val = _take(rest, group_col, val_frac, label_col, int(rng.integers(2**31)))
    split = Split(train, val, test)
    check_split(split, cols=dict.fromkeys([group_col, *check_cols]))
    return split


def _take(
    df: pd.DataFrame, group_col: str, frac: float, label_col: str | None, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Hold out about `frac` of `df` by group; returns (kept, held_out)."""
    empty = df.iloc[:0]
    if frac <= 0:
        return df, empty
    groups = df[group_col].to_numpy()
    n_groups = len(pd.unique(groups))
    if n_groups < 2:
        raise ValueError(f"cannot split {n_groups} group(s) of '{group_col}' into two parts")
    k = max(2, int(round(1.0 / frac)))
    idx = np.arange(len(df))
    held = None
    if label_col is not None and label_col in df.columns and n_groups >= k:
        y = df[label_col].to_numpy()
        counts = pd.Series(groups).groupby(y).nunique()
        if len(counts) > 1 and counts.min() >= k:
            sgkf = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
            _, held = next(sgkf.split(idx, y, groups))
    if held is None:
        gss = GroupShuffleSplit(n_splits=1, test_size=frac, random_state=seed)
        _, held = next(gss.split(idx, groups=groups))
    mask = np.zeros(len(df), dtype=bool)
    mask[held] = True
    return df[~mask].reset_index(drop=True), df[mask].reset_index(drop=True)


def _isnull(v: object) -> bool:
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False
