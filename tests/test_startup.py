"""A scan whose model runs in ONNX Runtime starts without torch: the default detector comes up
from its cached graph and ``meta.json``, the default face detector (BlazeFace) needs no torch,
and the scores are the ones the torch-loaded detector gives. Anything that breaks one of
those falls back to loading the bundle, never to a different score."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from fakescope.detectors import create_detector
from fakescope.detectors.runtime import META_FILE
from fakescope.faces.detectors import DEFAULT_FACE_DETECTOR
from tests.media_factory import make_image

CROP_SEED = 7


def _crops(size: int, n: int = 3) -> np.ndarray:
    return np.random.default_rng(CROP_SEED).integers(0, 256, (n, size, size, 3), dtype=np.uint8)


def _run_python(code: str, cache: Path) -> dict:
    env = {**os.environ, "FAKESCOPE_CACHE_DIR": str(cache), "CUDA_VISIBLE_DEVICES": "-1",
           "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "")}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=300, cwd=Path(__file__).resolve().parents[1])
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def warmed_cache(tmp_path_factory) -> tuple[Path, np.ndarray]:
    """The cache after one torch-loaded start with runtime onnx, and that start's scores."""
    cache = tmp_path_factory.mktemp("fscache")
    code = f"""
import json, numpy as np
from fakescope.detectors import create_detector
d = create_detector("faceblend", runtime="onnx", cache_dir={str(cache / 'onnx')!r})
x = np.random.default_rng({CROP_SEED}).integers(0, 256, (3, d.requirements.input_size,
    d.requirements.input_size, 3), dtype=np.uint8)
print(json.dumps({{"scores": d.score_crops(x).tolist()}}))
"""
    scores = np.asarray(_run_python(code, cache)["scores"], dtype=np.float32)
    return cache, scores


TORCH_FREE = """
import json, sys, numpy as np
from fakescope.detectors import create_detector
d = create_detector("faceblend", runtime={runtime!r})
x = np.random.default_rng({seed}).integers(0, 256, (3, d.requirements.input_size,
    d.requirements.input_size, 3), dtype=np.uint8)
s = d.score_crops(x).tolist()
print(json.dumps({{"scores": s, "torch": "torch" in sys.modules, "runtime": d.runtime,
                  "sha": d.info.weights_sha256, "threshold": d.threshold}}))
"""


def test_cached_graph_starts_without_torch_and_scores_the_same(warmed_cache):
    cache, reference = warmed_cache
    assert any((p / META_FILE).is_file() for p in (cache / "onnx").iterdir())
    got = _run_python(TORCH_FREE.format(runtime="onnx", seed=CROP_SEED), cache)
    assert got["torch"] is False
    assert got["runtime"] == "onnx"
    np.testing.assert_allclose(got["scores"], reference, atol=1e-6)
    ref = create_detector("faceblend", runtime="torch")
    assert got["sha"] == ref.info.weights_sha256
    assert got["threshold"] == pytest.approx(ref.threshold)


def test_torch_loaded_on_demand_for_explanations(warmed_cache, monkeypatch):
    cache, _ = warmed_cache
    monkeypatch.setenv("FAKESCOPE_CACHE_DIR", str(cache))
    d = create_detector("faceblend", runtime="onnx", device="cpu")
    assert d._model is None and d._bundle is None  # came up from the cached graph
    crops = _crops(d.requirements.input_size, n=2)
    maps = d.explain_crops(crops)
    assert maps is not None and maps.shape[0] == 2
    assert d.bundle.sha256 == d.info.weights_sha256  # the bundle read lazily, sha checked


def test_damaged_cache_falls_back_to_the_bundle(warmed_cache, tmp_path):
    cache, reference = warmed_cache
    broken = tmp_path / "broken"
    (broken / "onnx").mkdir(parents=True)
    for entry in (cache / "onnx").iterdir():
        target = broken / "onnx" / entry.name
        target.mkdir()
        (target / META_FILE).write_text((entry / META_FILE).read_text())
        (target / "model.onnx").write_bytes(b"not an onnx graph")
    code = TORCH_FREE.format(runtime="auto", seed=CROP_SEED)
    got = _run_python(code, broken)
    assert got["torch"] is True  # the bundle was loaded the usual way
    np.testing.assert_allclose(got["scores"], reference, atol=1e-4)


def test_meta_for_another_family_is_not_trusted(warmed_cache, tmp_path):
    cache, reference = warmed_cache
    other = tmp_path / "other"
    for entry in (cache / "onnx").iterdir():
        target = other / "onnx" / entry.name
        target.mkdir(parents=True)
        (target / "model.onnx").write_bytes((entry / "model.onnx").read_bytes())
        meta = json.loads((entry / META_FILE).read_text())
        meta["detector"] = "fakebuster"
        (target / META_FILE).write_text(json.dumps(meta))
    got = _run_python(TORCH_FREE.format(runtime="onnx", seed=CROP_SEED), other)
    assert got["torch"] is True
    np.testing.assert_allclose(got["scores"], reference, atol=1e-6)


def test_one_image_scan_imports_no_torch(warmed_cache, tmp_path):
    """The default scan of one image (BlazeFace faces, the default detector on its cached
    ONNX graph) runs end to end without importing torch or scikit-learn."""
    cache, _ = warmed_cache
    assert DEFAULT_FACE_DETECTOR == "blazeface"
    image = make_image(tmp_path / "face.png")
    out = tmp_path / "r.jsonl"
    code = f"""
import json, sys
from fakescope.cli.main import main
rc = main(["scan", "--in-process", "--runtime", "onnx", "--json", "--out", {str(out)!r},
           {str(image)!r}])
heavy = sorted(m for m in ("torch", "torchvision", "sklearn", "facenet_pytorch")
               if m in sys.modules)
print(json.dumps({{"rc": rc, "heavy": heavy}}))
"""
    got = _run_python(code, cache)
    assert got["heavy"] == []
    assert got["rc"] in (0, 1)
    record = json.loads(out.read_text().splitlines()[-1])
    assert record["verdict"] in ("real", "fake") and len(record["tracks"]) >= 1
