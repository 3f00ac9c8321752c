"""Score `fakescope scan` results of the held-aside videos against their labels.

    python scripts/twobranch_scan_eval.py RESULTS.jsonl OUT_DIR

Labels come from ../shared/data/videos/labels.csv. Each scanned file is one item (its scan
score: sequences averaged per track, max over tracks — one track with ``--faces largest``);
abstained files are counted and left out. Writes OUT_DIR/report.{json,md} with bootstrap
intervals over videos, at the threshold the weights carry.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
VIDEOS = REPO.parent / "shared" / "data" / "videos"


def main(results: str, out: str) -> int:
    from fakescope.evaluate.report import evaluate_predictions, write_report

    labels = pd.read_csv(VIDEOS / "labels.csv")
    label_of = {str((VIDEOS / p).resolve()): int(lab == "FAKE") for p, lab in zip(labels.path, labels.label)}
    rows = [json.loads(line) for line in Path(results).read_text().splitlines() if line.strip()]
    scored = [r for r in rows if r["score"] is not None]
    abstained = [(Path(r["path"]).name, r["reason"]) for r in rows if r["score"] is None]
    y = np.array([label_of[str(Path(r["path"]).resolve())] for r in scored])
    s = np.array([r["score"] for r in scored])
    threshold = float(scored[0]["threshold"]) if scored else 0.5
    report = evaluate_predictions(y, s, threshold=threshold, n_bootstrap=1000, seed=0)
    provenance = {"results": Path(results).name, "n_files": len(rows), "n_scored": len(scored),
                  "abstained": abstained, "detector": scored[0]["detector"] if scored else None}
    write_report(report, Path(out), title=f"fakescope scan: {Path(results).name}",
                 provenance=provenance)
    m = report.levels["frame"].metrics
    print(f"{len(scored)} scored ({int(y.sum())} fake, {int((1 - y).sum())} real), "
          f"{len(abstained)} abstained {abstained}; video AUC {m.get('auc', float('nan')):.3f}; "
          f"flagged at {threshold:.3f}: {int(((s >= threshold) & (y == 1)).sum())} / {int(y.sum())} "
          f"fakes, {int(((s >= threshold) & (y == 0)).sum())} / {int((1 - y).sum())} reals")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(*sys.argv[1:3]))
