"""How much of a self-blend detector's skill rests on the JPEG grid rather than on the blend.

The shared DFDC crops are JPEG files (quality 75). A self-blend made from a decoded crop keeps
the file's 8x8 grid outside its mask and breaks it inside (the source is shifted, rescaled,
blurred or sharpened), a cue no real-world fake carries: DFDC's fakes were compressed whole,
after the swap. This probe scores validation reals and their blends (`build_crop_dataset`,
the config's validation blends) as made, then with both re-compressed at one quality, which
lays one grid over the whole crop. A detector that drops sharply under re-compression was
reading the grid.

    .venv/bin/python scripts/blend_jpeg_probe.py configs/faceblend_sbi_pairs.yaml \
        runs/faceblend_sbi_pairs/detector.pt --n 300
    .venv/bin/python scripts/blend_jpeg_probe.py CONFIG runs/RUN/checkpoints/best.pt --checkpoint

Validation rows only: nothing here touches the test split.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

QUALITIES = (None, 90, 75, 50)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("config", type=Path, help="training config whose validation blends to make")
    ap.add_argument("weights", type=Path, help="detector bundle (or checkpoint, with --checkpoint)")
    ap.add_argument("--checkpoint", action="store_true", help="weights is a training checkpoint")
    ap.add_argument("--n", type=int, default=300, help="validation reals drawn (seed 0)")
    ap.add_argument("--out", type=Path, help="also write the table here (Markdown)")
    args = ap.parse_args(argv)

    from fakescope.data.blended import jpeg
    from fakescope.data.datasets import resize_square
    from fakescope.detectors.registry import create_detector
    from fakescope.train.checkpoint import bundle_from_checkpoint
    from fakescope.train.config import load_config
    from fakescope.train.trainer import build_crop_dataset, load_split_items

    from fakescope.errors import FakescopeError

    try:
        cfg = load_config(args.config, ["blend.val_mode=blend", "blend.val_jpeg_prob=0.0"])
        weights = bundle_from_checkpoint(args.weights) if args.checkpoint else args.weights
        det = create_detector(weights=weights, runtime="torch")
    except (FakescopeError, OSError) as exc:  # a missing / unreadable config or weights file
        ap.error(str(exc))
    if cfg.blend.mode == "none":
        ap.error(f"{args.config}: blend.mode is none; no self-blends to probe")
    ds = build_crop_dataset(cfg, load_split_items(cfg).val, train=False)
    half = len(ds) // 2  # reals, then their blends
    idx = np.random.default_rng(0).choice(half, size=min(args.n, half), replace=False)
    reals = [ds.sample(int(i))[0] for i in idx]
    fakes = [ds.sample(int(i) + half)[0] for i in idx]
    size = det.requirements.input_size
    lines = [f"Validation reals and their blends ({len(idx)} each), `{args.config}`, weights "
             f"`{args.weights}`:", "",
             "| blends and reals | AUC | mean blend score | mean real score |", "|---|---|---|---|"]
    for q in QUALITIES:
        batch = [im if q is None else jpeg(im, q) for im in reals + fakes]
        scores = np.asarray(det.score_crops(np.stack([resize_square(im, size) for im in batch])))
        y = np.r_[np.zeros(len(reals)), np.ones(len(fakes))]
        name = "as made" if q is None else f"both re-compressed, JPEG {q}"
        lines.append(f"| {name} | {roc_auc_score(y, scores):.3f} | "
                     f"{scores[len(reals):].mean():.3f} | {scores[:len(reals)].mean():.3f} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out is not None:
        from fakescope.output.atomic import atomic_write_text

        atomic_write_text(args.out, text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
