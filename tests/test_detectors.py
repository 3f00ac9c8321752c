"""Detector protocol, registry and the FakeBuster detector (bundle loading, runtimes).

The bundles here hold *untrained* networks: the scores mean nothing, so these tests check the
plumbing (shapes, ranges, identity, agreement between runtimes), never a verdict.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from bundle_factory import MEAN, SIZE, make_bundle

from fakescope.detectors import Detector, create_detector, list_detectors, register_detector
from fakescope.families.fakebuster import detector as fb
from fakescope.detectors import runtime as rt
from fakescope.detectors.bundle import BundleMeta, save_bundle
from fakescope.errors import WeightsError
from fakescope.models import create_model

@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    return make_bundle(tmp_path_factory.mktemp("bundle") / "fb.pt")


@pytest.fixture()
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FAKESCOPE_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture(scope="module")
def crops():
    rng = np.random.default_rng(1)
    return rng.integers(0, 256, size=(5, SIZE, SIZE, 3), dtype=np.uint8)


def test_registry_lists_and_rejects():
    assert "fakebuster" in list_detectors()
    with pytest.raises(KeyError, match="unknown detector 'nope'"):
        create_detector("nope")
    with pytest.raises(ValueError, match="already registered"):
        register_detector("fakebuster")(lambda **kw: None)


def test_identity_requirements_threshold(bundle, cache):
    path, sha, _ = bundle
    det = create_detector("fakebuster", weights=str(path), runtime="torch")
    assert isinstance(det, Detector)
    assert det.info.name == "fakebuster"
    assert det.info.version == "test-1"
    assert det.info.weights_sha256 == sha
    req = det.requirements
    assert (req.input_size, req.crop_preset, req.sequence_length) == (SIZE, "dfdc_tight", 1)
    assert req.mean == pytest.approx(MEAN)
    assert det.threshold == pytest.approx(0.42)


def test_scores_match_the_model_with_bundle_normalisation(bundle, crops, cache):
    path, _, model = bundle
    det = create_detector(weights=path, runtime="torch")
    probs = det.score_crops(crops)
    assert probs.shape == (5,) and probs.dtype == np.float32
    assert np.all((probs >= 0) & (probs <= 1))
    x = torch.from_numpy(crops).permute(0, 3, 1, 2).float() / 255
    x = (x - torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)) / torch.tensor(
        [0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    with torch.no_grad():
        expected = torch.sigmoid(model.eval()(x)).numpy()
    np.testing.assert_allclose(probs, expected, atol=1e-5)
    assert det.score_crops(crops[:0]).shape == (0,)


def test_batching_does_not_change_scores(bundle, crops, cache):
    path = bundle[0]
    a = create_detector(weights=path, runtime="torch", batch_size=2).score_crops(crops)
    b = create_detector(weights=path, runtime="torch", batch_size=16).score_crops(crops)
    np.testing.assert_allclose(a, b, atol=1e-6)


def test_bad_crops_are_rejected(bundle, cache):
    det = create_detector(weights=bundle[0], runtime="torch")
    with pytest.raises(ValueError, match="shape"):
        det.score_crops(np.zeros((2, SIZE + 1, SIZE, 3), np.uint8))
    with pytest.raises(ValueError, match="uint8"):
        det.score_crops(np.zeros((2, SIZE, SIZE, 3), np.float32))


def test_onnx_runtime_agrees_with_torch(bundle, crops, cache):
    path, sha, _ = bundle
    t = create_detector(weights=path, runtime="torch")
    o = create_detector(weights=path, runtime="onnx")
    assert (t.runtime, o.runtime) == ("torch", "onnx")
    assert (cache / "onnx" / sha / "model.onnx").is_file()  # exported once, keyed by sha256
    np.testing.assert_allclose(o.score_crops(crops), t.score_crops(crops), atol=1e-4)


def test_auto_runtime_measures_once_and_agrees(bundle, crops, cache, monkeypatch):
    path, sha, _ = bundle
    first = create_detector(weights=path, runtime="auto", device="cpu")
    choice_file = cache / "onnx" / sha / "runtime.json"
    choice = json.loads(choice_file.read_text())
    assert choice["runtime"] == first.runtime in ("torch", "onnx")
    assert choice["torch_s"] > 0 and choice["onnx_s"] > 0
    assert choice["max_abs_diff"] <= rt.AGREEMENT_TOL
    # The cached measurement decides next time: measuring again would be an error here.
    monkeypatch.setattr(rt, "measure_runtimes", lambda *a, **k: pytest.fail("re-measured"))
    second = create_detector(weights=path, runtime="auto", device="cpu")
    assert second.runtime == first.runtime
    torch_scores = create_detector(weights=path, runtime="torch").score_crops(crops)
    np.testing.assert_allclose(second.score_crops(crops), torch_scores, atol=1e-4)


def test_auto_falls_back_to_torch_when_onnx_fails(bundle, crops, cache, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("exporter exploded")

    monkeypatch.setattr(rt, "onnx_graph", broken)
    det = create_detector(weights=bundle[0], runtime="auto", device="cpu")
    assert det.runtime == "torch" and det.score_crops(crops).shape == (5,)
    with pytest.raises(RuntimeError, match="exploded"):  # asked for explicitly: no fallback
        create_detector(weights=bundle[0], runtime="onnx")


def test_onnx_runtime_is_cpu_only(bundle, cache):
    with pytest.raises(ValueError, match="CPU only"):
        create_detector(weights=bundle[0], runtime="onnx", device="cuda")
    with pytest.raises(ValueError, match="runtime must be one of"):
        create_detector(weights=bundle[0], runtime="tensorrt")


def test_explain_crops_gives_attention_maps(bundle, crops, cache):
    det = create_detector(weights=bundle[0], runtime="onnx")
    maps = det.explain_crops(crops)
    assert maps.shape[0] == len(crops) and maps.ndim == 3
    assert np.all(maps >= 0)
    # Each map is a softmax averaged over queries: it sums to 1 over positions.
    np.testing.assert_allclose(maps.sum(axis=(1, 2)), 1.0, atol=1e-4)


def test_model_without_attention_explains_nothing(tmp_path, crops, cache):
    path, _, _ = make_bundle(tmp_path / "base.pt", model_name="fakebuster_baseline")
    det = create_detector(weights=path, runtime="torch")
    assert det.explain_crops(crops) is None
    assert det.score_crops(crops).shape == (5,)


def test_missing_packaged_weights_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(fb, "PACKAGED_WEIGHTS", "does_not_exist.pt")
    with pytest.raises(WeightsError, match="--weights"):
        create_detector("fakebuster")


def test_packaged_weights_are_pinned(bundle, monkeypatch, cache):
    path, sha, _ = bundle
    monkeypatch.setattr(fb, "packaged_weights", lambda: (path, "0" * 64))
    with pytest.raises(WeightsError, match="does not match the pinned"):
        create_detector("fakebuster")
    monkeypatch.setattr(fb, "packaged_weights", lambda: (path, sha))
    assert create_detector("fakebuster", runtime="torch").info.weights_sha256 == sha


def test_weights_that_do_not_fit_the_model(tmp_path, cache):
    model = create_model("fakebuster", widths=(8, 8, 8, 8))
    meta = BundleMeta(model_name="fakebuster", model_kwargs={}, input_size=SIZE)
    path = tmp_path / "bad.pt"
    save_bundle(path, meta, model.state_dict())
    with pytest.raises(WeightsError, match="do not fit"):
        create_detector(weights=path, runtime="torch")
    path2 = tmp_path / "other.pt"
    save_bundle(path2, BundleMeta(model_name="fakebuster", model_kwargs={}, input_size=SIZE,
                                  detector="other"), model.state_dict())
    with pytest.raises(WeightsError, match="not 'fakebuster'"):
        create_detector("fakebuster", weights=path2, runtime="torch")
    with pytest.raises(WeightsError, match="'other', which is not registered"):
        create_detector(weights=path2, runtime="torch")


def test_not_a_bundle(tmp_path):
    bad = tmp_path / "x.pt"
    bad.write_bytes(b"not a torch file")
    with pytest.raises(WeightsError, match="not a fakescope detector bundle"):
        create_detector(weights=bad)
    with pytest.raises(WeightsError, match="not found"):
        create_detector(weights=tmp_path / "missing.pt")


def test_scan_normalises_crops_as_training_does():
    """One normalisation: the detector's numpy path gives the training loader's tensors."""
    from fakescope.data.datasets import to_tensor
    from fakescope.detectors.torch_bundle import normalise

    crops = np.random.default_rng(0).integers(0, 256, (3, 20, 20, 3), dtype=np.uint8)
    for mean, std in [((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)), ((0.5,) * 3, (0.5,) * 3)]:
        got = normalise(crops, np.array(mean), np.array(std))
        assert got.dtype == np.float32 and got.shape == (3, 3, 20, 20) and got.flags.c_contiguous
        np.testing.assert_allclose(got, to_tensor(crops, mean, std).numpy(), atol=1e-6)
