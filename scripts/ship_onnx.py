"""Ship an ONNX graph beside a family's packaged weights, so that a scan on a new machine runs
the detector without importing torch (and without exporting it first).

The graph computes in fp32 with the bundle's fp16 weights stored as fp16 (`export_onnx(...,
fp16_storage=True)`: about the bundle's size), carries the bundle's metadata and sha256, and is
checked against PyTorch on random crops before its sha256 is pinned in the family's JSON model
card (``onnx_sha256``):

    .venv/bin/python scripts/ship_onnx.py faceblend
"""

from __future__ import annotations

import argparse
import json
import sys
from importlib import import_module
from pathlib import Path

import numpy as np

from fakescope.detectors.bundle import file_sha256, load_bundle
from fakescope.detectors.export import export_onnx
from fakescope.detectors.runtime import OnnxRunner
from fakescope.detectors.torch_bundle import graph_metadata
from fakescope.output.atomic import atomic_write_text

TOLERANCE = 1e-5  # max |logit difference| against PyTorch


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("family", help="a family with packaged weights (e.g. faceblend)")
    ap.add_argument("--crops", type=int, default=16, help="random crops to compare on")
    args = ap.parse_args()
    module = import_module(f"fakescope.families.{args.family}.detector")
    weights, sha = module.packaged_weights()
    card_path = weights.parent / module.PACKAGED_CARD
    bundle = load_bundle(weights, expected_sha256=sha)
    from fakescope.detectors.bundle import build_model

    model = build_model(bundle)
    size = bundle.meta.input_size
    out = weights.with_suffix(".onnx")
    export_onnx(model, out, input_size=size, fp16_storage=True, metadata=graph_metadata(bundle))

    import torch

    x = np.random.default_rng(0).standard_normal((args.crops, 3, size, size), dtype=np.float32)
    with torch.inference_mode():
        ref = model(torch.from_numpy(x)).float().numpy()
    diff = float(np.max(np.abs(OnnxRunner(out)(x) - ref)))
    if diff > TOLERANCE:
        out.unlink()
        print(f"{out}: logits differ from PyTorch by {diff:.2g} > {TOLERANCE}; not shipped",
              file=sys.stderr)
        return 1
    card = json.loads(card_path.read_text())
    card["onnx_sha256"] = file_sha256(out)
    card["onnx_bytes"] = out.stat().st_size
    card["onnx_max_logit_diff"] = diff
    atomic_write_text(card_path, json.dumps(card, indent=2) + "\n")
    print(f"{out}: {out.stat().st_size} bytes, sha256 {card['onnx_sha256']}, "
          f"max |logit diff| vs PyTorch {diff:.2g}; pinned in {card_path.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
