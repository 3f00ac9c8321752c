"""One embedding analysis, written to a folder (what `fakescope analyze` runs):

``embedding.parquet`` (path, label, group, score, x, y[, z], cluster), ``features.npy`` (the
raw penultimate features, for other tools), ``scatter_label.png``, ``scatter_cluster.png``,
``clusters/cluster_<id>.png`` (a gallery of up to `gallery_size` faces of each of the largest
clusters), ``summary.json`` and ``report.md``. Files are written atomically; a re-run replaces
them.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pandas as pd

from fakescope.analysis import embeddings as emb
from fakescope.analysis import figures
from fakescope.detectors.base import Detector
from fakescope.output.atomic import atomic_write_bytes, atomic_write_text


def analyze(detector: Detector, items: pd.DataFrame, out_dir: str | Path,
            config: emb.AnalyzeConfig = emb.AnalyzeConfig(), galleries: int = 8,
            gallery_size: int = 24, batch_size: int = 64) -> emb.ClusterSummary:
    out = Path(out_dir)
    (out / "clusters").mkdir(parents=True, exist_ok=True)
    features, ok = emb.embed_items(detector, items, batch_size=batch_size)
    table = items.loc[ok, ["path", "label"] + [c for c in ("group",) if c in items]].copy()
    table = table.reset_index(drop=True)
    feats = features[ok]
    if len(table) < max(5, config.min_cluster_size):
        raise ValueError(f"only {len(table)} readable crops: too few to analyse")
    table["score"] = _scores(detector, table, batch_size)
    pca, coords = emb.project(feats, config)
    clusters = emb.cluster(pca if config.cluster_on == "pca" else coords, config.min_cluster_size)
    for k, axis in enumerate("xyz"[: coords.shape[1]]):
        table[axis] = coords[:, k]
    table["cluster"] = clusters
    labels = table["label"].to_numpy(int)
    summary = emb.summarise(labels, clusters)

    buf = io.BytesIO()
    table.to_parquet(buf, index=False)
    atomic_write_bytes(out / "embedding.parquet", buf.getvalue())
    buf = io.BytesIO()
    np.save(buf, feats)
    atomic_write_bytes(out / "features.npy", buf.getvalue())
    title = f"{detector.info.name} features, {config.method}"
    atomic_write_bytes(out / "scatter_label.png", figures.scatter_by_label(coords, labels, title))
    atomic_write_bytes(out / "scatter_cluster.png",
                       figures.scatter_by_cluster(coords, clusters, title))
    shown = sorted(summary.clusters, key=lambda c: -c["size"])[:galleries]
    for c in shown:
        atomic_write_bytes(out / "clusters" / f"cluster_{c['id']}.png",
                           _gallery(table[table["cluster"] == c["id"]], c, gallery_size, config.seed))
    meta = {"detector": {"name": detector.info.name, "version": detector.info.version,
                         "weights_sha256": detector.info.weights_sha256},
            "config": config.__dict__, "unreadable": int((~ok).sum()),
            **summary.to_dict()}
    atomic_write_text(out / "summary.json", json.dumps(meta, indent=2) + "\n")
    atomic_write_text(out / "report.md", _report(meta, shown))
    return summary


def _scores(detector: Detector, table: pd.DataFrame, batch_size: int) -> np.ndarray:
    from fakescope.evaluate.predict import predict_items

    return predict_items(detector, table, batch_size=batch_size)["score"].to_numpy()


def _gallery(members: pd.DataFrame, c: dict, size: int, seed: int) -> bytes:
    from fakescope.data.datasets import read_image_rgb, resize_square

    pick = members.sample(n=min(size, len(members)), random_state=seed)
    thumbs = [resize_square(read_image_rgb(p), 96) for p in pick["path"]]
    caps = [f"{'FAKE' if lab else 'REAL'} {s:.2f}" for lab, s in zip(pick["label"], pick["score"])]
    title = (f"cluster {c['id']}: {c['size']} faces, {100 * c['fake_share']:.0f} % fake "
             f"(sample of {len(pick)}; caption: label, fake probability)")
    return figures.gallery(thumbs, caps, title)


def _report(meta: dict, shown: list[dict]) -> str:
    auc = meta["label_auc_of_cluster_share"]
    lines = [
        f"# Embedding analysis: {meta['detector']['name']} "
        f"(weights {meta['detector']['weights_sha256'][:12]})", "",
        f"- crops: {meta['n']} analysed, {meta['unreadable']} unreadable",
        f"- reduction: standardise → PCA({meta['config']['pca_components']}) → "
        f"{meta['config']['method']}({meta['config']['out_dims']}); HDBSCAN (min cluster size "
        f"{meta['config']['min_cluster_size']}) on the "
        f"{'PCA' if meta['config']['cluster_on'] == 'pca' else meta['config']['method']} "
        "coordinates",
        f"- clusters: {meta['n_clusters']}; noise {100 * meta['noise_share']:.1f} % of the crops",
        f"- purity (clustered crops whose cluster's majority label is theirs): {meta['purity']:.3f}",
        "- AUC of the cluster's fake share as a score: "
        + (f"{auc:.3f}" if auc is not None else "n/a (one class)"), "",
        "![by label](scatter_label.png) ![by cluster](scatter_cluster.png)", "",
        "| cluster | size | fake share | majority | gallery |", "|---|---|---|---|---|",
    ]
    for c in shown:
        lines.append(f"| {c['id']} | {c['size']} | {c['fake_share']:.2f} | {c['majority']} | "
                     f"[cluster_{c['id']}.png](clusters/cluster_{c['id']}.png) |")
    return "\n".join(lines) + "\n"
