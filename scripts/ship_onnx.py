"""Ship an ONNX graph beside a family's packaged weights, so that a scan on a new machine runs
the detector without importing torch (and without exporting it first).

The graph computes in fp32 with the bundle's fp16 weights stored as fp16 (`export_onnx(...,
fp16_storage=True)`: about the bundle's size), carries the bundle's metadata and sha256, and is
checked against PyTorch on random inputs before its sha256 is pinned in the family's JSON
model card (``onnx_sha256``). `scripts/ship_faceblend.py` does this itself; this script ships
a graph for weights already in the package:

    .venv/bin/python scripts/ship_onnx.py faceblend
"""

from __future__ import annotations

import argparse
import json
import sys
from importlib import import_module

from fakescope.detectors.bundle import load_bundle
from fakescope.detectors.shipping import ship_graph
from fakescope.output.atomic import atomic_write_text


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("family", help="a family with packaged weights (e.g. faceblend)")
    args = ap.parse_args()
    try:
        module = import_module(f"fakescope.families.{args.family}.detector")
        weights, sha = module.packaged_weights()
    except (ImportError, AttributeError) as exc:
        print(f"ship_onnx: no family {args.family!r} with packaged weights ({exc})",
              file=sys.stderr)
        return 2
    card_path = weights.parent / module.PACKAGED_CARD
    fields = ship_graph(load_bundle(weights, expected_sha256=sha), weights)
    card = {**json.loads(card_path.read_text()), **fields}
    atomic_write_text(card_path, json.dumps(card, indent=2) + "\n")
    print(f"{weights.with_suffix('.onnx')}: {fields['onnx_bytes']} bytes, sha256 "
          f"{fields['onnx_sha256']}, max |logit diff| vs PyTorch "
          f"{fields['onnx_max_logit_diff']:.2g}; pinned in {card_path.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
