"""Putting a trained bundle into the package (`fakescope/weights/`): the steps every family's
ship script shares (read the run's bundle, copy it byte for byte, ship its ONNX graph), so
none copies weights or checks hashes its own way."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from fakescope.detectors.bundle import Bundle, build_model, file_sha256, load_bundle

GRAPH_TOLERANCE = 1e-5  # max |logit difference| against PyTorch for a shipped graph


def read_run_bundle(run: Path, family: str) -> Bundle:
    """``run/detector.pt``, which must be a bundle of `family`."""
    src = Path(run) / "detector.pt"
    bundle = load_bundle(src)
    if bundle.meta.detector != family:
        raise SystemExit(f"{src} is a {bundle.meta.detector!r} bundle, not {family}")
    return bundle


def install_weights(src: Path, weights_dir: Path, name: str, sha256: str) -> Path:
    """Copy the bundle file to ``weights_dir/name.pt`` and check the copy's sha256."""
    weights_dir.mkdir(parents=True, exist_ok=True)
    dst = weights_dir / f"{name}.pt"
    shutil.copyfile(src, dst)
    if file_sha256(dst) != sha256:
        raise SystemExit(f"{dst}: the copy's sha256 differs from {src}'s")
    return dst


def ship_graph(bundle: Bundle, weights_file: Path, crops: int = 16) -> dict:
    """Write the ONNX graph beside the shipped weights (fp32 compute, the bundle's fp16 weights
    stored as fp16, its metadata inside: `torch_bundle.packaged_graph` reads it), check it
    against PyTorch on random inputs, and return the card fields that pin it."""
    import torch

    from fakescope.detectors.export import export_onnx
    from fakescope.detectors.runtime import OnnxRunner
    from fakescope.detectors.torch_bundle import graph_metadata

    model = build_model(bundle)
    size = bundle.meta.input_size
    out = Path(weights_file).with_suffix(".onnx")
    export_onnx(model, out, input_size=size, fp16_storage=True, metadata=graph_metadata(bundle))
    x = np.random.default_rng(0).standard_normal((crops, 3, size, size), dtype=np.float32)
    with torch.inference_mode():
        ref = model(torch.from_numpy(x)).float().numpy()
    diff = float(np.max(np.abs(OnnxRunner(out)(x) - ref)))
    if diff > GRAPH_TOLERANCE:
        out.unlink()
        raise SystemExit(f"{out}: logits differ from PyTorch by {diff:.2g} > {GRAPH_TOLERANCE}; "
                         "not shipped")
    return {"onnx_sha256": file_sha256(out), "onnx_bytes": out.stat().st_size,
            "onnx_max_logit_diff": diff}
