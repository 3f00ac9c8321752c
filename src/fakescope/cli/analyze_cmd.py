"""`fakescope analyze` — embeddings of a crop set through a detector's penultimate layer,
reduced (PCA + t-SNE / UMAP) and clustered (HDBSCAN), with plots, galleries and purity."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from fakescope.errors import FakescopeError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "analyze", help="cluster a detector's embeddings of a crop set",
        description="Embed every crop of a table (CSV/parquet: path,label[,group][,split]) with "
        "a detector's penultimate layer, reduce (standardise → PCA → t-SNE, UMAP or PCA only), "
        "cluster with HDBSCAN, and write embedding.parquet, scatter plots by label and by "
        "cluster, per-cluster face galleries, summary.json (purity against the labels) and "
        "report.md (seed 001 §3.3).",
    )
    p.add_argument("--data", type=Path, required=True, help="item table (CSV or parquet)")
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument("--detector", help="registered family (default: the bundle's, else the "
                   "default detector)")
    p.add_argument("--weights", type=Path, help="detector bundle (default: the packaged one)")
    p.add_argument("--split", help="rows of this split only (default: all rows)")
    p.add_argument("--image-root", type=Path,
                   help="folder relative crop paths are resolved against (default: the table's)")
    p.add_argument("--max-items", type=int, default=3000,
                   help="analyse at most this many rows, stratified by label (t-SNE is "
                        "quadratic-ish; default %(default)s)")
    p.add_argument("--method", default="tsne", choices=("tsne", "umap", "pca"))
    p.add_argument("--pca", type=int, default=50, help="PCA components before t-SNE/UMAP")
    p.add_argument("--dims", type=int, default=3, help="output dimensions (2 or 3)")
    p.add_argument("--perplexity", type=float, default=30.0)
    p.add_argument("--min-cluster-size", type=int, default=10)
    p.add_argument("--cluster-on", default="pca", choices=("pca", "reduced"),
                   help="HDBSCAN on the PCA coordinates (default) or on the t-SNE/UMAP output "
                        "(the seed's order; t-SNE distorts densities)")
    p.add_argument("--galleries", type=int, default=8, help="galleries of the N largest clusters")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", help="cpu, cuda or auto")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        return _run(args)
    except (FakescopeError, ValueError) as exc:
        print(f"fakescope analyze: {exc}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace) -> int:
    from fakescope.analysis.embeddings import AnalyzeConfig
    from fakescope.analysis.run import analyze
    from fakescope.detectors import create_detector
    from fakescope.evaluate.predict import read_item_table, select_split

    items = read_item_table(args.data, args.image_root)
    if args.split:
        items = select_split(items, args.split, args.data)
    if args.max_items and len(items) > args.max_items:
        from sklearn.model_selection import train_test_split

        items, _ = train_test_split(items, train_size=args.max_items, random_state=args.seed,
                                    stratify=items["label"] if items["label"].nunique() > 1 else None)
    detector = create_detector(args.detector, weights=args.weights, device=args.device,
                               runtime="torch")
    config = AnalyzeConfig(method=args.method, pca_components=args.pca, out_dims=args.dims,
                           perplexity=args.perplexity, min_cluster_size=args.min_cluster_size,
                           cluster_on=args.cluster_on, seed=args.seed)
    s = analyze(detector, items.reset_index(drop=True), args.out, config, galleries=args.galleries)
    print(f"{s.n} crops → {s.n_clusters} clusters, noise {100 * s.noise_share:.1f} %, purity "
          f"{s.purity:.3f}; wrote {args.out}/report.md")
    return 0
