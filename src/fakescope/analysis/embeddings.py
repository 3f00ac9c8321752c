"""Embedding analysis (seed 001 §3.3): a detector's penultimate-layer features of a crop set →
PCA(50) → t-SNE(3) (or UMAP, or PCA alone) for the pictures, HDBSCAN clusters, with cluster
purity against the labels. Why: it shows whether a model's features separate fakes from reals at all, and what
else they separate (people, recording conditions) — a model whose clusters follow identities
rather than labels has learnt who is in the data.

Where HDBSCAN runs: by default on the PCA coordinates, not on the t-SNE output as the seed
does. Measured here (tests/test_analyze.py's three well-separated Gaussian groups):
scikit-learn's 3-D t-SNE scatters each group over the space (largest within-group distance
~280 against ~40 between groups; 2-D t-SNE: 2.5 against 22), and HDBSCAN on it put points of
different groups in one cluster; t-SNE preserves neighbourhoods, not densities or distances.
``cluster_on="reduced"`` gives the seed's order.

The numeric parts are scikit-learn's (`PCA`, `TSNE`, `HDBSCAN`; `umap-learn` when installed and
asked for); this module only chains them, seeded, and measures the result.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from fakescope.detectors.base import Detector

METHODS = ("tsne", "umap", "pca")


@dataclass(frozen=True)
class AnalyzeConfig:
    """Seed 001: PCA to 50 dimensions first (speed), then t-SNE to 3, then HDBSCAN."""

    method: str = "tsne"
    pca_components: int = 50
    out_dims: int = 3
    perplexity: float = 30.0  # the seed uses 50 on ~100k points; capped below n/3 here
    min_cluster_size: int = 10
    cluster_on: str = "pca"  # "pca": HDBSCAN on the PCA coordinates; "reduced": on t-SNE/UMAP's
    seed: int = 0

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {self.method!r}")
        if self.out_dims < 2 or self.pca_components < self.out_dims:
            raise ValueError("need out_dims >= 2 and pca_components >= out_dims")
        if self.min_cluster_size < 2:
            raise ValueError("min_cluster_size must be >= 2")
        if self.cluster_on not in ("pca", "reduced"):
            raise ValueError(f"cluster_on must be 'pca' or 'reduced', got {self.cluster_on!r}")


@dataclass
class ClusterSummary:
    """What the clustering found and how well it follows the labels."""

    n: int
    n_clusters: int
    noise_share: float  # HDBSCAN's label -1: points in no dense region
    purity: float  # share of clustered points whose cluster's majority label is theirs
    label_auc_of_cluster_share: float | None  # AUC of "fake share of my cluster" as a score
    clusters: list[dict] = field(default_factory=list)  # id, size, fake share, majority label

    def to_dict(self) -> dict:
        return asdict(self)


def embed_items(detector: Detector, items: pd.DataFrame, batch_size: int = 64,
                on_batch: Callable[[int], None] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(features (N, D), readable mask (N,)) of the crops in `items` (``path`` column), read at
    the detector's input size; unreadable crops get NaN rows and False."""
    from fakescope.data.datasets import read_image_rgb, resize_square
    from fakescope.errors import MediaError

    size = detector.requirements.input_size
    paths = items["path"].astype(str).tolist()
    feats: list[np.ndarray | None] = [None] * len(paths)
    for start in range(0, len(paths), batch_size):
        batch, where = [], []
        for i in range(start, min(start + batch_size, len(paths))):
            try:
                batch.append(resize_square(read_image_rgb(paths[i]), size))
                where.append(i)
            except MediaError:
                continue
        if batch:
            out = detector.embed_crops(np.stack(batch))
            if out is None:
                raise ValueError(f"detector {detector.info.name!r} has no embedding layer")
            for i, row in zip(where, out):
                feats[i] = row
        if on_batch is not None:
            on_batch(min(batch_size, len(paths) - start))
    ok = np.array([f is not None for f in feats])
    if not ok.any():
        raise ValueError("no crop of the set could be read")
    dim = next(f for f in feats if f is not None).shape[0]
    arr = np.full((len(paths), dim), np.nan, dtype=np.float32)
    arr[ok] = np.stack([f for f in feats if f is not None])
    return arr, ok


def project(features: np.ndarray, config: AnalyzeConfig = AnalyzeConfig()
            ) -> tuple[np.ndarray, np.ndarray]:
    """(PCA coordinates (N, pca_components), picture coordinates (N, out_dims))."""
    pca = _pca(features, config)
    return pca, _reduce_pca(pca, config)


def reduce(features: np.ndarray, config: AnalyzeConfig = AnalyzeConfig()) -> np.ndarray:
    """(N, out_dims) coordinates: standardised features → PCA → t-SNE / UMAP (or PCA only)."""
    return _reduce_pca(_pca(features, config), config)


def _pca(features: np.ndarray, config: AnalyzeConfig) -> np.ndarray:
    from sklearn.decomposition import PCA
    from sklearn.preprocessing import StandardScaler

    x = StandardScaler().fit_transform(np.asarray(features, dtype=np.float64))
    n = len(x)
    k = min(config.pca_components, x.shape[1], n)
    return PCA(n_components=k, random_state=config.seed).fit_transform(x)


def _reduce_pca(x: np.ndarray, config: AnalyzeConfig) -> np.ndarray:
    n = len(x)
    if config.method == "pca":
        return x[:, : config.out_dims].astype(np.float32)
    if config.method == "umap":
        try:
            import umap
        except ImportError as exc:
            raise ValueError("method 'umap' needs umap-learn (pip install umap-learn)") from exc
        return umap.UMAP(n_components=config.out_dims, random_state=config.seed).fit_transform(x)
    from sklearn.manifold import TSNE

    perplexity = min(config.perplexity, max(2.0, (n - 1) / 3))
    return TSNE(n_components=config.out_dims, perplexity=perplexity, init="pca",
                random_state=config.seed,
                method="barnes_hut" if config.out_dims <= 3 else "exact").fit_transform(x)


def cluster(coords: np.ndarray, min_cluster_size: int = 10) -> np.ndarray:
    """HDBSCAN cluster id per point; -1 = noise."""
    from sklearn.cluster import HDBSCAN

    return HDBSCAN(min_cluster_size=min_cluster_size, copy=True).fit_predict(np.asarray(coords))


def summarise(labels: np.ndarray, clusters: np.ndarray) -> ClusterSummary:
    """Purity and per-cluster make-up; labels 1 = fake, 0 = real."""
    from fakescope.evaluate.metrics import roc_auc

    labels, clusters = np.asarray(labels, dtype=int), np.asarray(clusters, dtype=int)
    rows, agree = [], 0
    share_of_mine = np.full(len(labels), np.nan)
    for c in sorted(set(clusters.tolist()) - {-1}):
        member = clusters == c
        fake = float(labels[member].mean())
        majority = int(fake >= 0.5)
        agree += int((labels[member] == majority).sum())
        share_of_mine[member] = fake
        rows.append({"id": int(c), "size": int(member.sum()), "fake_share": fake,
                     "majority": "FAKE" if majority else "REAL"})
    clustered = clusters != -1
    auc = None
    if clustered.any() and len(set(labels[clustered].tolist())) == 2:
        auc = float(roc_auc(labels[clustered], share_of_mine[clustered]))
    return ClusterSummary(
        n=len(labels), n_clusters=len(rows), noise_share=float((~clustered).mean()),
        purity=float(agree / clustered.sum()) if clustered.any() else float("nan"),
        label_auc_of_cluster_share=auc, clusters=rows)
