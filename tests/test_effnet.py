"""The effnet family (seed 001): two-class softmax head, cross-entropy loss, class-balanced
epochs, bundle round trip, registration and a scan of a generated video. Networks here are
untrained (random init, no ImageNet file): their scores mean nothing."""

from __future__ import annotations

import json
from importlib import resources

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from fakescope.families.effnet.network import EffNetSoftmax
from fakescope.train.config import ConfigError, LossConfig, TrainConfig
from fakescope.train.losses import CrossEntropyLoss, build_loss

SIZE = 64


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(0)
    model = EffNetSoftmax(pretrained=False)
    # non-trivial BatchNorm statistics, so the eval-mode network is not near-identity
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 1.5)
    return model.eval()


def _batch(n=4, size=SIZE, seed=0):
    return torch.from_numpy(np.random.default_rng(seed).normal(0, 1, (n, 3, size, size))).float()


def test_two_class_head_softmax_and_logit_agree(net):
    x = _batch()
    with torch.no_grad():
        z = net.class_logits(x)
        p = net.predict_proba(x)
        d = net(x)
    assert net.head.out_features == 2 and z.shape == (4, 2) and p.shape == (4, 2)
    assert torch.allclose(p.sum(1), torch.ones(4), atol=1e-6)
    assert torch.all((p >= 0) & (p <= 1))
    # the model's one logit is the softmax log-odds: sigmoid(d) is P(fake) exactly
    assert d.shape == (4,)
    assert torch.allclose(torch.sigmoid(d), p[:, 1], atol=1e-6)
    assert torch.equal(net.last_class_logits, z)
    assert net.embed(x).shape == (4, 1280)
    with pytest.raises(ValueError, match="lite0"):
        EffNetSoftmax(variant="b7", pretrained=False)


def test_ce_loss_is_softmax_cross_entropy_and_validation_matches(net):
    loss = build_loss(LossConfig(name="ce"))
    assert isinstance(loss, CrossEntropyLoss)
    x, y = _batch(6), torch.tensor([0, 1, 1, 0, 1, 0], dtype=torch.float32)
    with torch.no_grad():
        value, logits = loss(net, net, x, y)
        z = net.class_logits(x)
    assert torch.allclose(value, F.cross_entropy(z, y.long()), atol=1e-6)
    # validation sees only the logit; two-class CE on it is the same number
    assert loss.from_logits(net, logits, y) == pytest.approx(float(value), abs=1e-5)
    # soft targets (mixup) are a class distribution
    soft = torch.full((6,), 0.3)
    with torch.no_grad():
        v_soft, _ = loss(net, net, x, soft)
    expected = -(0.7 * F.log_softmax(z, 1)[:, 0] + 0.3 * F.log_softmax(z, 1)[:, 1]).mean()
    assert torch.allclose(v_soft, expected, atol=1e-6)


def test_ce_loss_refuses_a_one_logit_model():
    from fakescope.models import create_model

    m = create_model("fakebuster", widths=[8, 8, 8, 8], stem_width=8, expand=2).eval()
    with pytest.raises(ConfigError, match="two-class softmax head"):
        build_loss(LossConfig(name="ce"))(m, m, _batch(2, 32), torch.zeros(2))
    with pytest.raises(ConfigError, match="bce\\|ce\\|hypersphere"):
        TrainConfig(loss=LossConfig(name="focal")).validate()


def test_a_few_steps_on_generated_images_lower_the_ce_loss():
    """Generated crops (reals: noise; fakes: plus a checkerboard, as tests/train_factory.py) — a fixed batch,
    eight Adam steps with the trainer's CE loss: the loss must fall."""
    rng = np.random.default_rng(0)
    n, size = 16, 32
    yy, xx = np.mgrid[:size, :size]
    checker = ((yy // 2 + xx // 2) % 2 == 0).astype(np.float32)
    y = torch.tensor([i % 2 for i in range(n)], dtype=torch.float32)
    imgs = rng.normal(0, 0.3, (n, 3, size, size)).astype(np.float32)
    imgs[y.numpy() == 1] += 0.8 * checker
    x = torch.from_numpy(imgs)
    torch.manual_seed(0)
    model = EffNetSoftmax(pretrained=False, dropout=0.0).train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = build_loss(LossConfig(name="ce"))
    losses = []
    for _ in range(8):
        loss, _ = loss_fn(model, model, x, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    model.eval()
    with torch.no_grad():
        final = float(F.cross_entropy(model.class_logits(x), y.long()))
    assert losses[-1] < 0.9 * losses[0] and final < losses[0], losses


def _tiny_table(tmp_path, n_real, n_fake):
    import pandas as pd
    from train_factory import write_crops

    table = write_crops(tmp_path / "crops", n_train=24, n_val=8)
    df = pd.read_csv(table)
    train = df[df.split == "train"]
    keep = pd.concat([train[train.label == 0].head(n_real), train[train.label == 1].head(n_fake),
                      df[df.split == "val"]])
    keep.to_csv(table, index=False)
    return table


def _drawn(tmp_path, balance, epochs=6, size=6):
    from fakescope.train.config import DataConfig
    from fakescope.train.ddp import DistInfo
    from fakescope.train.trainer import Trainer, build_crop_dataset, load_split_items

    table = _tiny_table(tmp_path, n_real=3, n_fake=12)  # 1:4, as DFDC videos are
    cfg = TrainConfig(data=DataConfig(table=str(table), image_size=32, class_balance=balance,
                                      epoch_size=size), device="cpu", out_dir=str(tmp_path / "r"))
    t = Trainer(cfg)  # only the loader: no model, no run
    t.dist, t.device = DistInfo(), torch.device("cpu")
    t.train_ds = build_crop_dataset(cfg, load_split_items(cfg).train, train=True)
    return t.train_ds.labels, [list(t._train_loader(e).sampler) for e in range(epochs)]


def test_class_balanced_epochs_of_a_fixed_size(tmp_path):
    labels, drawn = _drawn(tmp_path, balance=True)
    assert all(len(d) == 6 == len(set(d)) for d in drawn)  # without replacement
    assert drawn[0] != drawn[1]  # a new draw every epoch
    share = np.mean([labels[i] == 0 for d in drawn for i in d])
    _, plain = _drawn(tmp_path / "plain", balance=False)
    assert all(len(d) == 6 for d in plain)  # epoch_size alone caps a uniform draw
    plain_share = np.mean([labels[i] == 0 for d in plain for i in d])
    # 3 real of 15 rows: a uniform draw gives ~20 % reals, the balanced one ~45 %
    assert share >= 0.35 and share > plain_share + 0.1, (share, plain_share)


def test_augment_cutout_can_be_turned_off():
    import albumentations as A

    from fakescope.data.augment import build_augment

    names = lambda c: {type(t).__name__ for t in c.transforms}  # noqa: E731
    assert "CoarseDropout" in names(build_augment(1.0, seed=0))
    seed001 = build_augment(1.0, seed=0, cutout=False)
    assert "CoarseDropout" not in names(seed001)
    assert {"ImageCompression", "GaussNoise", "OneOf", "ToGray", "Affine"} <= names(seed001)
    assert isinstance(seed001, A.Compose)


def test_trainer_runs_ce_on_effnet_and_ships_an_effnet_bundle(tmp_path):
    """The recipe's options end to end at toy size (untrained scores)."""
    from train_factory import write_crops

    from fakescope.detectors import create_detector
    from fakescope.detectors.bundle import load_bundle
    from fakescope.train.config import config_from_dict
    from fakescope.train.trainer import Trainer

    table = write_crops(tmp_path / "crops", n_train=16, n_val=8)
    cfg = config_from_dict({
        "data": {"table": str(table), "image_size": 32, "class_balance": True, "epoch_size": 8},
        "model": {"name": "effnet", "kwargs": {"pretrained": False}},
        "loss": {"name": "ce"}, "augment": {"strength": 1.0, "cutout": False},
        "progressive": {"enabled": False}, "mixup": {"enabled": False},
        "export": {"detector": "effnet", "half": True}, "schedule": {"name": "constant"},
        "epochs": 1, "batch_size": 4, "device": "cpu", "threads": 1,
        "out_dir": str(tmp_path / "run"),
    })
    res = Trainer(cfg, progress=False).fit()
    assert res.finished and np.isfinite(res.history[0]["train_loss"])
    bundle = load_bundle(res.bundle_path)
    assert bundle.meta.detector == "effnet" and bundle.meta.model_name == "effnet"
    assert all(v.dtype == torch.float16 for v in bundle.state_dict.values()
               if v.is_floating_point())
    det = create_detector("effnet", weights=res.bundle_path, runtime="torch", device="cpu")
    p = det.score_crops(np.zeros((2, 32, 32, 3), np.uint8))
    assert p.shape == (2,) and np.all((p >= 0) & (p <= 1))


def _save(net, path, half=False):
    from fakescope.detectors.bundle import BundleMeta, save_bundle
    from fakescope.models.backbones import LITE_MEAN, LITE_STD

    meta = BundleMeta(model_name="effnet", model_kwargs={"variant": "lite0", "pretrained": "imagenet"},
                      input_size=SIZE, mean=LITE_MEAN, std=LITE_STD, threshold=0.5,
                      detector="effnet", version="test")
    state = {k: (v.half() if half and v.is_floating_point() else v) for k, v in net.state_dict().items()}
    return save_bundle(path, meta, state)


def test_bundle_round_trip_gives_identical_scores(net, tmp_path):
    from fakescope.detectors import create_detector
    from fakescope.models.backbones import LITE_MEAN, LITE_STD

    sha = _save(net, tmp_path / "e.pt")
    crops = np.random.default_rng(1).integers(0, 255, (5, SIZE, SIZE, 3), dtype=np.uint8)
    det = create_detector("effnet", weights=tmp_path / "e.pt", runtime="torch", device="cpu")
    assert det.info.weights_sha256 == sha
    p = det.score_crops(crops)
    x = (torch.from_numpy(crops).float().permute(0, 3, 1, 2) / 255
         - torch.tensor(LITE_MEAN).view(1, 3, 1, 1)) / torch.tensor(LITE_STD).view(1, 3, 1, 1)
    with torch.no_grad():
        ref = net.predict_proba(x)[:, 1].numpy()
    np.testing.assert_allclose(p, ref, atol=1e-5)  # the score is the softmax P(fake)
    with torch.no_grad():  # what `fakescope analyze` embeds: the input of the softmax head
        np.testing.assert_allclose(det.embed_crops(crops), net.embed(x).numpy(), atol=1e-4)
    again = create_detector("effnet", weights=tmp_path / "e.pt", runtime="torch", device="cpu")
    np.testing.assert_array_equal(again.score_crops(crops), p)
    # fp16 storage (as shipped): two loads agree bit for bit, and stay close to fp32
    _save(net, tmp_path / "h.pt", half=True)
    h1 = create_detector("effnet", weights=tmp_path / "h.pt", runtime="torch", device="cpu")
    h2 = create_detector("effnet", weights=tmp_path / "h.pt", runtime="torch", device="cpu")
    np.testing.assert_array_equal(h1.score_crops(crops), h2.score_crops(crops))
    np.testing.assert_allclose(h1.score_crops(crops), p, atol=0.05)


def test_effnet_is_registered_with_its_packaged_weights():
    from fakescope.cli.main import main
    from fakescope.detectors.registry import describe_detectors, list_detectors
    from fakescope.models import list_models

    assert "effnet" in list_detectors() and "effnet" in list_models()
    listing = {d.name: d for d in describe_detectors()}["effnet"]
    card = resources.files("fakescope") / "weights" / "effnet_dfdc.json"
    if not card.is_file():
        assert listing.weights is None and "no packaged EffNet weights" in listing.problem
        return
    meta = json.loads(card.read_text())
    assert listing.problem is None and listing.sha256 == meta["sha256"]
    assert listing.model == "effnet" and listing.input_size == meta["input_size"]
    assert main(["detectors"]) == 0


@pytest.mark.parametrize("weights", ["untrained", "packaged"])
def test_scan_of_a_generated_video_gives_a_score(net, tmp_path, weights):
    """The clip holds one clear face in every frame: the scan must score it (an abstain here
    means faces or crops were lost on the way, not an acceptable outcome)."""
    from media_factory import make_video

    from fakescope.cli.main import main

    args = []
    if weights == "untrained":
        _save(net, tmp_path / "e.pt")
        args = ["--weights", str(tmp_path / "e.pt")]
    elif not (resources.files("fakescope") / "weights" / "effnet_dfdc.pt").is_file():
        pytest.skip("no packaged effnet weights in this install")
    video = make_video(tmp_path / "v.mp4", n_frames=30)
    out = tmp_path / "r.jsonl"
    rc = main(["scan", str(video), *args, "--detector", "effnet",
               "--out", str(out), "--json", "--min-face", "24", "--device", "cpu"])
    assert rc in (0, 1)
    r = json.loads(out.read_text().splitlines()[0])
    assert r["detector"]["name"] == "effnet"
    assert r["verdict"] in ("fake", "inconclusive", "real"), r.get("reason")
    assert len(r["tracks"]) == 1 and 0.0 <= r["score"] <= 1.0
    t = r["tracks"][0]
    assert len(t["scores"]) >= 8 and np.isclose(r["score"], t["score"])  # per crop, mean = file
    assert np.isclose(t["score"], np.mean(t["scores"]))
