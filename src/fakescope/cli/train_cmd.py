"""`fakescope train CONFIG` — train a detector from a YAML config and export its bundle."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from fakescope.errors import FakescopeError

EPILOG = """\
Relative paths inside CONFIG are relative to CONFIG's folder; paths given with --set or --out
are relative to the working directory; --set data.table=... replaces the config's crops_csv
(and the reverse). Examples:

  fakescope train configs/fakebuster_dfdc.yaml --set data.table=my_split.csv \\
      --set data.image_root=../shared/data/dfdc_faces/faces_224 --out runs/fakebuster
  fakescope train configs/fakebuster_dfdc.yaml --out runs/fakebuster --resume --stop-after 5
  torchrun --nproc_per_node=4 -m fakescope.cli.main train CONFIG --out runs/ddp   (multi-GPU)
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train", help="train a detector from a YAML config",
        description="Train a detector from a YAML config (defaults fill anything it omits); "
        "writes checkpoints, a TensorBoard log and the detector bundle into the output folder.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("config", type=Path, help="YAML training config")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override one config value, e.g. --set optim.lr=3e-4 (repeatable)")
    p.add_argument("--out", type=Path, help="output folder (overrides out_dir)")
    p.add_argument("--resume", action="store_true",
                   help="continue the run in the output folder from its last checkpoint")
    p.add_argument("--stop-after", type=int, metavar="N",
                   help="stop after N epochs in this invocation (continue later with --resume)")
    p.add_argument("--nproc", type=int, default=1,
                   help="data-parallel processes on this machine (DDP; gloo on CPU, NCCL on GPU)")
    p.add_argument("--device", help="cpu, cuda or auto (overrides the config's device)")
    p.add_argument("--print-config", action="store_true",
                   help="print the resolved config and exit")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars or epoch lines")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from fakescope.train.config import ConfigError, dump_config, load_config
    from fakescope.train.recipes import get_recipe, recipe_name

    name = recipe_name(args.config)
    if name is not None:  # a recipe of its own (e.g. a scikit-learn family), not the Trainer
        import yaml

        try:
            recipe = get_recipe(name)
        except KeyError as exc:
            print(f"fakescope train: {args.config}: {exc.args[0]}", file=sys.stderr)
            return 2
        raw = yaml.safe_load(args.config.read_text())
        raw.pop("recipe")
        return recipe(raw, args.config.resolve().parent, args.out)

    overrides = list(args.overrides)
    if args.out is not None:
        overrides.append(f"out_dir={args.out}")
    if args.device is not None:
        overrides.append(f"device={args.device}")
    try:
        cfg = load_config(args.config, overrides)
    except ConfigError as exc:
        print(f"fakescope train: {exc}", file=sys.stderr)
        return 2
    if args.print_config:
        print(dump_config(cfg), end="")
        return 0
    if args.nproc < 1:
        print("fakescope train: --nproc must be >= 1", file=sys.stderr)
        return 2
    if args.stop_after is not None and args.stop_after < 1:
        print("fakescope train: --stop-after must be >= 1", file=sys.stderr)
        return 2

    from fakescope.train import ddp
    from fakescope.train.trainer import Trainer, fit_in_process

    progress = not args.quiet and sys.stderr.isatty()
    try:
        if args.nproc > 1:
            ddp.spawn(fit_in_process, args.nproc, device=cfg.device,
                      args=(cfg.to_dict(), args.resume, args.stop_after, progress))
            _print_outputs(Path(cfg.out_dir), None)
            return 0
        on_epoch = None if args.quiet else _print_epoch
        trainer = Trainer(cfg, progress=progress, on_epoch=on_epoch)
        try:
            result = trainer.fit(resume=args.resume, stop_after=args.stop_after)
        finally:
            ddp.shutdown()  # under torchrun the trainer joined a process group
    except FakescopeError as exc:
        print(f"fakescope train: {exc}", file=sys.stderr)
        return 1
    if trainer.dist.is_main:
        _print_outputs(result.out_dir, result)
    return 0


def _print_epoch(record: dict) -> None:
    from fakescope.train.trainer import _fmt_record

    print(f"epoch {record['epoch']}: {_fmt_record(record)}", flush=True)


def _print_outputs(out_dir: Path, result) -> None:
    if result is not None and not result.finished:
        print(f"stopped after epoch {result.history[-1]['epoch'] if result.history else 0}; "
              f"continue with --resume (checkpoint in {out_dir / 'checkpoints'})")
        return
    if result is not None and result.best is not None:
        b = result.best
        print(f"best epoch {b['epoch']}: val_loss={b['val_loss']:.4f} "
              f"val_accuracy={b['val_accuracy']:.4f} val_auc={b['val_auc']:.4f}"
              + (" (early stop)" if result.stopped_early else ""))
    bundle = out_dir / "detector.pt"
    if bundle.is_file():
        extra = f" sha256={result.bundle_sha256}" if result and result.bundle_sha256 else ""
        thr = f" threshold={result.threshold['value']:.4g}" if result and result.threshold else ""
        print(f"bundle: {bundle}{extra}{thr}")
    print(f"TensorBoard: tensorboard --logdir {out_dir / 'tb'}")
