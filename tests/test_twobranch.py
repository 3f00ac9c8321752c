"""The twobranch family (seed 003): Deep LoG, hypersphere loss, per-block learning rates, and a
tiny untrained network through the real `fakescope scan` (its scores mean nothing)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from fakescope.families.twobranch.network import DeepLoG, densenet_twobranch
from fakescope.train.losses import hypersphere_loss

TINY = {"growth_rate": 4, "block_config": [1, 1, 1, 1], "num_init_features": 8,
        "lstm_hidden": 8}


def test_deep_log_suppresses_a_constant_image_and_passes_edges():
    torch.manual_seed(0)
    layer = DeepLoG(3, 6, scales=3)
    flat = torch.full((1, 3, 32, 32), 0.7)
    assert layer(flat).abs().max() < 1e-5
    step = torch.zeros(1, 3, 32, 32)
    step[..., 16:] = 1.0  # a vertical edge
    bands = layer.bands(step)
    assert bands.shape == (1, 9, 32, 32)
    energy = bands.abs().mean((0, 1, 2))  # per column
    assert energy[14:18].min() > 0.05  # at the edge
    assert energy[:4].max() < 0.2 * energy[14:18].min()  # far from it: little left
    assert layer(step).abs().max() > 1e-3


def test_hypersphere_loss_is_zero_only_on_the_right_side_of_the_radii():
    r_minus, r_plus = 0.5, 2.0
    d = torch.tensor([0.1, 0.4, 2.5, 3.0])
    fake = torch.tensor([0, 0, 1, 1])
    assert hypersphere_loss(d, fake, r_minus, r_plus) == 0
    # a real outside r-, a fake inside r+: positive, by the margin violated
    loss = hypersphere_loss(torch.tensor([0.8, 1.5]), torch.tensor([0, 1]), r_minus, r_plus)
    assert loss.item() == pytest.approx((0.8 - 0.5) + (2.0 - 1.5))
    assert hypersphere_loss(torch.tensor([1.0]), torch.tensor([0]), r_minus, r_plus) > 0
    assert hypersphere_loss(torch.tensor([1.0]), torch.tensor([1]), r_minus, r_plus) > 0


def test_per_block_learning_rates_follow_the_config():
    from fakescope.train.config import load_config
    from fakescope.train.schedules import build_optimizer

    cfg = load_config(None, ["data.table=x.csv", "optim.name=adam", "optim.lr=1e-3",
                             "optim.layer_decay=0.5"], validate=False)
    model = densenet_twobranch(**TINY)
    opt = build_optimizer(model, cfg.optim)
    lr = {}
    for g in opt.param_groups:
        lr.setdefault(g["name"].removesuffix(".no_decay"), g["lr"])
    # the LoG branch and the fusion at mu; the others mu / 2^L, L counted from the LSTM
    order = ["stem", "rgb", "stage0", "stage1", "stage2", "lstm"]
    assert lr["log"] == lr["fusion"] == pytest.approx(1e-3)
    for depth, name in enumerate(reversed(order)):
        assert lr[name] == pytest.approx(1e-3 / 2**depth), name
    assert isinstance(opt, torch.optim.Adam)
    n_params = sum(p.numel() for g in opt.param_groups for p in g["params"])
    assert n_params == sum(p.numel() for p in model.parameters())


def test_network_shapes_follow_the_paper():
    model = densenet_twobranch(block_config=(6, 12, 24, 16)).eval()
    x = torch.zeros(1, 3, 224, 224)
    with torch.no_grad():
        stem = model.stem(x)
        assert model.rgb(stem).shape == model.log_block(model.deep_log(stem)).shape == (1, 128, 28, 28)
        assert model.frame_features(x).shape == (1, 1024)
        assert model.fusion.groups == 2
        assert model.embed(torch.zeros(1, 2, 3, 64, 64)).shape == (1, 256)  # 128 per direction


def test_scan_cli_runs_a_twobranch_bundle(tmp_path):
    """A tiny twobranch bundle through `fakescope scan` (isolated worker, discovery)."""
    from media_factory import make_video

    from fakescope.cli.main import main
    from fakescope.detectors.bundle import BundleMeta, save_bundle

    torch.manual_seed(0)
    model = densenet_twobranch(**TINY)
    meta = BundleMeta(model_name="twobranch", model_kwargs=TINY, input_size=64,
                      mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225), threshold=0.5,
                      detector="twobranch", unit="sequence", sequence_length=4, frame_step=3,
                      windows=2, crop_preset="dfdc_tight")
    save_bundle(tmp_path / "tb.pt", meta, model.state_dict())
    video = make_video(tmp_path / "v.mp4", n_frames=40)
    out = tmp_path / "r.jsonl"
    rc = main(["scan", str(video), "--weights", str(tmp_path / "tb.pt"), "--out", str(out),
               "--json", "--min-face", "24", "--device", "cpu"])
    assert rc in (0, 1)
    r = json.loads(out.read_text().splitlines()[0])
    assert r["verdict"] in ("fake", "real") and r["detector"]["name"] == "twobranch"
    t = r["tracks"][0]
    assert len(t["units"]) == len(t["scores"]) == 2 and all(len(u) == 4 for u in t["units"])
    assert np.isclose(t["score"], np.mean(t["scores"]))


def test_twobranch_without_weights_says_so(tmp_path, monkeypatch, capsys):
    import re

    from fakescope.cli.main import main as cli_main
    from fakescope.detectors import create_detector
    from fakescope.detectors.registry import describe_detectors
    from fakescope.errors import WeightsError

    with pytest.raises(WeightsError, match="no packaged twobranch weights") as err:
        create_detector("twobranch")
    # the command the message offers is one `fakescope train` accepts, run from the repository
    command = re.search(r"`fakescope (train [^`]+)`", str(err.value)).group(1)
    repo = Path(__file__).resolve().parents[1]
    monkeypatch.chdir(repo)
    argv = command.replace("RUN", str(tmp_path / "run")).split() + ["--print-config"]
    assert cli_main(argv) == 0
    assert f"out_dir: {tmp_path / 'run'}" in capsys.readouterr().out
    listing = {d.name: d for d in describe_detectors()}["twobranch"]
    assert listing.unit == "sequence" and listing.weights is None and listing.problem


def test_hypersphere_centre_is_the_mean_real_embedding_and_calibration_fits():
    from fakescope.train.config import LossConfig
    from fakescope.train.losses import HypersphereLoss

    torch.manual_seed(0)
    model = densenet_twobranch(**TINY)
    x = torch.randn(6, 3, 3, 32, 32)
    y = torch.tensor([0, 1, 0, 1, 0, 0], dtype=torch.float32)
    loss = HypersphereLoss(LossConfig(name="hypersphere", r_minus=0.1, r_plus=1.0))
    loss.prepare(model, [(x[:3], y[:3]), (x[3:], y[3:])], torch.device("cpu"))
    model.eval()
    with torch.no_grad():
        expected = model.embed(x[y == 0]).mean(0)
        assert torch.allclose(model.hypersphere.center, expected, atol=1e-5)
        assert model.hypersphere.offset == pytest.approx(0.55)
        d = model.hypersphere.distance(model.embed(x))
        logits = model(x)
    assert torch.allclose(model.hypersphere.distance_of(logits), d, atol=1e-5)
    # fakes farther from the centre on validation: the fitted map rises with the distance
    labels = (d > d.median()).numpy().astype(int)
    assert loss.calibrate(model, logits.numpy(), labels)
    assert model.hypersphere.scale > 0
    with torch.no_grad():
        p = torch.sigmoid(model(x))
    assert (p[torch.from_numpy(labels) == 1].min() > p[torch.from_numpy(labels) == 0].max())
