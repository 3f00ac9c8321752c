"""Trainer, config, schedules and checkpoints, on a tiny synthetic crop set (seconds each)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from train_factory import TINY_MODEL, tiny_overrides, write_crops

from fakescope.data.splits import check_no_leakage
from fakescope.detectors import create_detector
from fakescope.detectors.bundle import load_bundle
from fakescope.evaluate.metrics import roc_auc
from fakescope.evaluate.predict import predict_items, read_item_table, select_split
from fakescope.families.fakebuster import FakeBuster
from fakescope.train.checkpoint import bundle_from_checkpoint, load_checkpoint
from fakescope.train.config import (
    ConfigError,
    OptimConfig,
    ScheduleConfig,
    TrainConfig,
    load_config,
)
from fakescope.train.schedules import (
    AugmentSchedule,
    LRSchedule,
    build_optimizer,
    model_blocks,
    param_groups,
    sgdr_factor,
)
from fakescope.train.trainer import Trainer

OVERFIT = {
    "epochs": 12, "augment.enabled": False, "mixup.enabled": False, "optim.lr": 1e-2,
    "schedule.name": "constant", "early_stopping.enabled": False,
    "model.kwargs": "{widths: [8, 8, 8, 8], stem_width: 8, expand: 2, dropout: 0.0}",
}


@pytest.fixture(scope="module")
def crops(tmp_path_factory):
    return write_crops(tmp_path_factory.mktemp("crops"), n_train=24, n_val=12)


@pytest.fixture(scope="module")
def overfit_run(crops, tmp_path_factory):
    out = tmp_path_factory.mktemp("overfit")
    cfg = load_config(None, tiny_overrides(crops, out, OVERFIT))
    return cfg, Trainer(cfg, progress=False).fit()


# ------------------------------------------------------------------------------- config
def test_config_needs_one_data_source():
    with pytest.raises(ConfigError, match="exactly one of data.table or data.crops_csv"):
        TrainConfig().validate()


def test_yaml_paths_are_relative_to_the_file_and_overrides_to_cwd(tmp_path, monkeypatch):
    (tmp_path / "configs").mkdir()
    cfg_file = tmp_path / "configs" / "run.yaml"
    cfg_file.write_text(
        "data:\n  table: ../data/items.csv\n  cache_dir: ../cache\n"
        "optim:\n  lr: 3e-4\n  betas: [0.8, 0.99]\n"
        "model:\n  kwargs: {expand: 2}\n"
    )
    monkeypatch.chdir(tmp_path / "configs")
    cfg = load_config(cfg_file, ["out_dir=runs/a", "optim.layer_decay=0.5",
                                 "model.kwargs.dropout=0.1"])
    assert cfg.data.table == str((tmp_path / "data" / "items.csv").resolve())
    assert cfg.data.cache_dir == str((tmp_path / "cache").resolve())
    assert cfg.out_dir == str((tmp_path / "configs" / "runs" / "a").resolve())
    assert cfg.optim.lr == pytest.approx(3e-4)  # YAML reads 3e-4 as a string: coerced
    assert cfg.optim.betas == (0.8, 0.99)
    assert cfg.optim.layer_decay == 0.5
    assert cfg.model.kwargs == {"expand": 2, "dropout": 0.1}  # merged, not replaced


@pytest.mark.parametrize(
    "text, message",
    [
        ("optim:\n  learning_rate: 0.1\n", "unknown key.*learning_rate"),
        ("epochs: many\n", "epochs: expected an integer"),
        ("optim: {name: rmsprop}\n", "optim.name 'rmsprop'"),
        ("mixup: {prob: 1.5}\n", "mixup.prob"),
        ("export: {threshold_method: youdan}\n", "threshold_method 'youdan'"),
        ("export: {threshold_method: far}\n", "threshold_target"),
        ("blend: {mode: mix, pairs: true}\n", "blend.pairs needs blend.mode: only"),
        ("blend: {mode: only, synth: faceswap}\n", "blend.synth 'faceswap'"),
        ("augment: {preset: heavy}\n", "augment.preset 'heavy'"),
        ("- just a list\n", "mapping"),
    ],
)
def test_bad_configs_are_refused_with_the_reason(tmp_path, text, message):
    f = tmp_path / "bad.yaml"
    f.write_text("data: {table: t.csv}\n" + text if not text.startswith("-") else text)
    with pytest.raises(ConfigError, match=message):
        load_config(f)


def test_bad_override_is_refused():
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        load_config(None, ["optim.lr"])
    with pytest.raises(ConfigError, match="unknown key"):
        load_config(None, ["data.table=x.csv", "optim.nope=1"])


# ---------------------------------------------------------------------------- schedules
def test_backbone_classifier_gives_one_block_per_trunk_stage():
    from fakescope.models.backbones import mobilenet_v2

    model = mobilenet_v2(pretrained=False)
    cfg = OptimConfig(lr=1e-3, layer_decay=0.8)
    names = [n for n, _ in model_blocks(model)]
    assert names == [f"features.{i}" for i in range(len(model.features))] + ["head"]
    lr_of = {g["name"]: g["lr"] for g in param_groups(model, cfg)}
    assert lr_of["head"] == pytest.approx(1e-3)
    assert lr_of["features.0"] == pytest.approx(1e-3 * 0.8 ** (len(names) - 1))
    ids = [id(p) for g in param_groups(model, cfg) for p in g["params"]]
    assert sorted(ids) == sorted(id(p) for p in model.parameters())


def test_per_block_learning_rates_decay_towards_the_input():
    model = FakeBuster(**TINY_MODEL)
    cfg = OptimConfig(lr=1e-2, layer_decay=0.5, weight_decay=0.05)
    groups = param_groups(model, cfg)
    names = [n for n, _ in model_blocks(model)]
    assert names[0] == "stem" and names[-1] == "head"
    n = len(names)
    lr_of = {g["name"]: g["lr"] for g in groups}
    assert lr_of["head"] == pytest.approx(1e-2)
    assert lr_of["stem"] == pytest.approx(1e-2 * 0.5 ** (n - 1))
    assert lr_of["features.0"] == pytest.approx(1e-2 * 0.5 ** (n - 2))
    # every trainable parameter exactly once; no weight decay on norms and biases
    ids = [id(p) for g in groups for p in g["params"]]
    assert sorted(ids) == sorted(id(p) for p in model.parameters())
    for g in groups:
        if g["name"].endswith(".no_decay"):
            assert g["weight_decay"] == 0.0
            assert all(p.ndim <= 1 for p in g["params"])
        else:
            assert g["weight_decay"] == 0.05


def test_sgdr_factor_matches_torch_warm_restarts():
    model = torch.nn.Linear(2, 1)
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    ref = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(opt, T_0=10, T_mult=2, eta_min=0.01)
    for epoch in np.arange(0.0, 75.0, 0.25):
        ref.step(float(epoch))
        assert sgdr_factor(float(epoch), 10, 2, 0.01) == pytest.approx(opt.param_groups[0]["lr"])
    assert sgdr_factor(10.0, 10, 2, 0.01) == pytest.approx(1.0)  # restart after T0
    assert sgdr_factor(30.0, 10, 2, 0.01) == pytest.approx(1.0)  # then after 2*T0


def test_cosine_schedule_keeps_per_block_ratios():
    model = FakeBuster(**TINY_MODEL)
    opt = build_optimizer(model, OptimConfig(lr=1e-2, layer_decay=0.5))
    sched = LRSchedule(opt, ScheduleConfig(name="cosine_restarts", t0_epochs=2), 4, 5)
    ratio0 = [g["lr"] / opt.param_groups[-1]["lr"] for g in opt.param_groups]
    for _ in range(7):  # into the first cycle's second half
        opt.step()
        sched.after_batch()
    assert opt.param_groups[-1]["lr"] < 1e-2
    ratio = [g["lr"] / opt.param_groups[-1]["lr"] for g in opt.param_groups]
    assert ratio == pytest.approx(ratio0)


def test_onecycle_and_plateau_schedules():
    model = torch.nn.Linear(2, 1)
    opt = build_optimizer(model, OptimConfig(lr=0.1))
    sched = LRSchedule(opt, ScheduleConfig(name="onecycle", pct_start=0.3), epochs=2,
                       steps_per_epoch=10)
    lrs = []  # the rate each of the 20 steps runs at
    for _ in range(20):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.after_batch()
    assert max(lrs) == pytest.approx(0.1) and int(np.argmax(lrs)) == 5  # 30 % of 20 steps, - 1
    assert lrs[0] == pytest.approx(0.1 / 25) and lrs[-1] < 1e-5
    assert opt.param_groups[0]["lr"] == lrs[-1]  # no wrap-around after the last step

    opt = build_optimizer(model, OptimConfig(lr=0.1))
    sched = LRSchedule(opt, ScheduleConfig(name="plateau", patience=2, factor=0.1), 10, 10)
    for _ in range(3):
        sched.after_epoch(1.0)
    assert opt.param_groups[0]["lr"] == pytest.approx(0.1)
    sched.after_epoch(1.0)  # 3 epochs without improvement > patience 2
    assert opt.param_groups[0]["lr"] == pytest.approx(0.01)


def test_progressive_augmentation_strength_is_linear():
    cfg = load_config(None, ["data.table=t.csv", "progressive.start=0.2", "progressive.end=1.0"])
    s = AugmentSchedule(cfg.augment, cfg.progressive, epochs=5)
    assert [s.strength(e) for e in range(5)] == pytest.approx([0.2, 0.4, 0.6, 0.8, 1.0])
    off = load_config(None, ["data.table=t.csv", "progressive.enabled=false",
                             "augment.strength=0.3"])
    assert AugmentSchedule(off.augment, off.progressive, 5).strength(4) == 0.3


# ------------------------------------------------------------------------------ training
def test_overfits_a_tiny_set_and_ships_a_working_bundle(overfit_run, crops):
    cfg, result = overfit_run
    losses = [r["train_loss"] for r in result.history]
    assert len(losses) == 12 and result.finished
    assert losses[-1] < 0.1 < losses[0]
    assert result.history[-1]["train_accuracy"] == 1.0

    # The shipped bundle, run through the detector `scan` uses, separates the training crops.
    table = read_item_table(crops)
    detector = create_detector("fakebuster", weights=str(result.bundle_path), runtime="torch")
    train = predict_items(detector, select_split(table, "train"))
    assert roc_auc(train["label"], train["score"]) == 1.0
    assert (detector.threshold == pytest.approx(result.threshold["value"]))

    # Training-time validation scores = detector scores (same preprocessing end to end).
    val_pred = pd.read_csv(result.out_dir / "val_predictions.csv")
    again = predict_items(detector, select_split(table, "val"))
    np.testing.assert_allclose(again["score"], val_pred["score"], atol=1e-5)

    meta = load_bundle(result.bundle_path).meta
    assert meta.model_kwargs == cfg.model.kwargs and meta.input_size == 32
    assert meta.threshold_method == "youden"
    assert meta.extra["data"]["train"]["n"] == 24 and meta.extra["data"]["val"]["n"] == 12
    assert not any(str(v).startswith("/") for v in meta.extra["config"]["data"].values())


def test_tensorboard_has_the_scalars(overfit_run):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    _, result = overfit_run
    acc = EventAccumulator(str(result.out_dir / "tb"))
    acc.Reload()
    tags = set(acc.Tags()["scalars"])
    assert {"loss/train", "loss/val", "accuracy/train", "accuracy/val", "auc/val", "lr"} <= tags
    assert len(acc.Scalars("loss/val")) == 12


def test_refuses_to_overwrite_a_run_without_resume(overfit_run):
    cfg, _ = overfit_run
    with pytest.raises(ConfigError, match="already holds a run"):
        Trainer(cfg, progress=False).fit()


RESUME = {
    "epochs": 4, "mixup.prob": 1.0, "progressive.start": 0.5, "pruning.enabled": True,
    "pruning.sparsity": 0.5, "schedule.name": "cosine_restarts", "schedule.t0_epochs": 1,
    "optim.layer_decay": 0.7, "early_stopping.patience": 10,
}


def test_resume_gives_the_same_result_as_an_uninterrupted_run(crops, tmp_path):
    full_cfg = load_config(None, tiny_overrides(crops, tmp_path / "full", RESUME))
    full = Trainer(full_cfg, progress=False).fit()

    cut_cfg = load_config(None, tiny_overrides(crops, tmp_path / "cut", RESUME))
    first = Trainer(cut_cfg, progress=False).fit(stop_after=2)
    assert not first.finished and len(first.history) == 2
    assert not (tmp_path / "cut" / "detector.pt").exists()
    second = Trainer(cut_cfg, progress=False).fit(resume=True)  # a fresh process would do this
    assert second.finished and len(second.history) == 4

    def strip(history):
        return [{k: v for k, v in r.items() if k != "seconds"} for r in history]

    assert strip(second.history) == strip(full.history)
    a = load_checkpoint(tmp_path / "full" / "checkpoints" / "last.pt")
    b = load_checkpoint(tmp_path / "cut" / "checkpoints" / "last.pt")
    assert a["model"].keys() == b["model"].keys()
    for key in a["model"]:
        assert torch.equal(a["model"][key], b["model"][key]), key
    assert a["optimizer"]["state"].keys() == b["optimizer"]["state"].keys()
    ba, bb = load_bundle(full.bundle_path), load_bundle(second.bundle_path)
    for key in ba.state_dict:
        assert torch.equal(ba.state_dict[key], bb.state_dict[key]), key
    assert ba.meta.threshold == bb.meta.threshold

    # pruning: plain weights in the bundle, half of each pruned layer's weights zero
    assert not any(k.endswith(("_orig", "_mask")) for k in ba.state_dict)
    assert ba.meta.extra["sparsity"] == pytest.approx(0.5, abs=0.01)
    w = ba.state_dict["features.0.0.expand.0.weight"]
    assert (w == 0).float().mean().item() == pytest.approx(0.5, abs=0.05)
    # a checkpoint evaluates like the bundle exported from it
    best = bundle_from_checkpoint(tmp_path / "full" / "checkpoints" / "best.pt")
    for key in ba.state_dict:
        assert torch.equal(best.state_dict[key], ba.state_dict[key]), key


def test_early_stopping(crops, tmp_path):
    cfg = load_config(None, tiny_overrides(crops, tmp_path, {
        "epochs": 10, "early_stopping.patience": 2, "early_stopping.min_delta": 100.0,
    }))
    result = Trainer(cfg, progress=False).fit()
    assert result.stopped_early and result.finished
    assert len(result.history) == 3 and result.best_epoch == 1
    assert load_bundle(result.bundle_path).meta.extra["best_epoch"] == 1


def test_distillation_half_export_and_on_the_fly_split(overfit_run, tmp_path):
    _, teacher = overfit_run
    # a generic crop CSV (path,label,group): split by group on the fly
    folder = tmp_path / "crops"
    table = write_crops(folder, n_train=40, n_val=0, seed=3)
    df = pd.read_csv(table).drop(columns=["split", "video"])
    df.to_csv(folder / "crops.csv", index=False)
    cfg = load_config(None, tiny_overrides(folder / "crops.csv", tmp_path / "run", {
        "data.table": None, "data.crops_csv": str(folder / "crops.csv"),
        "data.split_fractions": [0.6, 0.2, 0.2], "epochs": 1,
        "distill.teacher": str(teacher.bundle_path), "distill.alpha": 0.7,
        "export.half": True,
    }))
    result = Trainer(cfg, progress=False).fit()
    assert math.isfinite(result.history[0]["train_loss"])
    split = pd.read_csv(tmp_path / "run" / "split.csv")
    parts = {s: split[split["split"] == s] for s in ("train", "val", "test")}
    assert all(len(p) for p in parts.values())
    check_no_leakage(*parts.values(), cols=["group"], names=list(parts))
    bundle = load_bundle(result.bundle_path)
    assert all(v.dtype == torch.float16 for k, v in bundle.state_dict.items()
               if v.is_floating_point())
    detector = create_detector("fakebuster", weights=str(result.bundle_path), runtime="torch")
    scores = detector.score_crops(np.zeros((2, 32, 32, 3), np.uint8))
    assert scores.shape == (2,) and np.isfinite(scores).all()


def test_missing_table_names_the_file(tmp_path):
    from fakescope.errors import FakescopeError

    cfg = load_config(None, tiny_overrides(tmp_path / "nope.csv", tmp_path / "run"))
    with pytest.raises(FakescopeError, match="nope.csv: table not found"):
        Trainer(cfg, progress=False).fit()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_mixed_precision_on_cuda(crops, tmp_path):
    cfg = load_config(None, tiny_overrides(crops, tmp_path, {"device": "cuda", "epochs": 2}))
    trainer = Trainer(cfg, progress=False)
    result = trainer.fit()
    assert trainer.amp and trainer.scaler.is_enabled()
    assert all(math.isfinite(r["train_loss"]) for r in result.history)
    # fp16 validation on the GPU vs the fp32 detector on the CPU
    detector = create_detector("fakebuster", weights=str(result.bundle_path), device="cpu",
                               runtime="torch")
    again = predict_items(detector, select_split(read_item_table(crops), "val"))
    val_pred = pd.read_csv(result.out_dir / "val_predictions.csv")
    np.testing.assert_allclose(again["score"], val_pred["score"], atol=5e-3)


# ------------------------------------------------------------------ fine-tuning additions
def test_extra_train_rows_join_training_only_repeated(crops, tmp_path):
    """`data.extra_train` rows (another kind of footage) are trained on, `extra_repeat` times,
    never validated on; an extra row of a validation group is refused as leakage."""
    from fakescope.data.splits import LeakageError
    from fakescope.train.trainer import load_split_items

    folder = tmp_path / "extra"
    write_crops(folder, n_train=6, n_val=0, seed=7)
    extra = pd.read_csv(folder / "table.csv")[["path", "label", "group"]]
    extra["group"] = "other_footage_" + extra["group"]
    extra.to_csv(folder / "extra.csv", index=False)
    cfg = load_config(None, tiny_overrides(crops, tmp_path / "run", {
        "data.extra_train": str(folder / "extra.csv"), "data.extra_repeat": 3}))
    items = load_split_items(cfg)
    assert len(items.train) == 24 + 3 * 6 and len(items.val) == 12
    extra_paths = {str((folder / p).resolve()) for p in extra["path"]}
    assert not extra_paths & {str(Path(p).resolve()) for p in items.val["path"]}
    assert sum(str(Path(p).resolve()) in extra_paths for p in items.train["path"]) == 18
    assert items.description["extra_train"]["repeat"] == 3
    assert items.description["extra_train"]["rows"]["n"] == 6

    val_group = pd.read_csv(crops).query("split == 'val'")["group"].iloc[0]
    extra.loc[0, "group"] = val_group
    extra.to_csv(folder / "extra.csv", index=False)
    with pytest.raises(LeakageError):
        load_split_items(cfg)


def test_init_from_starts_from_the_bundle_and_records_it(overfit_run, crops, tmp_path):
    """Fine-tuning starts from the given bundle's weights (not the model's own init), records
    its sha256, and ships validation operating points for stated false-alarm rates."""
    _, base = overfit_run
    cfg = load_config(None, tiny_overrides(crops, tmp_path / "ft", {
        **OVERFIT, "epochs": 1, "optim.lr": 1e-9, "model.init_from": str(base.bundle_path)}))
    trainer = Trainer(cfg, progress=False)
    result = trainer.fit()
    start = load_bundle(base.bundle_path).state_dict
    end = load_bundle(result.bundle_path).state_dict
    # lr ~ 0: the fine-tuned weights are still the bundle's (a fresh init would differ wholly);
    # BatchNorm's running statistics move with every training batch whatever the lr.
    for k, v in start.items():
        if v.is_floating_point() and "running_" not in k:
            torch.testing.assert_close(end[k].float(), v.float(), atol=1e-4, rtol=1e-3)
    meta = load_bundle(result.bundle_path).meta
    assert meta.extra["init_from_sha256"] == load_bundle(base.bundle_path).sha256
    points = meta.extra["operating_points"]
    assert set(points) == {"far_0.01", "far_0.05", "far_0.1"}
    val = pd.read_csv(result.out_dir / "val_predictions.csv")
    reals = val.loc[val["label"] == 0, "score"].to_numpy()
    for name, point in points.items():
        far = float(name.split("_")[1])
        assert (reals >= point["value"]).mean() <= far + 1e-9

    wrong = load_config(None, tiny_overrides(crops, tmp_path / "wrong", {
        "model.name": "mobilenet_v2", "model.kwargs": "{pretrained: none}",
        "model.init_from": str(base.bundle_path)}))
    with pytest.raises(ConfigError, match="cannot initialise"):
        Trainer(wrong, progress=False).fit()
