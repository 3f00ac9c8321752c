"""`fakescope calibrate RESULTS... --labels CSV`: fit a detector's file-level operating points
and probability on scan records of labelled files, and report what they do per source."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

DESCRIPTION = """\
Fit the verdict bands of a detector's weights on real files of several sources, from the
records `fakescope scan --json --out` wrote for them (so the file scores are exactly scan's),
and report per source what the bands do on the files of every split.

LABELS is a CSV: path, label (REAL|FAKE), source, split [, set, group]. Paths are relative to
--root (default: the CSV's folder), under the sub-folder `set` when that column exists.
Records are matched by resolved path. The rows whose split is `calibration` fit the points
(per media kind: the 1 % and 5 % false-alarm points of its real files) and the Platt
probability (real and fake files); every other split is only reported.

  fakescope scan --json --out runs/cal/videos.jsonl ../shared/data/wild_dev ../shared/data/videos
  fakescope calibrate runs/cal/videos.jsonl --labels docs/splits/calibration_split.csv \\
      --root ../shared/data --out calibration.json --report calibration.md
  fakescope scan --calibration calibration.json ...

With --calibration FILE instead of --out, nothing is fit: FILE's bands are reported."""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("calibrate", help="fit a detector's verdict bands on labelled files",
                       description=DESCRIPTION,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("results", nargs="+", metavar="RESULTS",
                   help="JSON-lines journals of `fakescope scan --json --out`")
    p.add_argument("--labels", required=True, action="append", metavar="CSV",
                   help="labelled files (repeatable)")
    p.add_argument("--root", default=None, metavar="DIR",
                   help="folder the label paths are relative to (default: each CSV's folder)")
    act = p.add_mutually_exclusive_group(required=True)
    act.add_argument("--out", metavar="FILE", help="write the fitted calibration here")
    act.add_argument("--calibration", metavar="FILE", help="report this calibration, fit none")
    p.add_argument("--report", metavar="FILE", help="write the per-source report (Markdown)")
    p.add_argument("--fake-far", type=float, default=0.01,
                   help="false-alarm rate of the fake point (default: %(default)s)")
    p.add_argument("--inconclusive-far", type=float, default=0.05,
                   help="false-alarm rate of the inconclusive point (default: %(default)s)")
    p.add_argument("--min-reals", type=int, default=20,
                   help="a media kind is calibrated only with this many real files "
                        "(default: %(default)s)")
    p.add_argument("--data", default="", help="what the calibration files are, for the card")
    p.set_defaults(func=run)


def _records(paths: list[str]):
    from fakescope.output.atomic import RecordLog
    from fakescope.output.formats import result_from_dict

    out = []
    for p in paths:
        if not Path(p).is_file():
            raise ValueError(f"{p}: no such results file")
        n = 0
        for record in RecordLog(p).records():
            out.append(result_from_dict(record))
            n += 1
        if n == 0:
            raise ValueError(f"{p}: no scan records in it")
    return out


def _command(args: argparse.Namespace) -> str:
    """The command line that fits this calibration again (recorded in the file)."""
    import shlex

    parts = ["fakescope", "calibrate", *args.results]
    for labels in args.labels:
        parts += ["--labels", labels]
    if args.root:
        parts += ["--root", args.root]
    parts += ["--out", args.out, "--fake-far", str(args.fake_far), "--inconclusive-far",
              str(args.inconclusive_far), "--min-reals", str(args.min_reals)]
    return shlex.join(parts)


def run(args: argparse.Namespace) -> int:
    import pandas as pd

    from fakescope.errors import WeightsError
    from fakescope.evaluate.calibration import fit_calibration, load_calibration
    from fakescope.evaluate.files import (
        calibration_rows,
        file_table,
        read_labels,
        report_markdown,
    )
    from fakescope.output.atomic import atomic_write_text

    try:
        labels = pd.concat([read_labels(p, args.root) for p in args.labels], ignore_index=True)
        table = file_table(_records(args.results), labels)
        if args.calibration:
            cal = load_calibration(args.calibration)
        else:
            part = calibration_rows(table)
            command = _command(args)
            cal = fit_calibration(
                part.assign(label=part["y"]), detector=part["detector"].iloc[0],
                weights_sha256=part["weights_sha256"].iloc[0],
                fake_far=args.fake_far, inconclusive_far=args.inconclusive_far,
                min_reals=args.min_reals, data=args.data, command=command,
                settings={"settings_key": part["settings_key"].iloc[0]})
            atomic_write_text(args.out, cal.to_json())
    except (ValueError, WeightsError) as exc:
        print(f"fakescope calibrate: error: {exc}", file=sys.stderr)
        return 2
    text = report_markdown(table, cal)
    if args.report:
        atomic_write_text(args.report, text)
    print(text)
    return 0
