"""`fakescope extract`: input resolution, the manifest, and end-to-end runs on generated media
(good videos, an image, broken files, a face-less video), class balancing, DFDC metadata,
resumption after a finished or a killed run, worker processes, and the shared clips."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from media_factory import face_boxes, make_corrupt, make_image, make_video
from PIL import Image

from fakescope.cli.main import main
from fakescope.data.manifest import (
    MANIFEST_COLUMNS,
    landmarks_from_json,
    landmarks_to_json,
    read_manifest,
    write_manifest,
)
from fakescope.data.public_layouts import LayoutError
from fakescope.data.sources import SourceItem, detect_layout, resolve_sources
from fakescope.errors import FakescopeError
from fakescope.extract import LOG_NAME, ExtractConfig, extract, sampling_for

CROP = 64  # small crops keep the tests fast; framing is tested in the faces tests


def _config(out: Path, **kw) -> ExtractConfig:
    base = dict(out_dir=str(out), sampling="uniform:3", crop_size=CROP, workers=1)
    base.update(kw)
    return ExtractConfig(**base)


def _iou(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


# ------------------------------------------------------------------------------ sources
def test_resolve_plain_files_dirs_globs_and_missing(tmp_path):
    d = tmp_path / "in"
    (d / "sub").mkdir(parents=True)
    a = make_image(d / "a.png")
    b = make_image(d / "sub" / "b.jpg")
    (d / "notes.txt").write_text("not media")
    items = resolve_sources([d, d / "sub" / "*.jpg", tmp_path / "gone.mp4"])
    paths = [i.path for i in items]
    # the folder is walked recursively, the glob's match is not listed twice, the missing
    # file is kept so that the run can report it
    assert paths == [str(a), str(b), str(tmp_path / "gone.mp4")]
    assert all(i.label is None and i.group == i.path for i in items)
    flat = resolve_sources([d], recursive=False)
    assert [i.path for i in flat] == [str(a)]


def test_resolve_csv_dfdc_and_faceforensics(tmp_path):
    csv = tmp_path / "list.csv"
    pd.DataFrame(
        {"path": ["v/real.mp4", "v/fake.mp4"], "label": ["REAL", "FAKE"], "group": ["g1", "g1"]}
    ).to_csv(csv, index=False)
    assert detect_layout(csv) == "csv"
    assert resolve_sources([csv]) == [
        SourceItem(str(tmp_path / "v" / "real.mp4"), 0, "g1"),
        SourceItem(str(tmp_path / "v" / "fake.mp4"), 1, "g1"),
    ]

    meta = tmp_path / "part0" / "metadata.json"
    meta.parent.mkdir()
    meta.write_text(json.dumps({
        "aaa.mp4": {"label": "REAL", "split": "train"},
        "bbb.mp4": {"label": "FAKE", "split": "train", "original": "aaa.mp4"},
    }))
    for arg in (meta, tmp_path / "part0"):
        assert detect_layout(arg) == "dfdc"
        items = resolve_sources([arg])
        assert [(Path(i.path).name, i.label, i.group) for i in items] == [
            ("aaa.mp4", 0, "aaa.mp4"), ("bbb.mp4", 1, "aaa.mp4")
        ]

    ff = tmp_path / "ff"
    for sub, name in (("original_sequences/youtube/c23/videos", "000.mp4"),
                      ("manipulated_sequences/Deepfakes/c23/videos", "000_003.mp4")):
        (ff / sub).mkdir(parents=True)
        (ff / sub / name).write_bytes(b"")
    assert detect_layout(ff) == "faceforensics"
    items = resolve_sources([ff])
    assert sorted((Path(i.path).name, i.label) for i in items) == [("000.mp4", 0), ("000_003.mp4", 1)]
    assert len({i.group for i in items}) == 1  # the fake and its source share a group

    celeb = tmp_path / "celeb"
    for sub, name in (("Celeb-real", "id0_0000.mp4"), ("Celeb-synthesis", "id0_id1_0000.mp4")):
        (celeb / sub).mkdir(parents=True)
        (celeb / sub / name).write_bytes(b"")
    assert detect_layout(celeb) == "celebdf"
    assert sorted((Path(i.path).name, i.label, i.group) for i in resolve_sources([celeb])) == [
        ("id0_0000.mp4", 0, "id0_0000"), ("id0_id1_0000.mp4", 1, "id0_0000")
    ]

    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2]")
    with pytest.raises(LayoutError, match="bad.json"):
        resolve_sources([bad])


# ----------------------------------------------------------------------------- manifest
@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_manifest_round_trip(tmp_path, suffix):
    lm = np.array([[1, 2], [3, 4], [5, 6], [7, 8], [9, 10]], np.float32)
    rows = [
        {"path": "/x/a.mp4", "sha256": "ab" * 32, "kind": "video", "label": 1, "group": "g",
         "status": "ok", "crop": "crops/a/f000000_t0.jpg", "frame_index": 0, "time_s": 0.0,
         "track_id": 0, "box_x0": 1.5, "box_y0": 2.0, "box_x1": 30.0, "box_y1": 40.0,
         "landmarks": landmarks_to_json(lm), "confidence": 0.99, "fallback": False,
         "frame_width": 320, "frame_height": 240, "detector": "mtcnn", "config_hash": "c"},
        {"path": "/x/b.mp4", "label": None, "group": "/x/b.mp4", "status": "error",
         "reason": "empty", "detail": "0 bytes"},
    ]
    path = tmp_path / f"m{suffix}"
    written = write_manifest(rows, path)
    assert list(written.columns) == list(MANIFEST_COLUMNS)
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary left behind
    back = read_manifest(path, absolute_crops=False)
    pd.testing.assert_frame_equal(back, written)
    assert back["label"].isna().tolist() == [False, True]
    np.testing.assert_allclose(landmarks_from_json(back.loc[0, "landmarks"]), lm)
    assert landmarks_from_json(back.loc[1, "landmarks"]) is None
    absolute = read_manifest(path)
    assert absolute.loc[0, "crop"] == str(tmp_path / "crops/a/f000000_t0.jpg")
    only_failures = write_manifest(rows[1:], tmp_path / f"f{suffix}")  # no crop row at all
    pd.testing.assert_frame_equal(read_manifest(tmp_path / f"f{suffix}"), only_failures)
    assert only_failures["box_x0"].dtype == "float64" and only_failures["crop"].isna().all()
    with pytest.raises(ValueError, match="bogus"):
        write_manifest([{"path": "p", "bogus": 1}], tmp_path / "x.csv")
    with pytest.raises(ValueError, match=".json"):
        write_manifest(rows, tmp_path / "m.json")


def test_balancing_picks_frames_by_label(tmp_path):
    cfg = _config(tmp_path, sampling="every:5", frames_real=40, frames_fake=8)
    assert sampling_for(0, cfg).n == 40 and sampling_for(1, cfg).n == 8
    assert str(sampling_for(None, cfg)) == "every:5"
    assert not sampling_for(None, _config(tmp_path, sampling="uniform:7")).circular_pad
    assert cfg.config_hash() != _config(tmp_path, sampling="every:5").config_hash()
    assert cfg.config_hash() == _config(tmp_path / "elsewhere", sampling="every:5",
                                        frames_real=40, frames_fake=8, workers=3).config_hash()


# ---------------------------------------------------------------------- end to end
@pytest.fixture(scope="module")
def mixed_folder(tmp_path_factory) -> Path:
    """Two good videos (one with two people), an image, a 0-byte file, random bytes named
    .mp4 and a video without a face."""
    d = tmp_path_factory.mktemp("mixed")
    make_video(d / "one.mp4", n_frames=12)
    make_video(d / "two.mp4", n_frames=12, faces=2, size=(480, 240))
    make_image(d / "still.png")
    make_corrupt(d / "empty.mp4", "empty")
    make_corrupt(d / "garbage.mp4", "garbage")
    make_video(d / "noface.mp4", n_frames=12, blank=True)
    return d


_FOLDER_ARGS = ["--sampling", "uniform:3", "--crop-size", str(CROP), "--min-face-size", "20",
                "--no-progress"]


def test_folder_run_records_every_input_and_resumes(mixed_folder, tmp_path, capsys):
    out = tmp_path / "out"
    rc = main(["extract", str(mixed_folder), "-o", str(out), *_FOLDER_ARGS])
    captured = capsys.readouterr()
    assert rc == 2  # some inputs failed
    df = read_manifest(out / "manifest.parquet")
    assert set(df["path"]) == {str(p) for p in mixed_folder.iterdir()}
    by_name = {Path(p).name: g for p, g in df.groupby("path")}

    # failures: one status row each, a reason, and a message naming the file
    expected = {"empty.mp4": ("error", "empty"), "garbage.mp4": ("error", "not_media"),
                "noface.mp4": ("no_face", "no_face")}
    for name, (status, reason) in expected.items():
        rows = by_name[name]
        assert len(rows) == 1 and rows["status"].iloc[0] == status
        assert rows["reason"].iloc[0] == reason and pd.isna(rows["crop"].iloc[0])
        assert f"{mixed_folder / name}: {reason}" in captured.err
    assert "problems by reason: empty: 1, no_face: 1, not_media: 1" in captured.out

    # good inputs: one crop per face per sampled frame, boxes on the true faces
    for name, faces, size in (("one.mp4", 1, (320, 240)), ("two.mp4", 2, (480, 240))):
        rows = by_name[name]
        assert (rows["status"] == "ok").all() and not rows["fallback"].any()
        assert sorted(rows["frame_index"].unique()) == [0, 6, 11]
        assert sorted(rows["track_id"].unique()) == list(range(faces))
        assert len(rows) == 3 * faces
        assert rows["sha256"].iloc[0] == hashlib.sha256((mixed_folder / name).read_bytes()).hexdigest()
        assert rows["kind"].iloc[0] == "video" and rows["label"].isna().all()
        assert (rows["group"] == str(mixed_folder / name)).all()
        np.testing.assert_allclose(rows["time_s"], rows["frame_index"] / 30.0, atol=1e-3)
        assert (rows["frame_width"] == size[0]).all() and (rows["frame_height"] == size[1]).all()
        for r in rows.itertuples():
            box = (r.box_x0, r.box_y0, r.box_x1, r.box_y1)
            truth = face_boxes(size, faces, r.frame_index, n_frames=12)
            assert max(_iou(box, t) for t in truth) > 0.5
            lm = landmarks_from_json(r.landmarks)
            assert lm.shape == (5, 2)
            assert (lm[:, 0] > r.box_x0).all() and (lm[:, 0] < r.box_x1).all()
            assert r.confidence > 0.9
            with Image.open(r.crop) as im:
                assert im.size == (CROP, CROP) and im.format == "JPEG"
    still = by_name["still.png"]
    assert len(still) == 1 and still["frame_index"].iloc[0] == 0 and still["kind"].iloc[0] == "image"

    # a re-run does nothing and rewrites the same manifest
    log_lines = (out / LOG_NAME).read_text().count("\n")
    rc = main(["extract", str(mixed_folder), "-o", str(out), *_FOLDER_ARGS])
    assert rc == 2
    assert "6 input(s): 3 with faces, 1 without a face, 2 failed" in capsys.readouterr().out
    assert (out / LOG_NAME).read_text().count("\n") == log_lines
    pd.testing.assert_frame_equal(read_manifest(out / "manifest.parquet"), df)


def test_csv_labels_balance_frames_per_class(mixed_folder, tmp_path):
    videos = tmp_path / "videos"
    videos.mkdir()
    make_video(videos / "real.mp4", n_frames=30)
    (videos / "fake.mp4").write_bytes((videos / "real.mp4").read_bytes())
    csv = tmp_path / "labels.csv"
    pd.DataFrame({
        "path": ["videos/real.mp4", "videos/fake.mp4", "videos/lost.mp4"],
        "label": ["REAL", "FAKE", "FAKE"],
        "group": ["src0", "src0", "src1"],
    }).to_csv(csv, index=False)
    cfg = _config(tmp_path / "out", frames_real=5, frames_fake=2, min_face_size=20,
                  manifest_name="manifest.csv")
    summary = extract(resolve_sources([csv]), cfg, progress=False)
    assert (summary.inputs, summary.ok, summary.failed, summary.crops) == (3, 2, 1, 7)
    assert summary.by_reason == {"missing": 1} and not summary.all_ok
    assert summary.problems[0].message() == f"{videos / 'lost.mp4'}: missing (no such file)"
    df = read_manifest(tmp_path / "out" / "manifest.csv")
    real = df[df["path"] == str(videos / "real.mp4")]
    fake = df[df["path"] == str(videos / "fake.mp4")]
    assert real["frame_index"].tolist() == [0, 7, 14, 22, 29]  # 40:8 in seed 001, 5:2 here
    assert fake["frame_index"].tolist() == [0, 29]
    assert (real["label"] == 0).all() and (fake["label"] == 1).all()
    assert set(real["group"]) == set(fake["group"]) == {"src0"}
    lost = df[df["path"] == str(videos / "lost.mp4")]
    assert lost[["status", "reason", "label", "group"]].values.tolist() == [
        ["error", "missing", 1, "src1"]
    ]


def test_dfdc_metadata_input(tmp_path, capsys):
    part = tmp_path / "dfdc_train_part_0"
    part.mkdir()
    make_video(part / "aaa.mp4", n_frames=12)
    make_video(part / "bbb.mp4", n_frames=12, moving=False)
    (part / "metadata.json").write_text(json.dumps({
        "aaa.mp4": {"label": "REAL", "split": "train"},
        "bbb.mp4": {"label": "FAKE", "split": "train", "original": "aaa.mp4"},
    }))
    out = tmp_path / "out"
    rc = main(["extract", str(part / "metadata.json"), "-o", str(out), "--frames-real", "3",
               "--frames-fake", "1", "--crop-size", str(CROP), "--min-face-size", "20",
               "--format", "png", "--no-progress"])
    assert rc == 0, capsys.readouterr().err
    df = read_manifest(out / "manifest.parquet")
    counts = df.groupby(df["path"].map(lambda p: Path(p).name)).agg(
        n=("crop", "size"), label=("label", "first"), group=("group", "first"))
    assert counts.to_dict("index") == {
        "aaa.mp4": {"n": 3, "label": 0, "group": "aaa.mp4"},
        "bbb.mp4": {"n": 1, "label": 1, "group": "aaa.mp4"},
    }
    assert all(Path(c).suffix == ".png" and Path(c).is_file() for c in df["crop"])


@pytest.mark.parametrize("interrupt", [KeyboardInterrupt, SystemExit])
def test_killed_run_loses_nothing_and_resumes(tmp_path, monkeypatch, interrupt):
    import fakescope.extract as ex

    src = tmp_path / "in"
    src.mkdir()
    for i in range(3):
        make_image(src / f"img{i}.png", size=(200 + 8 * i, 200))
    cfg = _config(tmp_path / "out", min_face_size=20)
    real_build = ex.build_pipeline

    class DiesOnSecondInput:
        def __init__(self, pipeline):
            self.pipeline, self.calls = pipeline, 0

        def process(self, frames):
            self.calls += 1
            if self.calls == 2:
                raise interrupt()
            return self.pipeline.process(frames)

    monkeypatch.setattr(ex, "build_pipeline", lambda c: DiesOnSecondInput(real_build(c)))
    items = resolve_sources([src])
    with pytest.raises(interrupt):
        extract(items, cfg, progress=False)
    logged = list(ex.RecordLog(tmp_path / "out" / LOG_NAME).records())
    assert [Path(r["path"]).name for r in logged] == ["img0.png"]
    first = read_manifest(tmp_path / "out" / "manifest.parquet")  # rebuilt on the way out
    assert first["path"].tolist() == [str(src / "img0.png")]
    first_crop = Path(first["crop"].iloc[0])
    stamp = first_crop.stat().st_mtime_ns

    monkeypatch.setattr(ex, "build_pipeline", real_build)
    summary = extract(items, cfg, progress=False)
    assert (summary.processed, summary.skipped, summary.ok) == (2, 1, 3)
    df = read_manifest(tmp_path / "out" / "manifest.parquet")
    assert df["path"].tolist() == [str(src / f"img{i}.png") for i in range(3)]
    assert first_crop.stat().st_mtime_ns == stamp  # the finished input was not redone

    # touched but unchanged content: still done; new content: done again
    os.utime(src / "img1.png", ns=(1, 1))
    make_image(src / "img2.png", size=(256, 256), faces=2)
    summary = extract(items, cfg, progress=False)
    assert (summary.processed, summary.skipped, summary.crops) == (1, 2, 4)

    with pytest.raises(FakescopeError, match="crop_size"):
        extract(items, _config(tmp_path / "out", min_face_size=20, crop_size=32), progress=False)


def test_bad_setting_fails_before_work_and_does_not_lock_the_folder(tmp_path):
    make_image(tmp_path / "a.png")
    items = resolve_sources([tmp_path / "a.png"])
    out = tmp_path / "out"
    with pytest.raises(ValueError, match="nope"):
        extract(items, _config(out, crop_preset="nope"), progress=False)
    summary = extract(items, _config(out, min_face_size=20), progress=False)
    assert summary.all_ok and summary.crops == 1


@pytest.mark.slow
def test_worker_processes_match_in_process(mixed_folder, tmp_path):
    names = ("one.mp4", "still.png", "garbage.mp4", "noface.mp4")
    items = resolve_sources([mixed_folder / n for n in names])
    runs = {}
    for workers in (1, 2):
        cfg = _config(tmp_path / f"w{workers}", min_face_size=20, workers=workers)
        summary = extract(items, cfg, progress=False)
        assert (summary.ok, summary.no_face, summary.failed) == (2, 1, 1)
        runs[workers] = read_manifest(cfg.out_dir + "/manifest.parquet", absolute_crops=False)
    cols = ["path", "status", "reason", "crop", "frame_index", "track_id"]
    pd.testing.assert_frame_equal(runs[1][cols], runs[2][cols])
    np.testing.assert_allclose(runs[1]["box_x0"], runs[2]["box_x0"], atol=0.5)


@pytest.mark.slow
@pytest.mark.shared
def test_shared_clips_all_yield_faces_or_a_reason(shared_data, tmp_path):
    labels = shared_data / "videos" / "labels.csv"
    items = resolve_sources([labels])
    assert len(items) == 46
    cfg = ExtractConfig(out_dir=str(tmp_path / "out"), sampling="uniform:4", workers=2)
    summary = extract(items, cfg, progress=False)
    df = read_manifest(tmp_path / "out" / "manifest.parquet")
    assert set(df["path"]) == {i.path for i in items}
    for path, rows in df.groupby("path"):
        if set(rows["status"]) != {"ok"}:
            assert len(rows) == 1 and rows["status"].iloc[0] in ("no_face", "error")
            assert isinstance(rows["reason"].iloc[0], str)
    assert summary.ok >= 40  # measured: 44 of 46 (two tiny DFDC face clips have no face)
    truth = pd.read_csv(labels)
    want = {str((labels.parent / p).resolve()): 1 if lab == "FAKE" else 0
            for p, lab in zip(truth["path"], truth["label"], strict=True)}
    assert df.groupby("path")["label"].first().to_dict() == want
    # the four full-frame DFDC clips (one portrait) all show a face
    dfdc = df[df["path"].str.contains("/videos/dfdc/")]
    assert dfdc["path"].nunique() == 4 and (dfdc["status"] == "ok").all()
    assert summary.ok + summary.no_face + summary.failed == 46
