"""The identity probe flags splits that share people, and purification removes them from test.

Synthetic "people": tight Gaussian clusters in 128-d (within-person distance ~0.2, between
people ~1, like dlib descriptors), each person mostly one label.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fakescope.data.identity import (
    DESCRIPTOR_DIM,
    IdentityLeakError,
    ProbeResult,
    _save_cache,
    check_probe,
    identity_probe,
    purify_split,
)
from fakescope.data.splits import LeakageError

REPO = Path(__file__).resolve().parents[1]


def people(n_people: int, n_per: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(descriptors, labels, person ids): person p is fake-heavy (90 %) when p is even."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 1 / 16, (n_people, DESCRIPTOR_DIM))
    pid = np.repeat(np.arange(n_people), n_per)
    desc = (centres[pid] + rng.normal(0, 0.012, (pid.size, DESCRIPTOR_DIM))).astype(np.float32)
    p_fake = np.where(pid % 2 == 0, 0.9, 0.1)
    labels = (rng.random(pid.size) < p_fake).astype(np.int64)
    return desc, labels, pid


def test_probe_flags_a_split_that_shares_people() -> None:
    desc, y, pid = people(60, 20)
    side = np.random.default_rng(1).random(pid.size) < 0.7  # every person on both sides
    r = identity_probe(desc[side], y[side], desc[~side], y[~side], pid[~side], n_boot=300)
    assert r.auc > 0.75 and r.low > 0.5
    assert r.leaks
    with pytest.raises(IdentityLeakError):
        check_probe(r)


def test_probe_is_at_chance_on_an_identity_disjoint_split() -> None:
    desc, y, pid = people(80, 20)
    side = pid < 50  # people 0..49 train, 50..79 test
    r = identity_probe(desc[side], y[side], desc[~side], y[~side], pid[~side], n_boot=300)
    assert r.low <= 0.5 <= r.high
    assert not r.leaks
    check_probe(r)  # passes
    assert (r.n_train, r.n_test, r.n_groups) == (1000, 600, 30)


def test_probe_skips_rows_without_descriptor() -> None:
    desc, y, pid = people(40, 10)
    desc[::7] = np.nan
    side = pid < 20
    r = identity_probe(desc[side], y[side], desc[~side], y[~side], pid[~side], k=5, n_boot=50)
    assert r.n_train + r.n_test == int((~np.isnan(desc).any(axis=1)).sum()) and r.k == 5


def test_check_probe_is_a_leakage_error() -> None:
    leaking = ProbeResult(auc=0.68, low=0.61, high=0.74, n_train=10, n_test=10, k=5, n_groups=4)
    fine = ProbeResult(auc=0.53, low=0.47, high=0.59, n_train=10, n_test=10, k=5, n_groups=4)
    below = ProbeResult(auc=0.40, low=0.33, high=0.46, n_train=10, n_test=10, k=5, n_groups=4)
    with pytest.raises(LeakageError, match="val leaks"):
        check_probe(leaking, "val")
    check_probe(fine)
    check_probe(below)  # below chance is no shortcut a model trained on train could use


def split_table() -> tuple[pd.DataFrame, np.ndarray]:
    """Persons 0..5 with 4 crops each, one source group per crop pair.

    Person 0 and 1: train only. Person 2: train AND test (leak). Person 3, 4: test only.
    Person 5: val only. Test group "g_donor" pairs a real crop of person 4 with a fake whose
    (donor) face is person 1's: the whole group shares a person with train.
    """
    desc, _, pid = people(6, 4, seed=3)
    rows = []
    for i, p in enumerate(pid):
        part = {0: "train", 1: "train", 2: "train" if i % 4 < 2 else "test", 3: "test",
                4: "test", 5: "val"}[int(p)]
        rows.append({"path": f"c{i}.jpg", "label": i % 2, "group": f"g{i // 2}", "split": part})
    table = pd.DataFrame(rows)
    rng = np.random.default_rng(4)
    donor = desc[pid == 1][0] + rng.normal(0, 0.012, DESCRIPTOR_DIM)
    real4 = desc[pid == 4][0] + rng.normal(0, 0.012, DESCRIPTOR_DIM)
    table = pd.concat([table, pd.DataFrame([
        {"path": "d0.jpg", "label": 0, "group": "g_donor", "split": "test"},
        {"path": "d1.jpg", "label": 1, "group": "g_donor", "split": "test"}])], ignore_index=True)
    return table, np.vstack([desc, real4, donor]).astype(np.float32)


@pytest.mark.parametrize("threshold, radius", [(0.5, None), (None, 0.5), (0.5, 0.5)])
def test_purify_keeps_train_and_drops_test_rows_that_share_a_person(threshold, radius) -> None:
    table, desc = split_table()
    out = purify_split(table, desc, threshold=threshold, radius=radius)
    assert (out.loc[table["split"] == "train", "split"] == "train").all()
    assert len(out) == len(table)
    moved = set(out.loc[out["split"] != table["split"], "path"])
    leaked = {f"c{i}.jpg" for i in (10, 11)}  # person 2's test crops
    assert leaked <= moved
    assert {"d0.jpg", "d1.jpg"} <= moved  # the REAL crop goes too: its group shows a train face
    assert out.loc[out["path"].isin([f"c{i}.jpg" for i in range(12, 20)]), "split"].eq("test").all()
    assert out.loc[out["path"].isin([f"c{i}.jpg" for i in range(20, 24)]), "split"].eq("val").all()
    assert moved == leaked | {"d0.jpg", "d1.jpg"}
    assert out["purify_group"].notna().all()


def test_purify_without_any_link_keeps_everything_but_source_groups() -> None:
    table, desc = split_table()
    table.loc[0, "group"] = "g_shared"
    table.loc[12, "group"] = "g_shared"  # a test crop shares its source video with train
    out = purify_split(table, desc, threshold=None, radius=None)
    moved = table.index[out["split"] != table["split"]].tolist()
    assert moved == [12]  # its pair crop 13 keeps its own group, so it stays
    assert (out.loc[table["split"] == "train", "split"] == "train").all()


def test_purify_links_undescribed_rows_by_group_only() -> None:
    table, desc = split_table()
    desc[10] = np.nan  # person 2's test crop, no descriptor: its pair crop 11 still links
    out = purify_split(table, desc, threshold=0.5)
    assert out.loc[[10, 11], "split"].eq("excluded").all()
    with pytest.raises(ValueError, match="descriptors must be"):
        purify_split(table, desc[:-1])


def _load_script():
    path = REPO / "scripts" / "purify_split.py"
    spec = importlib.util.spec_from_file_location("purify_split", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["purify_split"] = mod
    spec.loader.exec_module(mod)
    return mod


def _script_inputs(tmp_path: Path) -> tuple[Path, Path]:
    """A leaking split table and its descriptor cache: people 0..19 on train and test, 20..29
    test only, 30..39 val only; split_group (the bootstrap unit) is the person."""
    desc, y, pid = people(40, 12, seed=5)
    rng = np.random.default_rng(6)
    part = np.where(pid >= 30, "val", np.where(rng.random(pid.size) < 0.6, "train", "test"))
    part[(pid >= 20) & (pid < 30)] = "test"  # people 20..29: test only, so some test remains
    part[(pid < 20) & (np.arange(pid.size) % 12 == 0)] = "test"
    names = [f"c{i}.jpg" for i in range(pid.size)]
    table = pd.DataFrame({"path": names, "label": y, "group": [f"g{i}" for i in range(pid.size)],
                          "identity": [f"id{i}" for i in range(pid.size)],
                          "split_group": [f"p{q}" for q in pid], "split": part})
    split = tmp_path / "split.csv"
    table.to_csv(split, index=False)
    cache = tmp_path / "desc.parquet"
    lms = np.zeros((68, 2), np.float32)
    _save_cache(cache, {str(tmp_path / "faces" / n): (d, lms, "") for n, d in zip(names, desc)})
    return split, cache


def test_script_purifies_and_refuses_a_leaking_split(tmp_path: Path, capsys) -> None:
    mod = _load_script()
    split, cache = _script_inputs(tmp_path)
    out, rep = tmp_path / "pure.csv", tmp_path / "probe.md"
    common = ["--split", str(split), "--cache", str(cache), "--out", str(out), "--report", str(rep),
              "--k", "5", "--n-boot", "200"]
    # clusters too tight to join anyone and no radius: the leak stays, nothing may be written
    tight = ["--thresholds", "0.01", "--min-threshold", "0.01", "--radii", "none",
             "--modes", "direct"]
    assert mod.main(common + tight) == 2
    assert "the probe passes; nothing written" in capsys.readouterr().err
    assert not out.exists() and not rep.exists()
    assert mod.main(common + ["--thresholds", "0.5", "--radii", "none", "0.5"]) == 0
    before, after = pd.read_csv(split), pd.read_csv(out)
    assert (after["path"] == before["path"]).all()
    assert (after.loc[before["split"] == "train", "split"] == "train").all()
    kept_test = after.loc[after["split"] == "test", "path"].str[1:-4].astype(int) // 12
    assert set(kept_test) == set(range(20, 30))  # only the test-only people remain
    text = rep.read_text()
    assert "scripts/purify_split.py" in text and "**chosen**" in text


def test_transitive_purify_follows_chains_through_source_groups() -> None:
    table, desc = split_table()
    direct = purify_split(table, desc, threshold=0.5)
    chained = purify_split(table, desc, threshold=0.5, transitive=True)
    person4 = [f"c{i}.jpg" for i in range(16, 20)]  # linked to train only via g_donor's fake
    assert direct.loc[direct["path"].isin(person4), "split"].eq("test").all()
    assert chained.loc[chained["path"].isin(person4), "split"].eq("excluded").all()
    assert (chained.loc[table["split"] == "train", "split"] == "train").all()


@pytest.mark.parametrize("seed", range(3))
def test_purify_never_moves_a_train_row_and_only_removes(seed: int) -> None:
    desc, y, pid = people(30, 8, seed=seed)
    rng = np.random.default_rng(seed)
    split = rng.choice(["train", "val", "test", "excluded"], size=pid.size,
                       p=[0.6, 0.15, 0.2, 0.05])
    table = pd.DataFrame({"path": [f"c{i}.jpg" for i in range(pid.size)], "label": y,
                          "group": [f"g{i // 2}" for i in range(pid.size)], "split": split})
    for kw in ({"threshold": 0.5}, {"threshold": None, "radius": 0.3},
               {"threshold": 0.5, "radius": 0.3, "transitive": True}):
        out = purify_split(table, desc, **kw)
        assert (out["split"][split == "train"] == "train").all()
        changed = out["split"] != table["split"]
        assert out.loc[changed, "split"].eq("excluded").all()
        assert table.loc[changed, "split"].isin(["val", "test"]).all()
        kept = out[out["split"].isin(["val", "test"])]
        assert not set(kept["group"]) & set(out.loc[out["split"] == "train", "group"])
