"""A scan whose model runs in ONNX Runtime starts without torch: the default detector comes up
from the ONNX graph shipped beside its weights (or, for a user's weights, from the graph and
``meta.json`` cached after their first run), the default face detector (BlazeFace) needs no
torch, and the scores are the ones the torch-loaded detector gives. Anything that breaks one
of those falls back to loading the bundle, never to a different score."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from fakescope.detectors import create_detector
from fakescope.detectors.runtime import BATCH, CHOICE_FILE, META_FILE, RuntimeChoice, thread_key
from fakescope.faces.detectors import DEFAULT_FACE_DETECTOR
from fakescope.families.faceblend import detector as faceblend
from tests.media_factory import make_image

CROP_SEED = 7
REPO = Path(__file__).resolve().parents[1]


def _run_python(code: str, cache: Path) -> dict:
    env = {**os.environ, "FAKESCOPE_CACHE_DIR": str(cache), "CUDA_VISIBLE_DEVICES": "-1"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=300, cwd=REPO)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


START = """
import json, sys, numpy as np
from fakescope.detectors import create_detector
d = create_detector("faceblend", weights={weights!r}, runtime={runtime!r})
x = np.random.default_rng({seed}).integers(0, 256, (3, d.requirements.input_size,
    d.requirements.input_size, 3), dtype=np.uint8)
s = d.score_crops(x).tolist()
print(json.dumps({{"scores": s, "torch": "torch" in sys.modules, "runtime": d.runtime,
                  "sha": d.info.weights_sha256, "threshold": d.threshold}}))
"""


def _start(cache: Path, weights: str | None = None, runtime: str = "auto") -> dict:
    return _run_python(START.format(weights=weights, runtime=runtime, seed=CROP_SEED), cache)


@pytest.fixture(scope="module")
def reference() -> tuple[np.ndarray, str, float]:
    """Scores of the torch-loaded default detector on the test crops, its sha and threshold."""
    d = create_detector("faceblend", runtime="torch")
    size = d.requirements.input_size
    x = np.random.default_rng(CROP_SEED).integers(0, 256, (3, size, size, 3), dtype=np.uint8)
    return d.score_crops(x), d.info.weights_sha256, d.threshold


@pytest.fixture(scope="module")
def user_weights(tmp_path_factory) -> tuple[Path, Path]:
    """A user's copy of the default weights, and a cache after its first (torch) start."""
    root = tmp_path_factory.mktemp("user")
    weights = root / "mine.pt"
    shutil.copyfile(faceblend.packaged_weights()[0], weights)
    cache = root / "cache"
    assert _start(cache, str(weights), runtime="onnx")["torch"] is True  # exported here
    return weights, cache


def test_first_start_runs_the_shipped_graph_without_torch(tmp_path, reference):
    scores, sha, threshold = reference
    got = _start(tmp_path / "empty-cache")
    assert got["torch"] is False and got["runtime"] == "onnx"
    np.testing.assert_allclose(got["scores"], scores, atol=1e-6)
    assert got["sha"] == sha and got["threshold"] == pytest.approx(threshold)


def test_the_shipped_graph_belongs_to_the_shipped_weights():
    """Re-shipping the bundle without `scripts/ship_onnx.py` would leave a graph of other
    weights: it would then not be used, and this test says so."""
    graph = faceblend.packaged_graph()
    assert graph is not None, "no usable weights/faceblend_dfdc.onnx: run scripts/ship_onnx.py"
    path, sha = faceblend.packaged_weights()
    assert graph.bundle_sha256 == sha
    from fakescope.detectors.bundle import load_bundle

    assert graph.meta == load_bundle(path, expected_sha256=sha).meta


def test_a_tampered_shipped_graph_is_not_used(tmp_path, monkeypatch):
    from fakescope.detectors import torch_bundle

    folder = tmp_path / "weights"
    shutil.copytree(Path(faceblend.packaged_weights()[0]).parent, folder)
    graph = folder / "faceblend_dfdc.onnx"
    graph.write_bytes(graph.read_bytes()[:-10] + b"0123456789")

    class _Files:
        def __truediv__(self, name):
            return tmp_path / name

    monkeypatch.setattr(torch_bundle.resources, "files", lambda _pkg: _Files())
    assert faceblend.packaged_graph() is None


def test_user_weights_start_from_their_cached_graph(user_weights, reference):
    weights, cache = user_weights
    assert any((p / META_FILE).is_file() for p in (cache / "onnx").iterdir())
    got = _start(cache, str(weights), runtime="onnx")
    assert got["torch"] is False
    np.testing.assert_allclose(got["scores"], reference[0], atol=1e-6)


def test_torch_loaded_on_demand_for_explanations(tmp_path, monkeypatch):
    monkeypatch.setenv("FAKESCOPE_CACHE_DIR", str(tmp_path))
    d = create_detector("faceblend", runtime="onnx", device="cpu")
    assert d._model is None and d._bundle is None  # came up from the shipped graph
    crops = np.random.default_rng(0).integers(0, 256, (2, 160, 160, 3), dtype=np.uint8)
    maps = d.explain_crops(crops)
    assert maps is not None and maps.shape[0] == 2
    assert d.bundle.sha256 == d.info.weights_sha256  # the bundle read lazily, sha checked


def test_damaged_cache_falls_back_and_is_repaired(user_weights, reference, tmp_path):
    weights, cache = user_weights
    broken = tmp_path / "broken"
    shutil.copytree(cache, broken)
    for entry in (broken / "onnx").iterdir():
        (entry / "model.onnx").write_bytes(b"not an onnx graph")
    got = _start(broken, str(weights), runtime="onnx")
    assert got["torch"] is True  # the bundle was loaded the usual way
    np.testing.assert_allclose(got["scores"], reference[0], atol=1e-5)
    again = _start(broken, str(weights), runtime="onnx")  # the graph was exported again
    assert again["torch"] is False


def test_meta_for_another_family_is_not_trusted(user_weights, reference, tmp_path):
    weights, cache = user_weights
    other = tmp_path / "other"
    shutil.copytree(cache, other)
    for entry in (other / "onnx").iterdir():
        meta = json.loads((entry / META_FILE).read_text())
        meta["detector"] = "fakebuster"
        (entry / META_FILE).write_text(json.dumps(meta))
    got = _start(other, str(weights), runtime="onnx")
    assert got["torch"] is True
    np.testing.assert_allclose(got["scores"], reference[0], atol=1e-6)


def test_a_measured_torch_win_is_respected(tmp_path, reference):
    """`auto` keeps PyTorch where it was measured faster here, shipped graph or not."""
    import onnxruntime as ort
    import torch

    folder = tmp_path / "onnx" / reference[1]
    folder.mkdir(parents=True)
    choice = RuntimeChoice(runtime="torch", torch_s=0.01, onnx_s=0.02, max_abs_diff=0.0,
                           batch=BATCH, input_size=160, threads=torch.get_num_threads(),
                           torch_version=torch.__version__,
                           onnxruntime_version=ort.__version__, thread_key=thread_key())
    (folder / CHOICE_FILE).write_text(json.dumps(dataclasses.asdict(choice)))
    assert _start(tmp_path)["torch"] is True


def test_one_image_scan_imports_no_torch(tmp_path):
    """The default scan of one image on a machine that never ran fakescope (empty cache):
    BlazeFace faces, the default detector on its shipped graph; no torch, no scikit-learn."""
    assert DEFAULT_FACE_DETECTOR == "blazeface"
    image = make_image(tmp_path / "face.png")
    out = tmp_path / "r.jsonl"
    code = f"""
import json, sys
from fakescope.cli.main import main
rc = main(["scan", "--in-process", "--json", "--out", {str(out)!r}, {str(image)!r}])
heavy = sorted(m for m in ("torch", "torchvision", "sklearn", "facenet_pytorch")
               if m in sys.modules)
print(json.dumps({{"rc": rc, "heavy": heavy}}))
"""
    got = _run_python(code, tmp_path / "empty-cache")
    assert got["heavy"] == []
    assert got["rc"] in (0, 1)
    record = json.loads(out.read_text().splitlines()[-1])
    assert record["verdict"] in ("real", "fake") and len(record["tracks"]) >= 1


def test_ship_graph_stores_fp16_weights_and_the_bundle_identity(tmp_path):
    """What a ship script writes beside new weights: a graph of fp16-stored weights (the
    bundle's, exactly) whose metadata names the bundle, scoring as PyTorch does."""
    import onnx
    import torch

    from fakescope.detectors.bundle import load_bundle, save_bundle
    from fakescope.detectors.runtime import OnnxRunner, onnx_session
    from fakescope.detectors.shipping import install_weights, ship_graph
    from fakescope.detectors.torch_bundle import GRAPH_BUNDLE_KEY, GRAPH_META_KEY
    from tests.bundle_factory import make_bundle

    path, _, _ = make_bundle(tmp_path / "b32.pt")
    b32 = load_bundle(path)
    half = {k: v.half() if v.is_floating_point() else v for k, v in b32.state_dict.items()}
    sha = save_bundle(tmp_path / "run.pt", b32.meta, half)  # fp16, as bundles ship
    bundle = load_bundle(tmp_path / "run.pt", expected_sha256=sha)
    dst = install_weights(tmp_path / "run.pt", tmp_path / "weights", "toy", sha)
    fields = ship_graph(bundle, dst)
    graph = dst.with_suffix(".onnx")
    assert fields["onnx_bytes"] == graph.stat().st_size and fields["onnx_max_logit_diff"] <= 1e-5
    inits = onnx.load(str(graph)).graph.initializer
    assert all(i.data_type != onnx.TensorProto.FLOAT for i in inits if len(i.dims) > 1)
    props = onnx_session(graph).get_modelmeta().custom_metadata_map
    assert props[GRAPH_BUNDLE_KEY] == sha and json.loads(props[GRAPH_META_KEY])["version"] == "test-1"
    from fakescope.detectors.bundle import build_model

    x = np.random.default_rng(1).standard_normal((4, 3, bundle.meta.input_size,
                                                  bundle.meta.input_size), dtype=np.float32)
    with torch.inference_mode():
        ref = build_model(bundle)(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(OnnxRunner(graph)(x), ref, atol=1e-5)
