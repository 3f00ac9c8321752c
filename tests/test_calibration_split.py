"""The calibration split (docs/splits/calibration_split.csv) keeps people and files apart:
what calibrates the verdict is never what a figure about it is measured on."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import REPO

from fakescope.data.video_persons import person_groups, same_person

SPLIT = REPO / "docs" / "splits" / "calibration_split.csv"


@pytest.fixture(scope="module")
def split() -> pd.DataFrame:
    return pd.read_csv(SPLIT)


def test_no_group_and_no_file_on_two_sides(split):
    sides = split.groupby("group")["split"].nunique()
    assert (sides == 1).all(), sides[sides > 1].index.tolist()[:5]
    assert not split.duplicated(["set", "path"]).any()
    assert set(split["split"]) <= {"train", "calibration", "eval"}
    assert set(split.loc[split["set"] != "real_faces", "split"]) == {"calibration", "eval"}


def test_swaps_and_their_originals_share_a_side(split):
    wild = split[split["set"] == "wild_dev"]
    pair = wild["path"].str.replace(r"__(original|swap)\.mp4$", "", regex=True)
    assert (wild.groupby(pair)["split"].nunique() == 1).all()


def test_shared_fakes_and_dfdc_stay_for_evaluation_and_training_videos_stay_out(split):
    vids = split[split["set"] == "videos"]
    assert (vids.loc[(vids["label"] == "FAKE") | (vids["source"] == "DFDC"), "split"] == "eval").all()
    shared = pd.read_csv(REPO / "docs" / "splits" / "shared_videos_split.csv")
    assert not set(shared.loc[shared["split"] == "train", "path"]) & set(vids["path"])


def test_both_sides_have_real_files_of_both_sets(split):
    real = split[split["label"] == "REAL"].groupby(["set", "split"]).size()
    for s in ("wild_dev", "real_faces"):
        assert real[(s, "calibration")] >= 20 and real[(s, "eval")] >= 20


@pytest.mark.shared
def test_every_wild_dev_video_and_real_photo_is_placed_and_persons_stay_whole(split, shared_data):
    wild = pd.read_csv(shared_data / "wild_dev" / "labels.csv")
    assert set(wild["path"]) == set(split.loc[split["set"] == "wild_dev", "path"])
    photos = pd.read_csv(shared_data / "real_faces" / "labels.csv")
    placed = photos.merge(split[split["set"] == "real_faces"], on="path", suffixes=("", "_s"))
    assert len(placed) == len(photos)
    assert (placed.groupby("person")["split"].nunique() == 1).all()


def test_person_groups_merge_transitively_and_keep_strangers_apart():
    rng = np.random.default_rng(0)
    a, b = rng.normal(0, 1, 128), rng.normal(0, 1, 128)
    a, b = a / np.linalg.norm(a) * 2, b / np.linalg.norm(b) * 2  # two people, far apart

    def track(centre, n=4, spread=0.02):
        return centre + rng.normal(0, spread, (n, 128))

    desc = {"v1": [track(a)], "v2": [track(a + 0.02)], "v3": [track(b)], "v4": [track(b)],
            "v5": [], "v6": [track(b), track(a)]}
    assert same_person(desc["v1"], desc["v2"]) and not same_person(desc["v1"], desc["v3"])
    groups = person_groups({k: desc[k] for k in ("v1", "v2", "v3", "v5")}, links=[("v3", "v5")])
    assert groups["v1"] == groups["v2"] != groups["v3"] == groups["v5"]
    # a video showing both people joins them into one group: nobody crosses the split
    assert len(set(person_groups(desc).values())) == 2  # {v1,v2,v3,v4,v6} and {v5}
