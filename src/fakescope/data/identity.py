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
from pathlib import Path

import numpy as np
import pandas as pd

from fakescope.errors import MediaError, WeightsError
from fakescope.output.atomic import atomic_write_bytes

log = logging.getLogger(__name__)

DESCRIPTOR_DIM = 128
# dlib's HOG detector on the shared 224x224 DFDC crops returns a median box of
# (18, 15, 209, 209): the face rectangle is the crop inset by about 7 % on each side. Using
# that fixed rectangle is deterministic, faster, and works on the ~15 % of crops where the
# detector finds nothing (measured on 200 random crops).
DEFAULT_INSET = 0.07
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
    """dlib 5-point landmarks + face-recognition ResNet → one 128-d descriptor per crop.

    ``rect="fixed"`` uses the crop inset by `inset` as the face rectangle (crops are already
    face-centred); ``rect="detect"`` runs dlib's HOG detector first and falls back to the fixed
    rectangle when it finds no face.
    """

    def __init__(self, rect: str = "fixed", inset: float = DEFAULT_INSET) -> None:
        import dlib

        if rect not in ("fixed", "detect"):
            raise ValueError(f"rect must be 'fixed' or 'detect', got {rect!r}")
        d = models_dir()
        files = [d / "shape_predictor_5_face_landmarks.dat", d / "dlib_face_recognition_resnet_model_v1.dat"]
        for f in files:
            if not f.is_file():
                raise WeightsError(f"dlib model file missing: {f}")
        self._dlib = dlib
        self.shape_predictor = dlib.shape_predictor(str(files[0]))
        self.encoder = dlib.face_recognition_model_v1(str(files[1]))
        self.detector = dlib.get_frontal_face_detector() if rect == "detect" else None
        self.inset = inset

    def describe(self, img: np.ndarray) -> np.ndarray:
        """Descriptor (128,) float32 of an HxWx3 uint8 RGB face crop."""
        h, w = img.shape[:2]
        dx, dy = int(round(w * self.inset)), int(round(h * self.inset))
        rect = self._dlib.rectangle(dx, dy, w - 1 - dx, h - 1 - dy)
        if self.detector is not None:
            found = self.detector(img, 0)
            if len(found):
                rect = max(found, key=lambda r: r.area())
        shape = self.shape_predictor(img, rect)
        return np.asarray(self.encoder.compute_face_descriptor(img, shape), dtype=np.float32)


_WORKER: FaceDescriber | None = None


def _init_worker(rect: str, inset: float) -> None:
    global _WORKER
    _WORKER = FaceDescriber(rect, inset)


def _describe_chunk(paths: Sequence[str]) -> tuple[np.ndarray, list[str]]:
    from fakescope.data.datasets import read_image_rgb

    assert _WORKER is not None
    out = np.full((len(paths), DESCRIPTOR_DIM), np.nan, dtype=np.float32)
    errors = []
    for i, p in enumerate(paths):
        try:
            out[i] = _WORKER.describe(read_image_rgb(p))
            errors.append("")
        except (MediaError, RuntimeError) as e:  # dlib raises RuntimeError on bad input
            errors.append(str(e))
    return out, errors


def _load_cache(cache_path: Path | None) -> dict[str, tuple[np.ndarray, str]]:
    if cache_path is None or not cache_path.exists():
        return {}
    df = pd.read_parquet(cache_path)
    vecs = np.stack(df["descriptor"].to_numpy()).astype(np.float32) if len(df) else np.zeros((0, DESCRIPTOR_DIM))
    return {p: (v, e) for p, v, e in zip(df["path"], vecs, df["error"])}


def _save_cache(cache_path: Path, done: dict[str, tuple[np.ndarray, str]]) -> None:
    df = pd.DataFrame(
        {
            "path": list(done),
            "descriptor": [v.tolist() for v, _ in done.values()],
            "error": [e for _, e in done.values()],
        }
    )
    buf = io.BytesIO()
    df.to_parquet(buf, index=False)
    atomic_write_bytes(cache_path, buf.getvalue())


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
            for chunk, (vecs, errors) in zip(chunks, results):
                for p, v, e in zip(chunk, vecs, errors):
                    done[p] = (v, e)
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
