"""`fakescope detectors` — the registered detector families, the default marked, with the
sha256 of their packaged weights and what each needs as input."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("detectors", help="list the detector families",
                       description="List the registered detector families (default marked *), "
                       "with the sha256 of their packaged weights, input size, framing, "
                       "normalisation and threshold.")
    p.add_argument("--json", action="store_true", help="one JSON object per family")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from fakescope.detectors.registry import describe_detectors
    from fakescope.evaluate.calibration import packaged_calibration

    listings = describe_detectors()
    width = max([12, *(len(d.name) for d in listings)])  # names line up in one column
    for d in listings:
        cal = packaged_calibration(d.name, d.sha256) if d.sha256 else None
        if args.json:
            print(json.dumps({**asdict(d), "calibration": cal.to_dict() if cal else None}))
            continue
        mark = "*" if d.default else " "
        if d.problem:
            print(f"{mark} {d.name:<{width}} {d.unit}: {d.problem}")
            continue
        mean = ",".join(f"{v:.3f}" for v in d.mean)
        std = ",".join(f"{v:.3f}" for v in d.std)
        unit = d.unit if d.unit == "crop" else f"{d.unit} of {d.sequence_length}"
        print(f"{mark} {d.name:<{width}} {unit} model={d.model} input={d.input_size}px crop={d.crop_preset} "
              f"mean=({mean}) std=({std}) threshold={d.threshold:.4f} sha256={d.sha256}")
        if d.operating_points:
            points = "  ".join(f"FAR {float(k.split('_', 1)[1]):.0%}: {v:.4f}"
                               for k, v in d.operating_points.items())
            print(f"  {'':<{width}} validation operating points (--threshold): {points}")
        if cal is not None:
            bands = "  ".join(f"{kind}: fake >= {k.fake_threshold:.4f}, inconclusive >= "
                              f"{k.inconclusive_threshold:.4f}" for kind, k in sorted(cal.kinds.items()))
            print(f"  {'':<{width}} scan's verdict bands (file-level calibration): {bands}")
    if not args.json:
        print("* default of `fakescope scan`")
    return 0
