"""Pictures that explain a scan: a face crop with the network's attention laid over it
(seed 002 §4.3, Fig. 5), and the per-frame score timeline of a video.

The attention map is a coarse grid (16×16 for a 64-px FakeBuster input) of how much attention
each position receives; it is min-max normalised per crop — it shows *where* the network looked,
relative to the rest of that face, not an absolute amount. Images are HxWx3 uint8 RGB, as
everywhere in fakescope; files are written atomically.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from fakescope.output.atomic import atomic_write_bytes


def normalise_map(attention_map: np.ndarray) -> np.ndarray:
    """(h, w) float → [0, 1] by min-max; a constant map becomes all zeros."""
    a = np.asarray(attention_map, dtype=np.float32)
    if a.ndim != 2:
        raise ValueError(f"attention map must be 2-D (h, w), got shape {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ValueError("attention map contains NaN or inf")
    lo, hi = float(a.min()), float(a.max())
    return (a - lo) / (hi - lo) if hi > lo else np.zeros_like(a)


def attention_heatmap(attention_map: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The map upsampled (bicubic) to `size` = (height, width) and coloured with JET, RGB uint8."""
    h, w = size
    a = cv2.resize(normalise_map(attention_map), (w, h), interpolation=cv2.INTER_CUBIC)
    a8 = np.clip(a * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return cv2.cvtColor(cv2.applyColorMap(a8, cv2.COLORMAP_JET), cv2.COLOR_BGR2RGB)


MIN_DISPLAY_SIDE = 224  # overlays smaller than this are hard for a person to read


def display_crop(face_crop: np.ndarray, min_side: int = MIN_DISPLAY_SIDE) -> np.ndarray:
    """The crop enlarged (bicubic) so its shorter side is at least `min_side`: the size its
    overlay is shown at, so the two can sit side by side."""
    crop = np.asarray(face_crop)
    if crop.dtype != np.uint8 or crop.ndim != 3 or crop.shape[2] != 3:
        raise ValueError(f"face crop must be HxWx3 uint8, got {crop.dtype} {crop.shape}")
    short = min(crop.shape[:2])
    if short < min_side:
        f = min_side / short
        crop = cv2.resize(crop, (round(crop.shape[1] * f), round(crop.shape[0] * f)),
                          interpolation=cv2.INTER_CUBIC)
    return crop


def attention_overlay(face_crop: np.ndarray, attention_map: np.ndarray,
                      alpha: float = 0.45, min_side: int = MIN_DISPLAY_SIDE) -> np.ndarray:
    """Blend the JET-coloured map over the crop: ``(1 - alpha) * crop + alpha * heat``.
    Red = most attended, blue = least. Returns HxWx3 uint8 RGB, the crop's size, enlarged
    (bicubic) so its shorter side is at least `min_side`."""
    crop = display_crop(face_crop, min_side)
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    heat = attention_heatmap(attention_map, crop.shape[:2])
    return cv2.addWeighted(crop, 1.0 - alpha, heat, alpha, 0.0)


def encode_png(image: np.ndarray) -> bytes:
    """RGB uint8 → PNG bytes."""
    ok, buf = cv2.imencode(".png", cv2.cvtColor(np.asarray(image), cv2.COLOR_RGB2BGR))
    if not ok:
        raise ValueError(f"could not encode image of shape {np.shape(image)} as PNG")
    return buf.tobytes()


def save_image(path: str | Path, image: np.ndarray) -> Path:
    """Write an RGB uint8 image as PNG, atomically."""
    path = Path(path)
    atomic_write_bytes(path, encode_png(image))
    return path


def save_overlays(folder: str | Path, crops: Sequence[np.ndarray] | np.ndarray,
                  maps: Sequence[np.ndarray] | np.ndarray, stem: str = "face",
                  alpha: float = 0.45) -> list[Path]:
    """One ``{stem}_{i:04d}.png`` overlay per (crop, map) pair under `folder`."""
    if len(crops) != len(maps):
        raise ValueError(f"{len(crops)} crops but {len(maps)} attention maps")
    folder = Path(folder)
    return [save_image(folder / f"{stem}_{i:04d}.png", attention_overlay(c, m, alpha))
            for i, (c, m) in enumerate(zip(crops, maps))]


def timeline_figure(times: Sequence[float], scores: Sequence[float], threshold: float,
                    title: str | None = None) -> bytes:
    """PNG of fake probability against time with the decision threshold; points above it red.
    Drawn on matplotlib's Agg canvas directly (no pyplot state, no display)."""
    t = np.asarray(times, dtype=float)
    s = np.asarray(scores, dtype=float)
    if t.shape != s.shape or t.ndim != 1:
        raise ValueError(f"times and scores must be 1-D of equal length, got {t.shape}, {s.shape}")
    fig = Figure(figsize=(7.0, 2.6))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    ax.plot(t, s, color="0.35", linewidth=1.2, zorder=1)
    above = s >= threshold
    ax.scatter(t[~above], s[~above], s=14, color="tab:blue", label="below threshold", zorder=2)
    ax.scatter(t[above], s[above], s=14, color="tab:red", label="fake (≥ threshold)", zorder=2)
    ax.axhline(threshold, color="tab:red", linestyle="--", linewidth=1.0,
               label=f"threshold {threshold:.2f}")
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("fake probability")
    if title:
        ax.set_title(title, fontsize=9)
    ax.legend(loc="upper right", fontsize=7, frameon=False)
    ax.grid(alpha=0.3)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    return buf.getvalue()


def timeline_plot(times: Sequence[float], scores: Sequence[float], threshold: float,
                  path: str | Path, title: str | None = None) -> Path:
    """Write `timeline_figure` to `path` (PNG), atomically."""
    path = Path(path)
    atomic_write_bytes(path, timeline_figure(times, scores, threshold, title))
    return path
