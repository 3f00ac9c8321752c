"""Seed 004 §5 plots from a stylecontent training run (scripts/stylecontent_train.py):

    python scripts/stylecontent_plots.py --run runs/stylecontent --out docs/images

- ``stylecontent_confusion.png``: confusion matrix of the held-aside test videos at the
  bundle's threshold (chosen on validation files);
- ``stylecontent_style_patterns.png``: temporal style patterns — the per-frame style vectors
  of real and fake clips projected on their first two principal components (PCA fitted on
  every plotted frame), over the 16 frames of a clip, and the frame-to-frame style change
  ‖s_t − s_{t−1}‖;
- ``stylecontent_decision_boundary.png``: the fused features (the class token before the
  classifier) of test and validation clips, PCA to 2-D, with a logistic regression fitted on
  those 2-D points and its decision boundary (as the seed's figure);
- ``stylecontent_training.png``: loss, accuracy and learning rate per epoch.

Features come from the run's feature cache (nothing is re-extracted when it is valid).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402

KINDS = {("real", 0): "real video", ("fake", 1): "fake video (DFDC)", ("blend", 1): "self-blend"}
COLOURS = {"real video": "tab:blue", "fake video (DFDC)": "tab:red", "self-blend": "tab:orange"}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--run", type=Path, required=True)
    ap.add_argument("--out", type=Path, default=Path("docs/images"))
    ap.add_argument("--prefix", default="stylecontent")
    args = ap.parse_args()
    torch.set_num_threads(1)

    from sklearn.decomposition import PCA
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import ConfusionMatrixDisplay, confusion_matrix

    from fakescope.detectors.bundle import build_model, load_bundle
    from fakescope.families.stylecontent.train import StyleContentConfig, build_features, clip_table

    args.out.mkdir(parents=True, exist_ok=True)
    bundle = load_bundle(args.run / "detector.pt")
    model = build_model(bundle).eval()
    cfg = StyleContentConfig.load(args.run / "config.yaml")  # the run's own settings
    saved = pd.read_csv(args.run / "clip_scores.csv")
    clips = clip_table(cfg, pd.read_csv(cfg.table))
    feats, cache = build_features(cfg, model, clips)
    clips = clips[feats["keep"].numpy()].reset_index(drop=True)
    print(f"features: reused {cache.stats.reused}, computed {cache.stats.computed}")
    assert list(clips["unit"]) == list(saved["unit"]), "the run's clips differ from the table's"
    kind = [KINDS[("blend" if b >= 0 else ("fake" if y else "real"), y)]
            for b, y in zip(clips["blend"], clips["label"])]
    clips = clips.assign(kind=kind, score=saved["score"].to_numpy())
    thr = bundle.meta.threshold

    # confusion matrix on test videos
    videos = pd.read_csv(args.run / "test_videos.csv")
    pred = (videos["score"] >= thr).astype(int)
    cm = confusion_matrix(videos["label"], pred, labels=[0, 1])
    fig, ax = plt.subplots(figsize=(4.2, 3.8))
    ConfusionMatrixDisplay(cm, display_labels=["real", "fake"]).plot(ax=ax, colorbar=False, cmap="Blues")
    ax.set_title(f"test videos ({len(videos)}), threshold {thr:.3f}", fontsize=9)
    fig.tight_layout()
    fig.savefig(args.out / f"{args.prefix}_confusion.png", dpi=130)
    plt.close(fig)

    # temporal style patterns
    mask = clips["split"].isin(["test", "val"]).to_numpy()
    style = feats["style"][torch.from_numpy(mask)].numpy()  # (n, F, 512)
    sub = clips[mask].reset_index(drop=True)
    n, f, d = style.shape
    pca = PCA(2, random_state=0).fit(style.reshape(-1, d))
    proj = pca.transform(style.reshape(-1, d)).reshape(n, f, 2)
    flow = np.linalg.norm(np.diff(style, axis=1), axis=2)  # (n, F-1)
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    t = np.arange(f)
    for name, colour in COLOURS.items():
        sel = (sub["kind"] == name).to_numpy()
        if not sel.any():
            continue
        for j in range(2):
            m, s = proj[sel, :, j].mean(0), proj[sel, :, j].std(0)
            axes[j].plot(t, m, color=colour, label=f"{name} ({sel.sum()} clips)")
            axes[j].fill_between(t, m - s, m + s, color=colour, alpha=0.15)
        m, s = flow[sel].mean(0), flow[sel].std(0)
        axes[2].plot(t[1:], m, color=colour, label=name)
        axes[2].fill_between(t[1:], m - s, m + s, color=colour, alpha=0.15)
    for j in range(2):
        axes[j].set(xlabel="frame in clip", ylabel=f"style PC{j + 1} "
                    f"({pca.explained_variance_ratio_[j]:.0%} var.)", title=f"style PC{j + 1} over time")
    axes[2].set(xlabel="frame in clip", ylabel="‖s_t − s_{t−1}‖", title="frame-to-frame style change")
    axes[0].legend(fontsize=7)
    fig.suptitle("temporal style patterns (test + validation clips; mean ± 1 s.d.)", fontsize=10)
    fig.tight_layout()
    fig.savefig(args.out / f"{args.prefix}_style_patterns.png", dpi=130)
    plt.close(fig)

    # decision boundary of the fused features
    with torch.no_grad():
        m = torch.from_numpy(mask)
        fused = model.head.fuse(feats["content"][m], feats["style"][m]).numpy()
    y = sub["label"].to_numpy()
    p2 = PCA(2, random_state=0).fit(fused)
    z = p2.transform(fused)
    lr = LogisticRegression().fit(z, y)
    acc2d = lr.score(z, y)
    pad = 0.1 * (z.max(0) - z.min(0) + 1e-6)
    gx, gy = np.meshgrid(np.linspace(z[:, 0].min() - pad[0], z[:, 0].max() + pad[0], 200),
                         np.linspace(z[:, 1].min() - pad[1], z[:, 1].max() + pad[1], 200))
    prob = lr.predict_proba(np.c_[gx.ravel(), gy.ravel()])[:, 1].reshape(gx.shape)
    fig, ax = plt.subplots(figsize=(5.6, 4.6))
    cs = ax.contourf(gx, gy, prob, levels=20, cmap="RdBu_r", alpha=0.35)
    ax.contour(gx, gy, prob, levels=[0.5], colors="k", linewidths=1)
    for name, colour in COLOURS.items():
        sel = (sub["kind"] == name).to_numpy()
        if sel.any():
            ax.scatter(z[sel, 0], z[sel, 1], s=14, color=colour, edgecolor="k", linewidth=0.3,
                       label=f"{name} ({sel.sum()})")
    fig.colorbar(cs, ax=ax, label="P(fake), 2-D logistic regression")
    ax.set(xlabel=f"fused PC1 ({p2.explained_variance_ratio_[0]:.0%})",
           ylabel=f"fused PC2 ({p2.explained_variance_ratio_[1]:.0%})",
           title=f"decision boundary, fused features (2-D fit accuracy {acc2d:.2f})")
    ax.title.set_fontsize(9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(args.out / f"{args.prefix}_decision_boundary.png", dpi=130)
    plt.close(fig)

    # training curves
    h = pd.read_csv(args.run / "history.csv")
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.3))
    axes[0].plot(h["epoch"], h["train_loss"], color="tab:blue", label="train (mixup)")
    axes[0].plot(h["epoch"], h["val_loss"], color="tab:red", label="validation")
    axes[0].set(xlabel="epoch", ylabel="BCE loss")
    axes[0].legend(fontsize=8)
    axes[1].plot(h["epoch"], h["train_accuracy"], color="tab:blue")
    axes[1].plot(h["epoch"], h["val_accuracy"], color="tab:red")
    axes[1].set(xlabel="epoch", ylabel="accuracy")
    axes[2].plot(h["epoch"], h["lr"], color="k")
    axes[2].set(xlabel="epoch", ylabel="learning rate", yscale="log")
    fig.tight_layout()
    fig.savefig(args.out / f"{args.prefix}_training.png", dpi=130)
    plt.close(fig)

    stats = {"confusion": cm.tolist(), "threshold": thr, "decision_boundary_2d_accuracy": acc2d,
             "style_pca_var": pca.explained_variance_ratio_.tolist(),
             "style_flow_mean": {k: float(flow[(sub["kind"] == k).to_numpy()].mean())
                                 for k in COLOURS if (sub["kind"] == k).any()}}
    (args.run / "plots.json").write_text(json.dumps(stats, indent=2) + "\n")
    print(json.dumps(stats, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
