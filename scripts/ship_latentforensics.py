"""Copy a trained latentforensics bundle into the package and write its cards.

    .venv/bin/python scripts/ship_latentforensics.py runs/lf_pca32 --classifier mlp2 \
        --eval runs/lf_pca32/eval_mlp2 --command "fakescope train configs/latentforensics_pca_dfdc.yaml"

Writes src/fakescope/weights/latentforensics_pca_dfdc.skops (the bundle, byte for byte),
src/fakescope/weights/latentforensics_pca_dfdc.json (what the loader reads: the sha256 pin,
threshold, test metrics) and docs/model_cards/latentforensics_pca_dfdc.md. Test numbers come
from `fakescope eval`'s report.json in --eval (bootstrap over split_group clusters).
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

from fakescope.detectors.bundle import load_bundle, sha256_bytes
from fakescope.evaluate.report import format_metric
from fakescope.output.atomic import atomic_write_text

REPO = Path(__file__).resolve().parents[1]
WEIGHTS = REPO / "src" / "fakescope" / "weights"
NAME = "latentforensics_pca_dfdc"
LICENCE = ("Trained on DFDC data (Deepfake Detection Challenge training set), which is licensed "
           "for non-commercial research use only; these weights inherit that restriction.")


def _timit(summary: Path | None) -> str:
    if summary is None:
        return ""
    t = next(iter(json.loads(summary.read_text()).values()))["timit"]
    return (f"\n## DeepfakeTIMIT (dev set, 160 fakes of a manipulation in no training data)\n"
            f"`scripts/eval_videos.py --sets timit --sampling every:10` ({summary.as_posix()}): "
            f"**{t['flagged']} / {t['n']}** flagged at the shipped threshold "
            f"{t['threshold']:.4f} (mean video score {t['mean_score']:.3f}; {t['abstained']} "
            "abstained). The detector does not generalise to this manipulation.\n")


def _videos(summary: Path | None) -> str:
    if summary is None:
        return ""
    v = next(iter(json.loads(summary.read_text()).values()))["videos"]
    return (f"\n## The 46 shared labelled videos\n"
            f"`scripts/eval_videos.py --sets videos --sampling every:10` ({summary.as_posix()}): "
            f"video AUC {v['auc']:.3f} (95 % CI {v['auc_low']:.3f}–{v['auc_high']:.3f}); at the "
            f"shipped threshold {v['false_alarms']} / {v['n_real']} real videos and "
            f"{v['fakes_flagged']} / {v['n_fake']} DFDC fakes flagged; {v['abstained']} "
            "abstained (no face).\n")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("run", type=Path)
    ap.add_argument("--classifier", required=True)
    ap.add_argument("--eval", type=Path, required=True, help="fakescope eval output folder")
    ap.add_argument("--command", required=True, help="the command that trained the run")
    ap.add_argument("--timit", type=Path, help="scripts/eval_videos.py summary.json (--sets timit)")
    ap.add_argument("--videos", type=Path, help="scripts/eval_videos.py summary.json (--sets videos)")
    args = ap.parse_args(argv)
    src = args.run / f"latentforensics_pca_{args.classifier}.skops"
    bundle = load_bundle(src)
    meta = bundle.meta
    report = json.loads((args.eval / "report.json").read_text())
    frame = report["levels"]["frame"]
    dst = WEIGHTS / f"{NAME}.skops"
    shutil.copyfile(src, dst)
    assert sha256_bytes(dst.read_bytes()) == bundle.sha256
    proj = bundle.payload["projector"]
    thr = meta.extra["val"]["threshold"]
    card = {
        "name": NAME, "detector": meta.detector, "version": meta.version,
        "sha256": bundle.sha256, "bytes": dst.stat().st_size,
        "input_size": meta.input_size, "crop_preset": meta.crop_preset,
        "threshold": meta.threshold, "threshold_method": meta.threshold_method,
        "threshold_target_far": thr.get("target"), "threshold_achieved_val": thr.get("achieved"),
        "projector": {"kind": proj["kind"], "n_components": proj["n_components"],
                      "resolution": proj["resolution"]},
        "classifier": meta.extra["classifier"],
        "training_command": args.command,
        "data": "../shared/data/dfdc_faces (DFDC training-set face crops), split by "
                "docs/splits/dfdc_faces_split.csv (identity clusters merged with source videos)",
        "test_metrics": {k: frame["metrics"].get(k) for k in
                         ("auc", "accuracy", "log_loss", "average_precision", "eer")},
        "test_n": {"fake": frame["n_fake"], "real": frame["n_real"]},
        "licence": LICENCE,
    }
    atomic_write_text(WEIGHTS / f"{NAME}.json", json.dumps(card, indent=2) + "\n")
    unit = frame.get("bootstrap_unit")
    rows = "\n".join(f"| {label} | {format_metric(frame, key, '95 % CI ')} |" for label, key in (
        ("ROC-AUC", "auc"), ("accuracy at the threshold", "accuracy"),
        ("TAR (recall) at the threshold", "recall"), ("TAR at FAR 10 %", "tar@far=0.1"),
        ("log loss", "log_loss"), ("EER", "eer")))
    md = f"""# Model card: {NAME}

| | |
|---|---|
| file | `src/fakescope/weights/{NAME}.skops` ({card['bytes'] / 1e6:.2f} MB, skops: loads without running code; see `detectors/sk_bundle.py`) |
| sha256 | `{bundle.sha256}` |
| model | seed 000 LatentForensics: PCA projector ({proj['n_components']} components of the face shrunk to {proj['resolution']} px, float16) → {meta.extra['classifier'].upper()} classifier (scikit-learn, the seed's hyper-parameters) |
| input | {meta.input_size}×{meta.input_size} RGB face aligned by 5 landmarks, preset `{meta.crop_preset}` (FFHQ template zoomed ×2 and centred on the eyes–mouth midpoint; docs/latentforensics.md) |
| threshold | {meta.threshold:.4f} on the fake probability: FAR {thr.get('target')} on the real validation crops (achieved there: FAR {thr['achieved']['far']:.3f}, TAR {thr['achieved']['tar']:.3f}) |
| sampling | one video frame in ten (seed 000), unless `--sampling` says otherwise |
| version | {meta.version} |

## Training
- Command: `{args.command}` (2 shared CPU cores, one thread), then
  `.venv/bin/python scripts/ship_latentforensics.py {args.run.as_posix()} --classifier {args.classifier} --eval {args.eval.as_posix()} --command "..."`.
- Data: `../shared/data/dfdc_faces`, one crop per DFDC training video, identity-disjoint split
  `docs/splits/dfdc_faces_split.csv` ({meta.extra.get('n_train')} training crops; the PCA fitted on its real ones).
- Differences from the paper: `src/fakescope/families/latentforensics/README.md`.

## Test split results (frame level = one crop per video)
`fakescope eval --bundle src/fakescope/weights/{NAME}.skops --data {args.run.as_posix()}/aligned/aligned.csv --split test --cluster-column split_group --out {args.eval.as_posix()}`
({frame['n_fake']} fake, {frame['n_real']} real; bootstrap over {unit}s of `split_group`, 1000 resamples):

| metric | value |
|---|---|
{rows}

{_timit(args.timit)}{_videos(args.videos)}
## Licence
{LICENCE}
"""
    atomic_write_text(REPO / "docs" / "model_cards" / f"{NAME}.md", md)
    print(f"shipped {dst} ({card['bytes']} bytes, sha256 {bundle.sha256})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
