"""Every weights file shipped in the package matches its model card (sha256, size, input size,
framing, threshold, family) and loads into a working detector."""

from __future__ import annotations

import json
from importlib import resources

import numpy as np
import pytest

from fakescope.detectors import create_detector
from fakescope.detectors.bundle import file_sha256, load_bundle
from fakescope.detectors.registry import DEFAULT_DETECTOR, describe_detectors

WEIGHTS = resources.files("fakescope") / "weights"
CARDS = sorted(p.name for p in WEIGHTS.iterdir() if p.name.endswith(".json"))


def test_the_default_detector_ships_its_weights():
    assert f"{DEFAULT_DETECTOR}_dfdc.json" in CARDS
    listing = {d.name: d for d in describe_detectors()}
    assert listing[DEFAULT_DETECTOR].default and listing[DEFAULT_DETECTOR].problem is None


@pytest.mark.parametrize("card_name", CARDS)
def test_card_matches_the_weights_file(card_name):
    card = json.loads((WEIGHTS / card_name).read_text())
    stem = card_name[: -len(".json")]
    files = [p for p in WEIGHTS.iterdir() if p.name.startswith(stem + ".") and p.name != card_name
             and p.suffix != ".onnx"]  # an ONNX graph of the weights: tests/test_startup.py
    assert len(files) == 1, f"{card_name}: expected one weights file beside it, found {files}"
    path = files[0]  # a torch bundle (.pt) or a skops bundle (.skops)
    graph = WEIGHTS / f"{stem}.onnx"
    assert graph.is_file() == ("onnx_sha256" in card)
    if graph.is_file():
        assert file_sha256(graph) == card["onnx_sha256"] and graph.stat().st_size == card["onnx_bytes"]
    bundle = load_bundle(path, expected_sha256=card["sha256"])  # raises on a mismatch
    meta = bundle.meta
    assert path.stat().st_size == card["bytes"]
    assert meta.detector == card["detector"]
    assert meta.input_size == card["input_size"]
    assert meta.crop_preset == card["crop_preset"]
    assert meta.threshold == pytest.approx(card["threshold"], abs=1e-12)
    assert meta.threshold_method == card["threshold_method"]
    det = create_detector(card["detector"], runtime="torch")
    assert det.info.weights_sha256 == card["sha256"]
    assert det.threshold == pytest.approx(card["threshold"], abs=1e-12)
    size = meta.input_size
    crops = np.random.default_rng(0).integers(0, 255, (3, size, size, 3), dtype=np.uint8)
    p = det.score_crops(crops)
    assert p.shape == (3,) and np.all((p >= 0) & (p <= 1))
