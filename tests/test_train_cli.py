"""`fakescope train` / `fakescope eval` end to end on a tiny synthetic set, and the shipped
configs."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from train_factory import write_crops

from fakescope.cli.main import main
from fakescope.detectors.bundle import load_bundle
from fakescope.train.config import load_config
from fakescope.train.recipes import recipe_name

REPO = Path(__file__).resolve().parents[1]
CONFIGS = sorted((REPO / "configs").glob("*.yaml"))

TINY_YAML = """\
data: {table: ../crops/table.csv, image_size: 32}
model: {kwargs: {widths: [8, 8, 8, 8], stem_width: 8, expand: 2}}
schedule: {t0_epochs: 1}
epochs: 2
batch_size: 8
threads: 1
out_dir: ../runs/tiny
"""


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A config with relative paths, trained through the CLI."""
    root = tmp_path_factory.mktemp("cli")
    table = write_crops(root / "crops", n_train=24, n_val=12, n_test=12)
    (root / "configs").mkdir()
    cfg = root / "configs" / "tiny.yaml"
    cfg.write_text(TINY_YAML)
    rc = main(["train", str(cfg), "--quiet"])
    assert rc == 0
    return root, table, root / "runs" / "tiny"


def test_train_writes_a_run_folder(trained):
    _, _, run = trained
    for name in ("detector.pt", "config.yaml", "history.csv", "summary.json",
                 "val_predictions.csv", "threshold.json", "checkpoints/last.pt",
                 "checkpoints/best.pt"):
        assert (run / name).is_file(), name
    assert len(pd.read_csv(run / "history.csv")) == 2
    summary = json.loads((run / "summary.json").read_text())
    assert summary["data"]["train"]["n"] == 24 and summary["bundle"] == "detector.pt"


def test_resume_of_a_finished_run_and_refusal_without_resume(trained, capsys):
    root, _, run = trained
    cfg = root / "configs" / "tiny.yaml"
    assert main(["train", str(cfg), "--quiet"]) == 1
    assert "already holds a run" in capsys.readouterr().err
    before = load_bundle(run / "detector.pt")
    assert main(["train", str(cfg), "--quiet", "--resume"]) == 0  # nothing left: re-exports
    assert len(pd.read_csv(run / "history.csv")) == 2
    after = load_bundle(run / "detector.pt")
    assert after.meta == before.meta  # same threshold, metrics, provenance
    assert all(torch.equal(after.state_dict[k], v) for k, v in before.state_dict.items())


def test_eval_bundle_matches_training_validation(trained, tmp_path, capsys):
    _, table, run = trained
    out = tmp_path / "eval"
    rc = main(["eval", "--bundle", str(run / "detector.pt"), "--data", str(table),
               "--split", "val", "--out", str(out), "--n-bootstrap", "20", "--runtime", "torch",
               "-q"])
    assert rc == 0
    assert "12 crops" in capsys.readouterr().out
    preds = pd.read_csv(out / "predictions.csv")
    assert list(preds.columns[:4]) == ["path", "label", "group", "video"]
    val = pd.read_csv(run / "val_predictions.csv")
    np.testing.assert_allclose(preds["score"], val["score"], atol=1e-5)
    report = json.loads((out / "report.json").read_text())
    assert set(report["levels"]) == {"frame"}  # one crop per video: no video level
    assert report["threshold"]["method"] == "youden"
    assert report["provenance"]["split"] == "val"
    assert (out / "report.md").is_file() and (out / "roc.png").is_file()


def test_eval_defaults_to_test_split_and_reports_video_level(trained, tmp_path):
    _, table, run = trained
    df = pd.read_csv(table)
    test = df[df["split"] == "test"].sort_values("label", kind="stable").reset_index(drop=True)
    test["video"] = [f"v{label}_{i // 3}" for i, label in enumerate(test["label"])]
    df = pd.concat([df[df["split"] != "test"], test])
    grouped = table.parent / "grouped.csv"
    df.to_csv(grouped, index=False)
    out = tmp_path / "eval"
    rc = main(["eval", "--checkpoint", str(run / "checkpoints" / "best.pt"), "--data",
               str(grouped), "--out", str(out), "--n-bootstrap", "0", "--runtime", "torch",
               "--aggregate", "max", "-q"])
    assert rc == 0
    report = json.loads((out / "report.json").read_text())
    assert report["provenance"]["split"] == "test"
    assert report["levels"]["frame"]["n"] == 12
    assert report["levels"]["video"]["n"] == 4 and report["levels"]["video"]["aggregation"] == "max"
    assert (out / "checkpoint_bundle.pt").is_file()


def test_eval_goes_on_past_an_unreadable_crop(trained, tmp_path, capsys):
    _, table, run = trained
    df = pd.read_csv(table)
    df = df[df["split"] == "val"].copy()
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"not an image")
    df.loc[df.index[0], "path"] = str(bad)
    df.to_csv(tmp_path / "t.csv", index=False)
    rc = main(["eval", "--bundle", str(run / "detector.pt"), "--data", str(tmp_path / "t.csv"),
               "--image-root", str(table.parent), "--split", "val", "--out",
               str(tmp_path / "ev"), "--n-bootstrap", "0", "--runtime", "torch", "-q"])
    assert rc == 0
    assert "1 crop(s) could not be read" in capsys.readouterr().err
    preds = pd.read_csv(tmp_path / "ev" / "predictions.csv")
    assert np.isnan(preds["score"].iloc[0]) and "broken.png" in preds["error"].iloc[0]
    assert preds["score"].iloc[1:].notna().all()
    report = json.loads((tmp_path / "ev" / "report.json").read_text())
    assert report["levels"]["frame"]["n"] == 11 and report["provenance"]["n_unreadable"] == 1


@pytest.mark.parametrize("what", ["bundle", "data", "split"])
def test_eval_errors_name_the_problem(trained, tmp_path, capsys, what):
    _, table, run = trained
    args = {"bundle": str(run / "detector.pt"), "data": str(table), "split": "val"}
    expected = {"bundle": "missing.pt: weights file not found",
                "data": "missing.csv: table not found",
                "split": "no rows with split 'nope'"}[what]
    args[what] = {"bundle": str(tmp_path / "missing.pt"), "data": str(tmp_path / "missing.csv"),
                  "split": "nope"}[what]
    rc = main(["eval", "--bundle", args["bundle"], "--data", args["data"], "--split",
               args["split"], "--out", str(tmp_path / "ev"), "--runtime", "torch", "-q"])
    assert rc == 2
    assert expected in capsys.readouterr().err


def test_train_config_errors(tmp_path, capsys):
    assert main(["train", str(tmp_path / "none.yaml")]) == 2
    assert "config file not found" in capsys.readouterr().err
    cfg = tmp_path / "c.yaml"
    cfg.write_text("data: {table: t.csv}\nepoch: 3\n")
    assert main(["train", str(cfg)]) == 2
    assert "unknown key(s) ['epoch']" in capsys.readouterr().err
    cfg.write_text("data: {table: t.csv}\n")
    assert main(["train", str(cfg), "--set", "optim.lr=-1"]) == 2
    assert "optim.lr must be > 0" in capsys.readouterr().err


def test_print_config_applies_overrides(tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("data: {table: t.csv}\n")
    assert main(["train", str(cfg), "--set", "epochs=7", "--out", "somewhere",
                 "--print-config"]) == 0
    text = capsys.readouterr().out
    assert "epochs: 7" in text and f"table: {tmp_path / 't.csv'}" in text


@pytest.mark.parametrize("path", CONFIGS, ids=[p.name for p in CONFIGS])
def test_shipped_configs_are_valid_and_portable(path, tmp_path):
    text = path.read_text()
    values = re.findall(r":\s*(\S+)", "\n".join(l.split("#")[0] for l in text.splitlines()))
    assert not [v for v in values if v.startswith(("/", "~"))], "absolute path in a config"
    if recipe_name(path) == "stylecontent":  # seed 004: a head on cached clip features
        import yaml

        from fakescope.families.stylecontent.train import StyleContentConfig

        raw = yaml.safe_load(text)
        raw.pop("recipe")
        sc = StyleContentConfig.from_mapping(raw, path.parent)
        assert sc.table == str(REPO / "cache" / "stylecontent" / "tracks.csv")
        assert (sc.length, sc.t0_epochs, sc.t_mult, sc.patience, sc.mixup_prob) == (16, 10, 2, 12, 0.7)
        from fakescope.families.stylecontent.train import run_yaml
        from fakescope.train.recipes import get_recipe

        assert get_recipe("stylecontent") is run_yaml  # `fakescope train` runs it
        return
    if recipe_name(path) is not None:  # a family's own recipe (seed 000), not the Trainer
        import yaml

        from fakescope.families.latentforensics.train import config_from_yaml

        raw = yaml.safe_load(text)
        assert raw.pop("recipe") == "latentforensics"
        rc = config_from_yaml(raw, path.parent)
        assert rc.table == str(REPO / "docs" / "splits" / "dfdc_faces_split.csv")
        assert rc.projector == "pca" and rc.projector_kwargs["n_components"] == 512
        return
    cfg = load_config(path)
    if path.name.startswith("twobranch"):  # seed 003: sequences of shared-video tracks
        assert cfg.data.table == str(REPO / "cache" / "twobranch" / "tracks.csv")
        assert (cfg.sequence.unit, cfg.sequence.length, cfg.sequence.frame_step) == ("sequence", 10, 7)
        assert (cfg.loss.name, cfg.optim.name, cfg.optim.lr, cfg.optim.weight_decay,
                cfg.optim.layer_decay) == ("hypersphere", "adam", 1e-3, 1e-6, 0.5)
        assert (cfg.schedule.name, cfg.schedule.factor, cfg.export.detector) == \
            ("plateau", 0.1, "twobranch")
        assert cfg.blend.mode == "only" and not cfg.mixup.enabled
        return
    assert cfg.data.table == str(REPO / "docs" / "splits" / "dfdc_faces_split.csv")
    if path.name.startswith("effnet"):  # seed 001: ImageNet Lite0, softmax + log loss
        assert (cfg.model.name, cfg.loss.name, cfg.export.detector) == ("effnet", "ce", "effnet")
        assert cfg.early_stopping.monitor == "val_loss" and cfg.export.half
        if "sbi" in path.name:  # the SBI protocol with SBI's backbone family: blends only
            assert (cfg.blend.mode, cfg.blend.pairs, cfg.blend.synth, cfg.blend.val_mode) == \
                ("only", True, "sbi", "blend")
        else:
            assert cfg.data.class_balance and cfg.blend.mode == "none" and not cfg.augment.cutout
    elif path.name.startswith("fakebuster"):
        assert cfg.early_stopping.patience == 12  # seed 004
        assert (cfg.schedule.name, cfg.schedule.t0_epochs, cfg.schedule.t_mult) == \
            ("cosine_restarts", 10, 2)
    else:  # the default detector's recipes: ImageNet backbone, self-blends, FAR threshold
        assert cfg.model.name in ("mobilenet_v2", "efficientnet_lite0")
        assert cfg.blend.mode in ("mix", "only") and cfg.data.image_size >= 160
        assert (cfg.export.threshold_method, cfg.export.detector) == ("far", "faceblend")
    # a data source on the command line replaces the file's
    other = load_config(path, [f"data.crops_csv={tmp_path / 'crops.csv'}"])
    assert other.data.table is None and other.data.crops_csv == str(tmp_path / "crops.csv")


def test_example_config_finds_the_shared_data(shared_data):
    cfg = load_config(REPO / "configs" / "fakebuster_dfdc.yaml")
    assert Path(cfg.data.image_root) == (shared_data / "dfdc_faces" / "faces_224").resolve()


def test_stylecontent_recipe_names_a_missing_table_or_unknown_key(tmp_path, capsys):
    (tmp_path / "sc.yaml").write_text("recipe: stylecontent\ntable: nothere.csv\n")
    assert main(["train", str(tmp_path / "sc.yaml")]) == 2
    assert "nothere.csv: track table not found" in capsys.readouterr().err
    (tmp_path / "bad.yaml").write_text("recipe: stylecontent\nbogus: 1\n")
    assert main(["train", str(tmp_path / "bad.yaml")]) == 2
    assert "unknown keys ['bogus']" in capsys.readouterr().err
