"""Seed 000 Table 1 on identity-disjoint DFDC crops, from the results the training recipe
wrote (`python -m fakescope.families.latentforensics.train ... --out RUN`): one markdown row per
projector x classifier, test accuracy (threshold of best validation accuracy) and AUC with 95 %
bootstrap intervals over `split_group` clusters; StyleGAN rows say "needs weights" when no
run has them.

  PYTHONPATH=src python benchmarks/latentforensics_table.py runs/lf_pca32 runs/lf_vqvae
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from fakescope.evaluate.report import format_metric

NAMES = {"pca": "PCA", "vqvae": "VAE", "stylegan": "SG"}
ORDER = ("rf", "lr", "mlp2", "mlp5")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("runs", nargs="+", type=Path)
    args = ap.parse_args()
    rows, seen = [], set()
    print("| method | accuracy (95 % CI) | AUC (95 % CI) | TAR at the shipped threshold "
          "(val FAR 5%) | test FAR there | train crops | wall s (fit + measure, shared CPU) |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for run in args.runs:
        for path in sorted((run / "results").glob("*.json")):
            if path.name == "per_channel.json":
                continue
            r = json.loads(path.read_text())
            seen.add(r["projector"])
            acc = r["test"]["accuracy"]["levels"]["frame"]
            far = r["test"]["far"]["levels"]["frame"]
            n_fake, n_real = far["n_fake"], far["n_real"]
            c = far["confusion"]
            tar = c["tp"] / n_fake
            fa = c["fp"] / n_real
            rows.append((list(NAMES).index(r["projector"]), ORDER.index(r["classifier"]),
                         f"| {NAMES[r['projector']]} {r['classifier'].upper()} ({run.name}) | "
                         f"{format_metric(acc, 'accuracy')} | {format_metric(acc, 'auc')} | {tar:.3f} | {fa:.3f} | "
                         f"{r.get('n_train_classifier', r['n']['train'])} | {r['fit_seconds']:.0f} |"))
    for _, _, row in sorted(rows):
        print(row)
    if "stylegan" not in seen:
        for clf in ORDER:
            print(f"| SG {clf.upper()} | needs weights | needs weights | | | | |")


if __name__ == "__main__":
    main()
