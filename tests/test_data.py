"""Datasets, public layouts, leakage-free splits, identity clusters, samplers, augmentation
and mixup. Every test builds its own tiny layout under tmp_path."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
import torch

from fakescope.data.augment import build_augment
from fakescope.data.datasets import (
    CropDataset,
    SequenceDataset,
    manifest_items,
    manifest_sequences,
    read_image_rgb,
    seed_worker,
)
from fakescope.data.identity import cluster_identities, compute_descriptors
from fakescope.data.labels import LABEL_FAKE, LABEL_REAL, parse_label
from fakescope.data.manifest import manifest_frame
from fakescope.data.mixup import mixup_batch
from fakescope.data.public_layouts import (
    LayoutError,
    read_celebdf,
    read_crop_csv,
    read_dfdc_metadata,
    read_faceforensics,
)
from fakescope.data.samplers import ClassBalancedSampler, StratifiedVideoSampler
from fakescope.data.splits import LeakageError, check_no_leakage, group_split, merge_groups
from fakescope.errors import FakescopeError, MediaError


def _jpg(path: Path, seed: int, size: int = 40) -> Path:
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), img)
    return path


def _touch(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")


# ------------------------------------------------------------------------------- labels
def test_parse_label_convention():
    assert (LABEL_FAKE, LABEL_REAL) == (1, 0)
    for v in ("FAKE", "fake", " Fake ", 1, 1.0, True, "1"):
        assert parse_label(v) == 1
    for v in ("REAL", "real", 0, False, "0"):
        assert parse_label(v) == 0
    for bad in ("FAEK", 2, None, 0.5):
        with pytest.raises(ValueError, match="label"):
            parse_label(bad)


# ------------------------------------------------------------------------ public layouts
def test_read_dfdc_metadata(tmp_path):
    part = tmp_path / "dfdc_train_part_0"
    part.mkdir()
    meta = {
        "a.mp4": {"label": "REAL", "split": "train", "original": None},
        "b.mp4": {"label": "FAKE", "split": "train", "original": "a.mp4"},
        "c.mp4": {"label": "FAKE", "split": "train", "original": "z.mp4"},
    }
    (part / "metadata.json").write_text(json.dumps(meta))
    part1 = tmp_path / "dfdc_train_part_1"
    part1.mkdir()
    (part1 / "metadata.json").write_text(json.dumps({"z.mp4": {"label": "REAL", "split": "train"}}))

    df = read_dfdc_metadata(part / "metadata.json")
    assert list(df.columns[:4]) == ["path", "label", "group", "video"]
    assert df.set_index("video")["group"].to_dict() == {"a.mp4": "a.mp4", "b.mp4": "a.mp4", "c.mp4": "z.mp4"}
    assert df.set_index("video")["label"].to_dict() == {"a.mp4": 0, "b.mp4": 1, "c.mp4": 1}
    assert Path(df["path"][0]) == (part / "a.mp4").resolve()

    both = read_dfdc_metadata(tmp_path)  # a folder: every metadata.json under it
    assert len(both) == 4 and both.loc[both.video == "z.mp4", "group"].item() == "z.mp4"

    with pytest.raises(LayoutError, match="do not exist"):
        read_dfdc_metadata(part / "metadata.json", check_exists=True)
    (part / "metadata.json").write_text(json.dumps({"x.mp4": {"label": "FAKE"}}))
    with pytest.raises(LayoutError, match="no 'original'"):
        read_dfdc_metadata(part / "metadata.json")


def test_read_crop_csv_dfdc_form_and_generic(tmp_path):
    faces = tmp_path / "faces"
    for i, n in enumerate(("r1", "f1", "f2", "r2")):
        _jpg(faces / f"{n}.jpg", i)
    csv = tmp_path / "metadata.csv"
    csv.write_text(
        "videoname,original_width,original_height,label,original\n"
        "r1.mp4,100,100,REAL,\nf1.mp4,100,100,FAKE,r1.mp4\nf2.mp4,90,90,FAKE,r1.mp4\nr2.mp4,80,80,REAL,\n"
    )
    df = read_crop_csv(csv, faces)
    assert df["label"].tolist() == [0, 1, 1, 0]
    assert df["group"].tolist() == ["r1.mp4", "r1.mp4", "r1.mp4", "r2.mp4"]
    assert Path(df["path"][1]) == (faces / "f1.jpg").resolve()

    (faces / "f2.jpg").unlink()
    with pytest.raises(LayoutError, match="do not exist"):
        read_crop_csv(csv, faces)

    generic = tmp_path / "g.csv"
    generic.write_text("path,label,group\nfaces/r1.jpg,real,s1\nfaces/f1.jpg,fake,\n")
    g = read_crop_csv(generic)
    assert g["label"].tolist() == [0, 1]
    assert g["group"][0] == "s1" and g["group"][1] == g["path"][1]  # no group: its own

    bad = tmp_path / "bad.csv"
    bad.write_text("path,label\nfaces/r1.jpg,maybe\n")
    with pytest.raises(LayoutError, match="maybe"):
        read_crop_csv(bad)


def _ff_layout(root: Path) -> None:
    for vid in ("000", "003", "001", "002"):
        _touch(root / f"original_sequences/youtube/c23/videos/{vid}.mp4")
    for method in ("Deepfakes", "FaceSwap"):
        for name in ("000_003", "003_000", "001_002"):
            _touch(root / f"manipulated_sequences/{method}/c23/videos/{name}.mp4")
    _touch(root / "manipulated_sequences/Deepfakes/c40/videos/000_003.mp4")
    _touch(root / "original_sequences/actors/c23/videos/01__exit_phone_room.mp4")
    _touch(root / "original_sequences/actors/c23/videos/02__talking.mp4")
    _touch(root / "manipulated_sequences/DeepFakeDetection/c23/videos/01_02__exit_phone_room__YVGY8LOK.mp4")
    (root / "splits").mkdir()
    (root / "splits/train.json").write_text(json.dumps([["000", "003"]]))
    (root / "splits/test.json").write_text(json.dumps([["001", "002"]]))


def test_read_faceforensics_groups_and_split(tmp_path):
    _ff_layout(tmp_path)
    df = read_faceforensics(tmp_path)
    assert len(df) == 4 + 6 + 1 + 2 + 1
    by = df.set_index(["method", "compression", "video"])
    # a fake joins its target and donor source videos into one group
    assert by.loc[("Deepfakes", "c23", "000_003"), "group"] == by.loc[("original", "c23", "003"), "group"]
    assert by.loc[("original", "c23", "000"), "group"] == by.loc[("original", "c23", "003"), "group"]
    assert by.loc[("original", "c23", "001"), "group"] != by.loc[("original", "c23", "000"), "group"]
    # DeepFakeDetection: actors linked by a swap share a group; identity is the actor
    dfd = df[df.source == "actors"]
    assert dfd["group"].nunique() == 1 and set(dfd["identity"]) == {"actor01", "actor02"}
    assert set(df.loc[df.label == 1, "method"]) == {"Deepfakes", "FaceSwap", "DeepFakeDetection"}

    c23 = read_faceforensics(tmp_path, compression="c23", methods=["FaceSwap"])
    assert set(c23["compression"]) == {"c23"} and set(c23.loc[c23.label == 1, "method"]) == {"FaceSwap"}

    train = read_faceforensics(tmp_path, split="train", compression="c23")
    test = read_faceforensics(tmp_path, split="test", compression="c23")
    # originals of the pair + both methods' fakes of it; DFD actors have no official split
    assert sorted(train["video"]) == ["000", "000_003", "000_003", "003", "003_000", "003_000"]
    assert sorted(test["video"]) == ["001", "001_002", "001_002", "002"]
    check_no_leakage(train, test)  # the official pairs never straddle
    with pytest.raises(LayoutError, match="split"):
        read_faceforensics(tmp_path, split="val")


def test_read_celebdf(tmp_path):
    for rel in ("Celeb-real/id0_0000.mp4", "Celeb-real/id1_0001.mp4", "Celeb-synthesis/id0_id1_0000.mp4",
                "Celeb-synthesis/id1_id0_0001.mp4", "YouTube-real/00000.mp4"):
        _touch(tmp_path / rel)
    lst = tmp_path / "List_of_testing_videos.txt"
    lst.write_text("1 Celeb-real/id1_0001.mp4\n0 Celeb-synthesis/id1_id0_0001.mp4\n")
    df = read_celebdf(tmp_path)
    fake = df[df.video == "Celeb-synthesis/id0_id1_0000.mp4"].iloc[0]
    assert (fake.label, fake.group, fake.identity, fake.donor) == (1, "id0_0000", "id0", "id1")
    assert df.loc[df.video == "Celeb-real/id0_0000.mp4", "group"].item() == "id0_0000"
    assert sorted(read_celebdf(tmp_path, split="test")["video"]) == [
        "Celeb-real/id1_0001.mp4", "Celeb-synthesis/id1_id0_0001.mp4"]
    assert len(read_celebdf(tmp_path, split="train")) == 3
    lst.write_text("0 Celeb-real/id1_0001.mp4\n")  # list says fake, folder says real
    with pytest.raises(LayoutError, match="id1_0001"):
        read_celebdf(tmp_path)


# ------------------------------------------------------------------------------- splits
def _dfdc_like(n_sources: int = 40, fakes_per_source: int = 2) -> pd.DataFrame:
    rows = []
    for s in range(n_sources):
        src = f"src{s:03d}.mp4"
        rows.append({"path": f"/x/{src}", "label": 0, "group": src, "video": src})
        for k in range(fakes_per_source):
            v = f"fake{s:03d}_{k}.mp4"
            rows.append({"path": f"/x/{v}", "label": 1, "group": src, "video": v})
    return pd.DataFrame(rows)


def test_group_split_keeps_fakes_with_their_source():
    df = _dfdc_like()
    split = group_split(df, fractions=(0.6, 0.2, 0.2), seed=1)
    parts = split.parts()
    assert sum(len(p) for p in parts.values()) == len(df)
    assert set().union(*(set(p["video"]) for p in parts.values())) == set(df["video"])
    for a in parts:
        for b in parts:
            if a < b:
                assert not set(parts[a]["group"]) & set(parts[b]["group"])
    for p in parts.values():  # stratified: the 1:2 real:fake ratio survives in every part
        assert 0.55 < p["label"].mean() < 0.8
    again = group_split(df, fractions=(0.6, 0.2, 0.2), seed=1)
    assert again.test["video"].tolist() == split.test["video"].tolist()
    other = group_split(df, fractions=(0.6, 0.2, 0.2), seed=2)
    assert other.test["video"].tolist() != split.test["video"].tolist()
    two = group_split(df, test_size=0.25, seed=0)
    assert len(two.val) == 0 and len(two.train) + len(two.test) == len(df)


def test_leakage_check_refuses_fake_and_source_on_two_sides():
    df = _dfdc_like(4, 1)
    train = df[df.video != "fake002_0.mp4"]
    test = df[df.video == "fake002_0.mp4"]  # its source src002 stays in train
    with pytest.raises(LeakageError, match="src002.mp4") as err:
        check_no_leakage(train, test)
    assert err.value.column == "group" and err.value.values == ["src002.mp4"]
    assert "train" in str(err.value) and "test" in str(err.value)
    check_no_leakage(df[df.group != "src002.mp4"], df[df.group == "src002.mp4"])  # clean: passes
    with pytest.raises(ValueError, match="cannot check"):
        check_no_leakage(df[["path"]], df[["path"]])


def test_identity_merges_groups_and_split_respects_it():
    df = _dfdc_like(12, 1)
    # the same person acts in src000, src001 and src002 (a chain: 0-1 via "p", 1-2 via "q"
    # through the fake of src001), so all three sources must land on one side
    df["identity"] = None
    df.loc[df.video.isin(["src000.mp4", "src001.mp4"]), "identity"] = "p"
    df.loc[df.video.isin(["fake001_0.mp4", "src002.mp4"]), "identity"] = "q"
    merged = merge_groups(df, "identity")
    key = merged.set_index("video")["split_group"]
    assert key["src000.mp4"] == key["src001.mp4"] == key["src002.mp4"] == key["fake002_0.mp4"]
    assert key["src003.mp4"] != key["src000.mp4"]
    assert merged["split_group"].nunique() == 10
    for seed in range(4):
        split = group_split(merged, group_col="split_group", test_size=0.3, seed=seed)
        check_no_leakage(split.train, split.test, cols=("group", "identity", "split_group"))
    # splitting by source video alone leaks the person: refused
    df["identity"] = "everyone"
    with pytest.raises(LeakageError, match="identity"):
        group_split(df, test_size=0.3, seed=0)


# ----------------------------------------------------------------------------- identity
def test_cluster_identities_groups_close_descriptors():
    rng = np.random.default_rng(0)
    centers = rng.normal(size=(3, 128))
    centers /= np.linalg.norm(centers, axis=1, keepdims=True)  # ~1.4 apart, like dlib people
    desc = np.concatenate([c + rng.normal(scale=0.01, size=(4, 128)) for c in centers])
    desc = np.vstack([desc, np.full((1, 128), np.nan)])
    ids = cluster_identities(desc.astype(np.float32), threshold=0.5)
    assert ids[-1] == -1
    assert [len(set(ids[i * 4 : i * 4 + 4])) for i in range(3)] == [1, 1, 1]
    assert len(set(ids[:-1])) == 3


def test_compute_descriptors_same_face_close_and_cache_resumes(tmp_path, astronaut):
    face = np.ascontiguousarray(astronaut[20:220, 150:350])  # her face, tightly framed
    a = tmp_path / "a.png"
    b = tmp_path / "b.jpg"
    cv2.imwrite(str(a), cv2.cvtColor(face, cv2.COLOR_RGB2BGR))
    shifted = np.ascontiguousarray(astronaut[30:230, 140:340])
    cv2.imwrite(str(b), cv2.cvtColor(shifted, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 70])
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not an image")
    cache = tmp_path / "desc.parquet"
    d = compute_descriptors([a, b, bad], cache_path=cache)
    assert d.shape == (3, 128) and d.dtype == np.float32
    assert np.isnan(d[2]).all() and not np.isnan(d[:2]).any()
    assert np.linalg.norm(d[0] - d[1]) < 0.4  # one person, re-framed and recompressed
    a.unlink()  # now only the cache can answer for a.png
    again = compute_descriptors([a, b], cache_path=cache)
    np.testing.assert_array_equal(again, d[:2])


# ----------------------------------------------------------------------------- datasets
def test_crop_dataset_preload_cache_matches_on_demand(tmp_path):
    paths = [_jpg(tmp_path / f"c{i}.jpg", i, size=40 + 8 * i) for i in range(4)]
    items = pd.DataFrame({"path": [str(p) for p in paths], "label": [0, 1, 1, 0]})
    lazy = CropDataset(items, size=32)
    x, y = lazy[1]
    assert x.shape == (3, 32, 32) and x.dtype == torch.float32 and y.item() == 1.0
    raw = CropDataset(items, size=32, mean=None, std=None)[0][0]
    assert 0.0 <= raw.min() and raw.max() <= 1.0
    cache = tmp_path / "cache"
    pre = CropDataset(items, size=32, preload=True, cache_dir=cache)
    files = list(cache.glob("*.npy"))
    assert len(files) == 1 and np.load(files[0]).shape == (4, 32, 32, 3)
    for i in range(4):
        torch.testing.assert_close(pre[i][0], lazy[i][0])
    assert isinstance(CropDataset(items, size=32, preload=True, cache_dir=cache).store.array, np.memmap)
    CropDataset(items, size=24, preload=True, cache_dir=cache)  # another size: another file
    assert len(list(cache.glob("*.npy"))) == 2


def test_crop_dataset_bad_files_are_named(tmp_path):
    good = _jpg(tmp_path / "good.jpg", 0)
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8garbage")
    items = pd.DataFrame({"path": [str(good), str(bad)], "label": [0, 1]})
    with pytest.raises(MediaError, match="bad.jpg"):
        CropDataset(items, size=16)[1]
    with pytest.raises(FakescopeError, match="bad.jpg"):
        CropDataset(items, size=16, preload=True)
    with pytest.raises(MediaError, match="missing"):
        read_image_rgb(tmp_path / "nope.jpg")
    with pytest.raises(ValueError, match="labels"):
        CropDataset(pd.DataFrame({"path": [str(good)], "label": [None]}))


def _manifest(tmp_path: Path) -> pd.DataFrame:
    rows = []
    for t, n in ((0, 7), (1, 2)):  # track 0: 7 crops, track 1: 2 crops
        for k in range(n):
            crop = _jpg(tmp_path / f"v_t{t}_f{k}.jpg", 10 * t + k, size=24)
            rows.append({"path": "/in/v.mp4", "label": 1, "group": "src.mp4", "status": "ok",
                         "crop": str(crop), "frame_index": 10 * k, "track_id": t, "fallback": False})
    rows.append({"path": "/in/v.mp4", "label": 1, "group": "src.mp4", "status": "ok",
                 "crop": str(_jpg(tmp_path / "fb.jpg", 99, 24)), "frame_index": 0, "track_id": -1,
                 "fallback": True})
    rows.append({"path": "/in/broken.mp4", "label": 0, "group": "broken.mp4", "status": "error",
                 "reason": "truncated"})
    floats = ("time_s", "box_x0", "box_y0", "box_x1", "box_y1", "confidence")
    return manifest_frame([{**dict.fromkeys(floats, np.nan), **r} for r in rows])


def test_manifest_items_and_sequences(tmp_path):
    man = _manifest(tmp_path)
    items = manifest_items(man)
    assert len(items) == 9 and set(items["track_id"]) == {0, 1}  # no fallback, no status row
    assert set(items["video"]) == {"/in/v.mp4"} and set(items["group"]) == {"src.mp4"}
    seqs = manifest_sequences(man, length=3, stride=2, step=1)
    t0 = seqs[seqs.track_id == 0]
    assert t0["frame_indices"].tolist() == [[0, 20, 40], [10, 30, 50], [20, 40, 60]]
    assert seqs[seqs.track_id == 1]["frame_indices"].tolist() == [[0, 10, 0]]  # looped short track
    assert len(manifest_sequences(man, length=3, stride=2, pad_short=False)) == 1
    consecutive = manifest_sequences(man, length=3)
    assert consecutive[consecutive.track_id == 0]["frame_indices"].tolist() == [[0, 10, 20], [30, 40, 50]]

    ds = SequenceDataset(seqs, transform=build_augment(1.0, seed=0), size=16)
    x, y = ds[0]
    assert x.shape == (3, 3, 16, 16) and y.item() == 1.0
    plain = SequenceDataset(seqs, size=16, preload=True)
    frames = plain.frames(3)  # the looped track: first and third frame are the same crop
    np.testing.assert_array_equal(frames[0], frames[2])


def test_dataloader_workers_get_distinct_but_reproducible_augmentation(tmp_path):
    p = _jpg(tmp_path / "same.jpg", 0, size=32)
    items = pd.DataFrame({"path": [str(p)] * 4, "label": [0] * 4})

    def run() -> list[torch.Tensor]:
        ds = CropDataset(items, transform=build_augment(1.0, seed=0), size=32)
        torch.manual_seed(123)
        dl = torch.utils.data.DataLoader(ds, batch_size=2, num_workers=2, worker_init_fn=seed_worker)
        return [x for x, _ in dl]

    a, b = run(), run()
    for xa, xb in zip(a, b):
        torch.testing.assert_close(xa, xb)
    assert not torch.equal(a[0], a[1])  # the two workers' batches are augmented differently


# ----------------------------------------------------------------------------- samplers
def test_stratified_video_sampler_one_item_per_video_per_epoch():
    videos = ["a"] * 5 + ["b"] * 3 + ["c"] * 1 + ["d"] * 4
    s = StratifiedVideoSampler(videos, seed=0)
    epochs = []
    for e in range(6):
        s.set_epoch(e)
        idx = list(s)
        assert len(idx) == len(s) == 4
        assert sorted(videos[i] for i in idx) == ["a", "b", "c", "d"]
        epochs.append(idx)
    assert len({tuple(sorted(e)) for e in epochs}) > 1  # a new random item per epoch
    s2 = StratifiedVideoSampler(videos, seed=0)
    s2.set_epoch(3)
    assert list(s2) == epochs[3]

    labels = [1] * 5 + [1] * 3 + [0] * 1 + [1] * 4
    bal = StratifiedVideoSampler(videos, labels, class_balance=True, seed=0)
    idx = list(bal)
    assert len(idx) == len(bal) == 6
    assert Counter(labels[i] for i in idx) == {0: 3, 1: 3}


def test_class_balanced_sampler():
    labels = [0] * 90 + [1] * 10
    s = ClassBalancedSampler(labels, num_samples=4000, seed=0)
    frac = np.mean([labels[i] for i in s])
    assert 0.45 < frac < 0.55
    s.set_epoch(1)
    a = list(s)
    s.set_epoch(1)
    assert list(s) == a


# ------------------------------------------------------------------------ augmentation
def test_augment_deterministic_and_scales_with_strength(astronaut):
    img = np.ascontiguousarray(astronaut[::4, ::4])

    def outs(strength: float, seed: int) -> list[np.ndarray]:
        t = build_augment(strength, seed=seed)
        return [t(image=img)["image"] for _ in range(24)]

    a, b, c = outs(1.0, 7), outs(1.0, 7), outs(1.0, 8)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not all(np.array_equal(x, y) for x, y in zip(a, c))
    flipped = img[:, ::-1]
    assert all(np.array_equal(o, img) or np.array_equal(o, flipped) for o in outs(0.0, 1))

    def change(outputs):  # distance to the nearest of (original, flipped)
        return np.mean([min(np.abs(o.astype(int) - img).mean(), np.abs(o.astype(int) - flipped).mean())
                        for o in outputs])

    assert change(outs(0.2, 3)) < change(outs(1.0, 3))
    names = {type(t).__name__ for t in build_augment(1.0).transforms}
    assert {"ImageCompression", "GaussNoise", "OneOf", "ToGray", "Affine", "CoarseDropout"} <= names
    assert "CoarseDropout" not in {type(t).__name__ for t in build_augment(1.0, cutout=False).transforms}


# ------------------------------------------------------------------------------- mixup
def test_mixup_mixes_inputs_and_labels():
    x = torch.randn(8, 3, 4, 4)
    y = torch.tensor([0, 1] * 4)
    g = torch.Generator().manual_seed(0)
    r = mixup_batch(x, y, alpha=0.4, prob=1.0, generator=g)
    assert r.perm is not None and 0.0 <= r.lam <= 1.0
    torch.testing.assert_close(r.x, r.lam * x + (1 - r.lam) * x[r.perm])
    torch.testing.assert_close(r.y, r.lam * y.float() + (1 - r.lam) * y.float()[r.perm])
    loss = torch.nn.functional.binary_cross_entropy_with_logits(torch.zeros(8), r.y)
    assert torch.isfinite(loss)
    r2 = mixup_batch(x, y, alpha=0.4, prob=1.0, generator=torch.Generator().manual_seed(0))
    assert r2.lam == r.lam and torch.equal(r2.perm, r.perm)
    untouched = mixup_batch(x, y, prob=0.0, generator=g)
    assert untouched.lam == 1.0 and untouched.x is x
    g = torch.Generator().manual_seed(1)
    mixed = [mixup_batch(x, y, alpha=0.2, prob=0.7, generator=g).perm is not None for _ in range(400)]
    assert 0.62 < np.mean(mixed) < 0.78
    with pytest.raises(TypeError):
        mixup_batch(torch.zeros(4, 3, dtype=torch.uint8), y[:4])


# ------------------------------------------------------------------------ shared data
@pytest.mark.shared
def test_shared_dfdc_faces_csv(shared_data):
    d = shared_data / "dfdc_faces"
    df = read_crop_csv(d / "metadata.csv", d / "faces_224")
    assert len(df) == 23260 and int(df["label"].sum()) == 11864  # the counts the README gives
    fakes = df[df.label == 1]
    assert (fakes["group"] == fakes["original"]).all()
    sub = df[df["group"].isin(df["group"].drop_duplicates().sample(300, random_state=0))]
    split = group_split(sub, seed=0)
    assert len(split.train) and len(split.val) and len(split.test)
    img = read_image_rgb(df["path"][0])
    assert img.shape == (224, 224, 3) and img.dtype == np.uint8
