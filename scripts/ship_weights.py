"""Copy a trained detector bundle into the package and write its model card.

    .venv/bin/python scripts/ship_weights.py runs/ablation/09_bn_folding \
        --command ".venv/bin/python scripts/fakebuster_ablation.py --epochs 5 --lanes 2"

Writes src/fakescope/weights/fakebuster_dfdc.pt (the bundle, byte for byte),
src/fakescope/weights/fakebuster_dfdc.json (the card the loader reads: sha256 pin, threshold,
test metrics) and docs/model_cards/fakebuster_dfdc.md (the same for people). Numbers come from the run's
`eval_test/report.json` (written by `fakescope eval` on the identity-aware test split).
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

from fakescope.detectors.bundle import load_bundle, sha256_bytes
from fakescope.evaluate.report import format_metric
from fakescope.output.atomic import atomic_write_text

CI = "95 % CI "  # how cards label an interval
REPO = Path(__file__).resolve().parents[1]
WEIGHTS = REPO / "src" / "fakescope" / "weights"
LICENCE = ("Trained on DFDC data (Deepfake Detection Challenge training set), which is licensed "
           "for non-commercial research use only; these weights inherit that restriction.")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("run", type=Path, help="run folder holding detector.pt and eval_test/")
    ap.add_argument("--command", required=True, help="the command that produced the run")
    args = ap.parse_args(argv)
    src = args.run / "detector.pt"
    bundle = load_bundle(src)
    report = json.loads((args.run / "eval_test" / "report.json").read_text())
    frame = report["levels"]["frame"]
    WEIGHTS.mkdir(parents=True, exist_ok=True)
    dst = WEIGHTS / "fakebuster_dfdc.pt"
    shutil.copyfile(src, dst)
    assert sha256_bytes(dst.read_bytes()) == bundle.sha256
    meta = bundle.meta
    card = {
        "name": "fakebuster_dfdc",
        "detector": meta.detector,
        "version": meta.version,
        "sha256": bundle.sha256,
        "bytes": dst.stat().st_size,
        "input_size": meta.input_size,
        "crop_preset": meta.crop_preset,
        "threshold": meta.threshold,
        "threshold_method": meta.threshold_method,
        "bn_folded": bool(meta.extra.get("bn_folded")),
        "training_command": args.command,
        "data": "../shared/data/dfdc_faces (DFDC training-set face crops), split by "
                "docs/splits/dfdc_faces_split.csv (identity clusters merged with source videos)",
        "test_metrics": {k: frame["metrics"].get(k) for k in
                         ("auc", "accuracy", "log_loss", "average_precision", "eer")},
        "test_n": {"fake": frame["n_fake"], "real": frame["n_real"]},
        "licence": LICENCE,
    }
    atomic_write_text(WEIGHTS / "fakebuster_dfdc.json", json.dumps(card, indent=2) + "\n")
    val = meta.extra.get("val", {})
    run = args.run.resolve()
    run_arg = run.relative_to(REPO) if run.is_relative_to(REPO) else args.run
    ship = f'.venv/bin/python scripts/ship_weights.py {run_arg} --command "{args.command}"'
    md = f"""# Model card: fakebuster_dfdc (seed 002, shipped: `--detector fakebuster`)

The default detector is `faceblend` ([its card](faceblend_dfdc.md)); these weights ship so
that seed 002's Fake-Buster can be run and compared.

| | |
|---|---|
| file | `src/fakescope/weights/fakebuster_dfdc.pt` ({card['bytes'] / 1e6:.3f} MB) |
| sha256 | `{bundle.sha256}` |
| architecture | FakeBuster (seed 002): stem of 3 convs, 4 double inverted-residual blocks with Squeeze-Excite, self-attention after block 1; `{meta.model_kwargs}` |
| input | {meta.input_size}×{meta.input_size} RGB face crop, framing preset `{meta.crop_preset}` (docs/framing.md), normalised with mean {list(meta.mean)} / std {list(meta.std)} |
| compression | one-cycle L1 pruning to 50 % (local), knowledge distillation from the uncompressed model, fp16 weights, BatchNorm folded |
| threshold | {meta.threshold:.4f} on the fake probability, chosen by `{meta.threshold_method}` on the validation split |
| version | {meta.version} |

## Training
- Command (reproduces this file on 2 CPU cores; see docs/ablation.md for every row):
  `{args.command}` (its shipped row: `{run_arg}`), then `{ship}`.
- Data: `../shared/data/dfdc_faces` — 23,260 face crops, one per DFDC training video
  (11,396 REAL, 11,864 FAKE). Split: `docs/splits/dfdc_faces_split.csv`, made by
  `scripts/make_dfdc_split.py` from dlib face-descriptor identity clusters
  (`python -m fakescope.data.identity --per-group`) merged with source-video groups, so that no
  source video and no clustered person is on two sides (train 18,542 / val 2,339 / test 2,379 crops).
- Validation at the chosen epoch: {', '.join(f'{k} {v:.4f}' for k, v in val.items() if isinstance(v, (int, float)))}.

## Test split results (frame level = one crop per video)
Measured by `fakescope eval --bundle src/fakescope/weights/fakebuster_dfdc.pt --data docs/splits/dfdc_faces_split.csv --image-root ../shared/data/dfdc_faces/faces_224 --split test --out ...`
({frame['n_fake']} fake, {frame['n_real']} real; bootstrap over samples, 1000 resamples):

| metric | value |
|---|---|
| ROC-AUC | {format_metric(frame, 'auc', CI)} |
| accuracy at the threshold | {format_metric(frame, 'accuracy', CI)} |
| log loss | {format_metric(frame, 'log_loss', CI)} |
| average precision | {format_metric(frame, 'average_precision', CI)} |
| EER | {format_metric(frame, 'eer', CI)} |

## Limits
- Trained from scratch (no pretrained backbone can be had offline) for a few epochs on 64-px
  crops on 2 CPU cores: far weaker than the DFDC winners. Treat its score as one signal.
- Trained only on DFDC crops framed by another pipeline; `scan` reproduces that framing with
  the `{meta.crop_preset}` preset. Faces framed differently, heavy compression, or other
  manipulation methods will shift its scores. See docs/videos_eval.md for its behaviour on
  whole videos outside the training set.
- Identity clusters were computed on one crop per source video; a fake's swapped-in donor face
  is not clustered on its own.

## Licence
{LICENCE}
"""
    atomic_write_text(REPO / "docs" / "model_cards" / "fakebuster_dfdc.md", md)
    print(f"shipped {dst} sha256={bundle.sha256} ({card['bytes']} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
