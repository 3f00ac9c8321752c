"""Seed 000's per-channel study (Fig. 5): one classifier per W+ channel of StyleGAN codes,
trained and tested under the same conditions as the full-code one; accuracy per channel."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from fakescope.families.latentforensics.classifiers import make_classifier


def per_channel_accuracy(codes: np.ndarray, labels: np.ndarray, is_train: np.ndarray,
                         is_test: np.ndarray, classifiers: Sequence[str] = ("rf", "mlp5"),
                         threshold: float = 0.5, max_iter: int = 100, seed: int = 0
                         ) -> dict[str, list[float]]:
    """codes (N, channels, w_dim) → per classifier, test accuracy of each channel alone
    (fake iff probability >= `threshold`)."""
    codes = np.asarray(codes)
    if codes.ndim != 3:
        raise ValueError(f"expected W+ codes (N, channels, w_dim), got shape {codes.shape}")
    y = np.asarray(labels)
    out: dict[str, list[float]] = {}
    for name in classifiers:
        accs = []
        for c in range(codes.shape[1]):
            model = make_classifier(name, seed=seed, max_iter=max_iter).fit(codes[is_train, c], y[is_train])
            p = model.predict_proba(codes[is_test, c])[:, list(model.classes_).index(1)]
            accs.append(float(np.mean((p >= threshold) == (y[is_test] == 1))))
        out[name] = accs
    return out


def plot_per_channel(result: dict[str, list[float]], path: str | Path, title: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.2))
    for name, accs in result.items():
        ax.plot(range(len(accs)), accs, marker="o", label=name.upper())
    ax.set_xlabel("W+ channel")
    ax.set_ylabel("test accuracy")
    ax.set_title(title, fontsize=9)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return Path(path)
