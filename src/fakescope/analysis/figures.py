"""Figures of an embedding analysis as PNG bytes: scatter plots of the reduced coordinates
(coloured by label and by cluster, as seed 001 Figs. 3.8–3.12) and per-cluster galleries of
face thumbnails (Figs. 3.13–3.16). Drawn on matplotlib's Agg canvas, never through pyplot."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from fakescope.evaluate.plots import _png

_LABEL_COLOURS = {0: "#1f77b4", 1: "#d62728"}


def scatter_by_label(coords: np.ndarray, labels: np.ndarray, title: str) -> bytes:
    """3-D scatter (2-D when the coordinates have two columns): REAL blue, FAKE red."""
    fig, ax = _axes(coords)
    for value, name in ((0, "REAL"), (1, "FAKE")):
        pts = coords[labels == value]
        ax.scatter(*pts.T, s=6, c=_LABEL_COLOURS[value], label=f"{name} ({len(pts)})",
                   alpha=0.7, linewidths=0)
    ax.legend(loc="upper right", markerscale=3)
    ax.set_title(title)
    return _png(fig)


def scatter_by_cluster(coords: np.ndarray, clusters: np.ndarray, title: str) -> bytes:
    """Clusters in a cyclic palette; HDBSCAN's noise (-1) in light grey."""
    from matplotlib import colormaps

    fig, ax = _axes(coords)
    palette = colormaps["tab20"]
    noise = clusters == -1
    if noise.any():
        ax.scatter(*coords[noise].T, s=4, c="#cccccc", label=f"noise ({int(noise.sum())})",
                   linewidths=0)
    for k, c in enumerate(sorted(set(clusters.tolist()) - {-1})):
        ax.scatter(*coords[clusters == c].T, s=6, color=palette(k % 20), linewidths=0)
    n = len(set(clusters.tolist()) - {-1})
    ax.set_title(f"{title} — {n} clusters")
    if noise.any():
        ax.legend(loc="upper right", markerscale=3)
    return _png(fig)


def gallery(thumbs: list[np.ndarray], captions: list[str], title: str, columns: int = 8) -> bytes:
    """A grid of uint8 RGB thumbnails with one caption each (e.g. the label and score)."""
    rows = max(1, -(-len(thumbs) // columns))
    fig = Figure(figsize=(columns * 1.3, rows * 1.45 + 0.4), layout="constrained")
    axes = np.atleast_1d(fig.subplots(rows, columns)).ravel()
    for ax in axes:
        ax.axis("off")
    for ax, img, cap in zip(axes, thumbs, captions):
        ax.imshow(img)
        ax.set_title(cap, fontsize=7)
    fig.suptitle(title, fontsize=10)
    return _png(fig)


def _axes(coords: np.ndarray):
    fig = Figure(figsize=(6.4, 5.6), layout="constrained")
    if coords.shape[1] >= 3:
        ax = fig.add_subplot(projection="3d")
    else:
        ax = fig.add_subplot()
    return fig, ax
