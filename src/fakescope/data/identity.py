"""Identity clusters of face crops, so that splits keep each person on one side.

DFDC reuses a few hundred actors across thousands of source videos; splitting by source video
alone still puts the same people in train and test. Here every crop gets dlib's 128-d face
descriptor (ResNet from ``face_recognition_models``, found on disk — never imported, it
imports pkg_resources), descriptors are clustered (average linkage, euclidean, distance
threshold), and the cluster id is the ``identity`` column that `splits.merge_groups` joins
with the source-video groups.

Descriptors are cached to parquet after every chunk and reused, so a long run can be killed
and resumed. Run on a whole crop set (in the background):

    python -m fakescope.data.identity --csv metadata.csv --images faces_224 \
        --out cache/dfdc_identity.parquet --n-jobs 2
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import logging
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from fakescope.errors import FakescopeError, MediaError, WeightsError
from fakescope.data.splits import LeakageError
from fakescope.data.landmarks import DEFAULT_INSET, CropLandmarker
from fakescope.output.atomic import atomic_write_bytes

log = logging.getLogger(__name__)

DESCRIPTOR_DIM = 128
# Average-linkage distance threshold. On 200 random shared DFDC crops (looked at by eye):
# at 0.45 the multi-crop clusters are nearly all one person, at 0.5 a few join look-alikes
# (same skin tone and glasses), at 0.55 many do. Over-merging only costs split freedom,
# under-merging leaks people across the split, hence 0.5.
DEFAULT_THRESHOLD = 0.5


def models_dir() -> Path:
    """The ``models`` folder of the installed face_recognition_models package (not imported)."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise WeightsError("face_recognition_models is not installed (needed for dlib face descriptors)")
    return Path(list(spec.submodule_search_locations)[0]) / "models"


class FaceDescriber:
    """dlib landmarks + face-recognition ResNet → a 128-d descriptor and 68 landmarks per crop.

    One pass gives both things the training data needs from a face: who it is (the
    descriptor, for identity-disjoint splits) and where its parts are (the 68 points, for the
    convex-hull mask of a self-blended fake). ``rect="fixed"`` uses the crop inset by `inset`
    as the face rectangle (crops are already face-centred); ``rect="detect"`` runs dlib's HOG
    detector first and falls back to the fixed rectangle when it finds no face.
    """

    def __init__(self, rect: str = "fixed", inset: float = DEFAULT_INSET) -> None:
        import dlib

        d = models_dir()
        files = [d / "shape_predictor_5_face_landmarks.dat", d / "dlib_face_recognition_resnet_model_v1.dat"]
        for f in files:
            if not f.is_file():
                raise WeightsError(f"dlib model file missing: {f}")
        self.shape_predictor = dlib.shape_predictor(str(files[0]))
        self.encoder = dlib.face_recognition_model_v1(str(files[1]))
        self.landmarker = CropLandmarker(rect, inset)

    def describe(self, img: np.ndarray) -> np.ndarray:
        """Descriptor (128,) float32 of an HxWx3 uint8 RGB face crop."""
        return self.describe_with_landmarks(img)[0]

    def describe_with_landmarks(self, img: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(descriptor (128,), landmarks (68, 2) in pixels), both float32."""
        rect = self.landmarker.rect(img)
        shape = self.shape_predictor(img, rect)
        desc = np.asarray(self.encoder.compute_face_descriptor(img, shape), dtype=np.float32)
        return desc, self.landmarker.landmarks(img, rect)


_WORKER: FaceDescriber | None = None


def _init_worker(rect: str, inset: float) -> None:
    global _WORKER
    _WORKER = FaceDescriber(rect, inset)


def _describe_chunk(paths: Sequence[str]) -> tuple[np.ndarray, np.ndarray, list[str]]:
    from fakescope.data.datasets import read_image_rgb

    assert _WORKER is not None
    out = np.full((len(paths), DESCRIPTOR_DIM), np.nan, dtype=np.float32)
    lms = np.full((len(paths), 68, 2), np.nan, dtype=np.float32)
    errors = []
    for i, p in enumerate(paths):
        try:
            out[i], lms[i] = _WORKER.describe_with_landmarks(read_image_rgb(p))
            errors.append("")
        except (MediaError, RuntimeError) as e:  # dlib raises RuntimeError on bad input
            errors.append(str(e))
    return out, lms, errors


Entry = tuple[np.ndarray, np.ndarray, str]  # descriptor (128,), landmarks (68, 2), error


def _load_cache(cache_path: Path | None) -> dict[str, Entry]:
    if cache_path is None or not cache_path.exists():
        return {}
    df = pd.read_parquet(cache_path)
    if not len(df):
        return {}
    vecs = np.stack(df["descriptor"].to_numpy()).astype(np.float32)
    if "landmarks" in df.columns:
        lms = np.stack(df["landmarks"].to_numpy()).astype(np.float32).reshape(-1, 68, 2)
    else:  # a cache written before landmarks were kept: describe those again
        return {}
    return {p: (v, m, e) for p, v, m, e in zip(df["path"], vecs, lms, df["error"])}


def _save_cache(cache_path: Path, done: dict[str, Entry]) -> None:
    df = pd.DataFrame(
        {
            "path": list(done),
            "descriptor": [v.tolist() for v, _, _ in done.values()],
            "landmarks": [m.ravel().tolist() for _, m, _ in done.values()],
            "error": [e for _, _, e in done.values()],
        }
    )
    buf = io.BytesIO()
    df.to_parquet(buf, index=False)
    atomic_write_bytes(cache_path, buf.getvalue())


def load_landmarks(cache_path: str | Path) -> dict[str, np.ndarray]:
    """Path → (68, 2) float32 dlib landmarks from a descriptor cache (rows with an error are
    left out): what self-blending needs for its convex-hull masks."""
    return {p: m for p, (_, m, e) in _load_cache(Path(cache_path)).items()
            if not e and np.isfinite(m).all()}


def compute_descriptors(
    paths: Sequence[str | Path],
    n_jobs: int = 1,
    cache_path: str | Path | None = None,
    rect: str = "fixed",
    inset: float = DEFAULT_INSET,
    chunk_size: int = 256,
    progress: bool = False,
) -> np.ndarray:
    """Descriptors (N, 128) float32 for `paths`; NaN rows for unreadable files (logged).

    With `cache_path` (parquet: path, descriptor, error) finished paths are read from it and
    new ones are written after every chunk, so an interrupted run resumes where it stopped.
    """
    paths = [str(p) for p in paths]
    cache = Path(cache_path) if cache_path is not None else None
    done = _load_cache(cache)
    todo = list(dict.fromkeys(p for p in paths if p not in done))
    chunks = [todo[i : i + chunk_size] for i in range(0, len(todo), chunk_size)]
    t0, n_done = time.monotonic(), 0
    if chunks:
        n_jobs = max(1, min(n_jobs, len(chunks)))
        if n_jobs == 1:
            _init_worker(rect, inset)
            results = map(_describe_chunk, chunks)
            pool = None
        else:
            pool = ProcessPoolExecutor(n_jobs, initializer=_init_worker, initargs=(rect, inset))
            results = pool.map(_describe_chunk, chunks)
        try:
            for chunk, (vecs, lms, errors) in zip(chunks, results):
                for p, v, m, e in zip(chunk, vecs, lms, errors):
                    done[p] = (v, m, e)
                    if e:
                        log.warning("identity: %s", e)
                n_done += len(chunk)
                if cache is not None:
                    _save_cache(cache, done)
                if progress:
                    rate = n_done / max(time.monotonic() - t0, 1e-9)
                    print(f"descriptors {n_done}/{len(todo)} ({rate:.1f}/s)", file=sys.stderr, flush=True)
        finally:
            if pool is not None:
                pool.shutdown()
    return np.stack([done[p][0] for p in paths]) if paths else np.zeros((0, DESCRIPTOR_DIM), np.float32)


def cluster_identities(
    descriptors: np.ndarray, threshold: float = DEFAULT_THRESHOLD, linkage: str = "average"
) -> np.ndarray:
    """Identity ids (N,) int64 by agglomerative clustering; -1 for NaN (unreadable) rows.

    Average linkage with a euclidean distance threshold: dlib's descriptors put two photos of
    one person below ~0.6 apart; average (not single) linkage avoids chaining many people into
    one giant cluster through a few borderline pairs.
    """
    from sklearn.cluster import AgglomerativeClustering

    ids = np.full(len(descriptors), -1, dtype=np.int64)
    ok = ~np.isnan(descriptors).any(axis=1)
    if ok.sum() == 1:
        ids[ok] = 0
    elif ok.sum() > 1:
        model = AgglomerativeClustering(
            n_clusters=None, distance_threshold=threshold, linkage=linkage, metric="euclidean"
        )
        ids[ok] = model.fit_predict(descriptors[ok])
    return ids


def assign_identities(
    df: pd.DataFrame,
    path_col: str = "path",
    cache_path: str | Path | None = None,
    n_jobs: int = 1,
    threshold: float = DEFAULT_THRESHOLD,
    rect: str = "fixed",
    progress: bool = False,
    per_group: bool = False,
) -> pd.DataFrame:
    """Copy of `df` with an ``identity`` column (``"id<k>"``; null where no descriptor).

    With `per_group`, only one crop per source ``group`` is described (the REAL one when the
    group has it) and its identity is given to the whole group. A DFDC fake shows the scene
    and head of its source video, so this halves the cost; what it misses is the swapped-in
    donor face, which a source-only identity cannot see (say so wherever it is used).
    """
    if per_group:
        order = df.sort_values("label", kind="stable")  # REAL (0) first within each group
        reps = order.drop_duplicates("group", keep="first")
        rep_ids = assign_identities(reps, path_col, cache_path, n_jobs, threshold, rect, progress)
        out = df.copy()
        out["identity"] = out["group"].map(dict(zip(rep_ids["group"], rep_ids["identity"])))
        out["identity"] = out["identity"].astype("string")
        return out
    desc = compute_descriptors(df[path_col].tolist(), n_jobs, cache_path, rect=rect, progress=progress)
    ids = cluster_identities(desc, threshold)
    out = df.copy()
    out["identity"] = pd.array([f"id{i}" if i >= 0 else None for i in ids], dtype="string")
    return out


# ------------------------------------------------------------------ evaluation you can trust
# A split is only as identity-disjoint as its identity clusters. The probe below measures what
# is left: a k-NN that sees nothing but who-is-this descriptors and guesses real/fake from the
# train crops nearest in identity. Above chance on test means people (or donor faces) are
# shared across the split; on an identity-disjoint split it must sit at 0.5.

PROBE_K = 25  # enough neighbours that one look-alike does not decide a crop's score


@dataclass(frozen=True)
class ProbeResult:
    """ROC-AUC of the identity k-NN on a held-out part, with its cluster-bootstrap interval."""

    auc: float
    low: float
    high: float
    n_train: int  # train crops with a descriptor (the k-NN's memory)
    n_test: int  # scored crops with a descriptor
    k: int
    n_groups: int  # identity clusters the bootstrap resampled
    confidence: float = 0.95

    @property
    def leaks(self) -> bool:
        """The whole interval lies above chance: descriptors alone predict the label."""
        return self.low > 0.5

    def __str__(self) -> str:
        return (f"AUC {self.auc:.3f} ({self.confidence:.0%} CI {self.low:.3f}-{self.high:.3f}; "
                f"{self.n_test} crops in {self.n_groups} clusters, k={self.k}, "
                f"{self.n_train} train crops)")


class IdentityLeakError(LeakageError):
    """The identity probe predicts real/fake above chance: the split still shares people."""

    def __init__(self, result: ProbeResult, part: str = "test") -> None:
        self.result = result
        self.column, self.parts, self.values = "descriptor", ("train", part), []
        FakescopeError.__init__(
            self, f"identity probe train -> {part} leaks: {result}; its whole CI lies above 0.5, "
                  f"so who-is-this descriptors alone predict the label")


def _described(desc: np.ndarray, *cols: np.ndarray) -> list[np.ndarray]:
    """Rows of `desc` (and the aligned `cols`) that have a descriptor (no NaN)."""
    desc = np.asarray(desc, dtype=np.float32)
    ok = ~np.isnan(desc).any(axis=1)
    return [desc[ok], *(np.asarray(c)[ok] for c in cols)]


def _auc_or_nan(y: np.ndarray, s: np.ndarray) -> dict[str, float]:
    from fakescope.evaluate.metrics import roc_auc

    return {"auc": roc_auc(y, s) if 0 < int(y.sum()) < y.size else float("nan")}


def identity_probe(
    train_desc: np.ndarray,
    train_labels: Sequence[int] | np.ndarray,
    test_desc: np.ndarray,
    test_labels: Sequence[int] | np.ndarray,
    test_groups: Sequence[object] | np.ndarray,
    k: int = PROBE_K,
    n_boot: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> ProbeResult:
    """ROC-AUC of a euclidean k-NN fitted on train descriptors → label (1 = FAKE), on test.

    The interval resamples whole `test_groups` (identity clusters): crops of one person move
    together, so a frame-level bootstrap would be far too narrow. Rows without a descriptor
    (NaN) are left out on both sides.
    """
    from sklearn.neighbors import KNeighborsClassifier

    from fakescope.evaluate.bootstrap import bootstrap_ci

    tr_x, tr_y = _described(train_desc, np.asarray(train_labels, dtype=np.int64))
    te_x, te_y, te_g = _described(test_desc, np.asarray(test_labels, dtype=np.int64),
                                  np.asarray(test_groups, dtype=object).astype(str))
    if not len(te_y):
        raise ValueError("identity_probe has no test crop with a descriptor to score")
    if set(np.unique(tr_y)) != {0, 1}:
        raise ValueError(f"identity_probe needs real and fake train crops, got {np.unique(tr_y)}")
    k_eff = min(k, len(tr_y))
    knn = KNeighborsClassifier(n_neighbors=k_eff, metric="euclidean").fit(tr_x, tr_y)
    scores = knn.predict_proba(te_x)[:, list(knn.classes_).index(1)]
    auc = _auc_or_nan(te_y, scores)["auc"]
    if np.isnan(auc):
        raise ValueError(f"identity_probe needs real and fake test crops ({len(te_y)} scored)")
    ci = bootstrap_ci(_auc_or_nan, te_y, scores, groups=te_g, n_bootstrap=n_boot, seed=seed,
                      confidence=confidence)["auc"]
    return ProbeResult(auc=float(auc), low=ci.low, high=ci.high, n_train=len(tr_y),
                       n_test=len(te_y), k=k_eff, n_groups=len(np.unique(te_g)),
                       confidence=confidence)


def check_probe(result: ProbeResult, part: str = "test") -> None:
    """Raise IdentityLeakError when the probe's interval lies wholly above 0.5."""
    if result.leaks:
        raise IdentityLeakError(result, part)


def purify_split(
    table: pd.DataFrame,
    descriptors: np.ndarray,
    threshold: float | None = DEFAULT_THRESHOLD,
    radius: float | None = None,
    link_cols: Sequence[str] = (),
    transitive: bool = False,
    split_col: str = "split",
    group_col: str = "group",
    held: Sequence[str] = ("val", "test"),
    train: str = "train",
    out_split: str = "excluded",
    clusters: np.ndarray | None = None,
) -> pd.DataFrame:
    """Copy of `table` where every `held` row that shares a person with train is `out_split`.

    `descriptors` (one row per table row, NaN where unknown) of ALL crops, real and fake, so
    the donor face of a fake counts too. A held row touches train when its average-linkage
    cluster at `threshold` (None: no clustering) or a `link_cols` value (e.g. the old
    ``identity``) also holds a train row, or, with `radius`, its nearest train crop is closer
    than `radius`; every held row of the source `group_col` of such a row goes with it (same
    video, same scene). With `transitive`, whole connected components of these links go
    instead: stricter, but a fake then also drags in every video of its target person
    because its donor face is in train. Train rows never change. ``purify_group`` is the
    component of each row within its own part (clusters for a bootstrap there).
    `clusters` (ids from `cluster_identities`, -1 = none) reuses a clustering across calls.
    """
    from sklearn.neighbors import NearestNeighbors

    from fakescope.data.splits import connected_keys

    desc = np.asarray(descriptors, dtype=np.float32)
    if desc.shape != (len(table), DESCRIPTOR_DIM):
        raise ValueError(f"descriptors must be ({len(table)}, {DESCRIPTOR_DIM}), got {desc.shape}")
    split = table[split_col].to_numpy()
    groups = table[group_col].to_numpy()
    is_train, is_held = split == train, np.isin(split, list(held))
    # identity keys of each row: its cluster and link values (not its source group)
    ident: list[list[tuple[str, object]]] = [[] for _ in range(len(table))]
    if clusters is None and threshold is not None:
        clusters = cluster_identities(desc, threshold)
    if clusters is not None:
        for keys, c in zip(ident, clusters):
            if c >= 0:
                keys.append(("c", int(c)))
    for col in link_cols:
        for keys, v in zip(ident, table[col]):
            if not pd.isna(v):
                keys.append((col, v))
    ok = ~np.isnan(desc).any(axis=1)
    if radius is not None and (ok & is_train).any() and (ok & is_held).any():
        tr, he = np.flatnonzero(ok & is_train), np.flatnonzero(ok & is_held)
        dist, nn = NearestNeighbors(n_neighbors=1).fit(desc[tr]).kneighbors(desc[he])
        near = dist[:, 0] < radius
        for i, j in zip(he[near], nn[near, 0]):
            ident[i].append(("g", groups[tr[j]]))  # joins that train crop's source group
    nodes = [[("g", g), *keys] for g, keys in zip(groups, ident)]
    if transitive:
        comp = np.array([str(k) for k in connected_keys(nodes)], dtype=object)
        bad = is_held & np.isin(comp, list(set(comp[is_train])))
    else:
        train_keys = {k for keys, t in zip(nodes, is_train) if t for k in keys}
        hit = is_held & np.array([any(k in train_keys for k in keys) for keys in nodes])
        bad = is_held & pd.Series(groups).isin(set(groups[hit])).to_numpy()
    out = table.copy()
    out[split_col] = np.where(bad, out_split, split)
    out["purify_group"] = _part_components(nodes, out[split_col].to_numpy())
    return out


def _part_components(
    nodes: Sequence[Sequence[tuple[str, object]]], split: np.ndarray
) -> np.ndarray:
    """Connected component of each row over the links among rows of its own part."""
    from fakescope.data.splits import connected_keys

    out = np.empty(len(nodes), dtype=object)
    for part in pd.unique(split):
        idx = np.flatnonzero(split == part)
        keys = connected_keys([nodes[i] for i in idx])
        out[idx] = [f"{part}:{k[1]}" for k in keys]
    return out


def main(argv: Sequence[str] | None = None) -> int:
    from fakescope.data.public_layouts import read_crop_csv
    from fakescope.data.splits import merge_groups

    ap = argparse.ArgumentParser(prog="python -m fakescope.data.identity", description=__doc__.split("\n")[0])
    ap.add_argument("--csv", required=True, help="crop CSV (DFDC metadata.csv or path,label[,group])")
    ap.add_argument("--images", default=None, help="folder of crops (default: the CSV's folder)")
    ap.add_argument("--out", required=True, help="output parquet: path, video, label, group, identity, split_group")
    ap.add_argument("--cache", default=None, help="descriptor cache (default: <out>.descriptors.parquet)")
    ap.add_argument("--n-jobs", type=int, default=1)
    ap.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD)
    ap.add_argument("--rect", choices=("fixed", "detect"), default="fixed")
    ap.add_argument("--limit", type=int, default=None, help="only the first N rows (trial runs)")
    ap.add_argument("--per-group", action="store_true",
                    help="describe one crop per source group (the REAL one) and share its identity")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    out = Path(args.out)
    cache = Path(args.cache) if args.cache else out.with_name(out.stem + ".descriptors.parquet")
    df = read_crop_csv(args.csv, args.images)
    if args.limit is not None:
        df = df.head(args.limit)
    t0 = time.monotonic()
    df = assign_identities(df, cache_path=cache, n_jobs=args.n_jobs, threshold=args.threshold,
                           rect=args.rect, progress=True, per_group=args.per_group)
    df = merge_groups(df, "identity")  # split_group: source groups joined with identities
    keep = [c for c in ("path", "video", "label", "group", "identity", "split_group") if c in df.columns]
    buf = io.BytesIO()
    df[keep].to_parquet(buf, index=False)
    atomic_write_bytes(out, buf.getvalue())
    sizes = df["identity"].value_counts()
    merged = df["split_group"].value_counts()
    print(f"{len(df)} crops, {len(sizes)} identities (largest {sizes.max()} crops), "
          f"{int(df['identity'].isna().sum())} without descriptor; {df['group'].nunique()} source "
          f"groups merge into {len(merged)} split groups (largest {merged.max()} crops); "
          f"{time.monotonic() - t0:.1f}s -> {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
