"""`fakescope eval` — score a table of face crops with a trained detector and write the report
(predictions.csv, report.json, report.md, figures)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from fakescope.errors import FakescopeError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "eval", help="evaluate a trained detector on a table of face crops",
        description="Score every crop of a table (CSV/parquet: path,label[,group][,video]"
        "[,split]) with a detector bundle or training checkpoint; write predictions.csv and a "
        "report with bootstrap intervals, at frame level and (when a video column groups "
        "several crops) at video level.",
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--bundle", type=Path, help="detector bundle (fakescope train's detector.pt)")
    src.add_argument("--checkpoint", type=Path, help="training checkpoint (best.pt / last.pt)")
    p.add_argument("--data", type=Path, required=True, help="item table (CSV or parquet)")
    p.add_argument("--split", help="rows of this split only (default: 'test' when the table has "
                   "a split column, else all rows)")
    p.add_argument("--image-root", type=Path,
                   help="folder relative crop paths are resolved against (default: the table's)")
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument("--aggregate", default="mean",
                   help="frame → video aggregation (mean, mean_logit, max, confident)")
    p.add_argument("--video-column", default="video",
                   help="column naming each crop's video, for the video level (default: video)")
    p.add_argument("--cluster-column", default="identity",
                   help="column of cluster ids (e.g. identity clusters) the bootstrap resamples, "
                        "when the table has it (default: identity; 'none' to resample videos)")
    p.add_argument("--threshold", type=float,
                   help="decision threshold (default: the one chosen on validation, in the bundle)")
    p.add_argument("--n-bootstrap", type=int, default=1000, help="bootstrap resamples (0: none)")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    p.add_argument("--device", help="cpu, cuda or auto")
    p.add_argument("--runtime", default="auto", choices=("auto", "torch", "onnx"),
                   help="inference runtime, as in scan (default: auto)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--workers", type=int, default=0, help="image-decoding worker processes")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        return _run(args)
    except FakescopeError as exc:
        print(f"fakescope eval: {exc}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace) -> int:
    from fakescope.detectors import create_detector
    from fakescope.detectors.bundle import load_bundle, save_bundle
    from fakescope.evaluate.aggregate import METHODS as AGGREGATIONS
    from fakescope.evaluate.predict import predict_items, read_item_table, select_split
    from fakescope.evaluate.report import evaluate_predictions, write_report
    from fakescope.evaluate.threshold import METHODS, Threshold, fixed_threshold
    from fakescope.output.atomic import atomic_write_text

    if args.aggregate not in AGGREGATIONS:
        print(f"fakescope eval: --aggregate must be one of {AGGREGATIONS}", file=sys.stderr)
        return 2
    if args.checkpoint is not None:
        from fakescope.train.checkpoint import bundle_from_checkpoint

        b = bundle_from_checkpoint(args.checkpoint)
        weights = args.out / "checkpoint_bundle.pt"  # the exact weights evaluated, kept
        save_bundle(weights, b.meta, b.state_dict)
        source = {"checkpoint": str(args.checkpoint), "checkpoint_sha256": b.sha256}
    else:
        weights = args.bundle
        source = {}
    bundle = load_bundle(weights)
    source.update({"weights": weights.name, "weights_sha256": bundle.sha256})

    table = read_item_table(args.data, args.image_root)
    split = args.split
    if split is None and "split" in table.columns:
        split = "test"
    items = select_split(table, split, str(args.data))
    print(f"{len(items)} crops from {args.data}" + (f" (split {split})" if split else ""))

    detector = create_detector(bundle.meta.detector, weights=str(weights), device=args.device,
                               runtime=args.runtime)
    preds = predict_items(detector, items, batch_size=args.batch_size, num_workers=args.workers,
                          progress=not args.quiet and sys.stderr.isatty())
    args.out.mkdir(parents=True, exist_ok=True)
    unit = detector.requirements.unit
    if unit != "crop":
        print(f"{len(preds)} {unit}s of {detector.requirements.sequence_length} crops "
              "(1 row each in predictions.csv: the unit the detector scores)")
    atomic_write_text(args.out / "predictions.csv", preds.to_csv(index=False))
    bad = preds[preds["error"] != ""]
    if len(bad):
        print(f"warning: {len(bad)} crop(s) could not be read and are left out of the report, "
              f"e.g. {bad['error'].head(3).tolist()}", file=sys.stderr)
    scored = preds[preds["error"] == ""]
    if scored.empty:
        print("fakescope eval: no crop could be scored", file=sys.stderr)
        return 1

    if args.threshold is not None:
        threshold = fixed_threshold(args.threshold)
    else:
        chosen = (bundle.meta.extra.get("val") or {}).get("threshold")
        if chosen and float(chosen["value"]) == float(bundle.meta.threshold):
            threshold = Threshold.from_dict(chosen)
        else:
            method = bundle.meta.threshold_method
            threshold = Threshold(value=float(bundle.meta.threshold),
                                  method=method if method in METHODS else "fixed")
    groups = None
    col = args.video_column
    if col in scored.columns and scored[col].nunique() < len(scored):
        groups = scored[col].to_numpy()
    clusters = None
    if args.cluster_column != "none" and args.cluster_column in scored.columns:
        clusters = scored[args.cluster_column].astype(str).to_numpy()
    report = evaluate_predictions(
        scored["label"].to_numpy(), scored["score"].to_numpy(), groups=groups, clusters=clusters,
        threshold=threshold, n_bootstrap=args.n_bootstrap, seed=args.seed,
        aggregation=args.aggregate,
    )
    provenance = {
        **source, "data": str(args.data), "split": split, "n_items": len(items),
        "unit": unit, "n_units": len(preds),
        "n_unreadable": len(bad), "detector": detector.info.name,
        "runtime": getattr(detector, "runtime", None),
        "settings": f"aggregate={args.aggregate} n_bootstrap={args.n_bootstrap} seed={args.seed}"
                    f" bootstrap over {args.cluster_column if clusters is not None else 'videos'}",
    }
    written = write_report(report, args.out, title=f"fakescope evaluation: {args.data.name}",
                           provenance=provenance)
    for level, lr in report.levels.items():
        m = lr.metrics
        print(f"{level}: n={lr.n} auc={m.get('auc', float('nan')):.4f} "
              f"accuracy={m.get('accuracy', float('nan')):.4f} "
              f"log_loss={m.get('log_loss', float('nan')):.4f}")
    print(f"threshold {threshold.value:.4g} ({threshold.method}); "
          f"report: {written['markdown']}; predictions: {args.out / 'predictions.csv'}")
    return 0
