"""Sequence and clip detectors through the one pipeline: sampling from the detector's needs,
per-track units with steady crops, scan, eval and training — with toy networks (their scores
are meaningless except where a test trains them)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from media_factory import make_video
from temporal_factory import SIZE, make_temporal_bundle, write_tracks

from fakescope.detectors import create_detector
from fakescope.detectors.base import DetectorRequirements
from fakescope.evaluate.aggregate import aggregate_scores
from fakescope.faces import create_face_detector
from fakescope.faces.units import sequence_units
from fakescope.media import DecodeStats, WindowSampling, iter_frames, parse_sampling
from fakescope.scan import Scanner
from fakescope.types import FaceCrop, FaceDetection, FaceTrack

FPS, N_FRAMES = 30, 60


# --------------------------------------------------------------------------- sampling
def test_window_sampling_runs_and_parse():
    s = parse_sampling("windows:3:4:5")
    assert s == WindowSampling(windows=3, length=4, step=5)
    runs = s.runs(100)
    assert [r[0] for r in runs] == [0, 42, 84] and all(len(r) == 4 for r in runs)
    assert all(np.diff(r).tolist() == [5, 5, 5] for r in runs) and runs[-1][-1] == 99
    assert s.indices(100) == sorted({i for r in runs for i in r})
    assert s.runs(10) == [[0, 5]]  # shorter than one run: what the video has
    with pytest.raises(ValueError):
        parse_sampling("windows:3:4")


def test_requirements_say_what_to_sample():
    req = DetectorRequirements(input_size=32, unit="sequence", sequence_length=10, frame_step=7,
                               windows=2)
    assert str(req.sampling()) == "windows:2:10:7" and req.temporal
    assert DetectorRequirements(input_size=32).sampling() is None
    with pytest.raises(ValueError):
        DetectorRequirements(input_size=32, unit="sequence", sequence_length=1)
    with pytest.raises(ValueError):
        DetectorRequirements(input_size=32, unit="clip", sequence_length=8, frame_step=2)


def test_window_sampling_decodes_only_its_frames(tmp_path):
    video = make_video(tmp_path / "v.mp4", n_frames=N_FRAMES, fps=FPS, gop=10)
    sampling = WindowSampling(windows=2, length=3, step=4)
    stats = DecodeStats()
    frames = list(iter_frames(video, sampling, stats=stats))
    assert [f.index for f in frames] == sampling.indices(N_FRAMES) == [0, 4, 8, 51, 55, 59]
    assert stats.targets == 6 and stats.frame_count == N_FRAMES
    assert stats.frames_decoded < N_FRAMES  # the frames between the runs are skipped


# --------------------------------------------------------------------------- units
def _track(frames, jitter=0.0, seed=0):
    rng = np.random.default_rng(seed)
    crops = []
    for f in frames:
        x = 10 + rng.normal(0, jitter)
        det = FaceDetection(box=(x, 10.0, x + 50, 60.0), confidence=0.9)
        crops.append(FaceCrop(np.full((8, 8, 3), f % 256, np.uint8), f, f / FPS, 0, det))
    return FaceTrack(0, crops)


def test_sequence_units_fill_small_gaps_and_drop_empty_runs():
    runs = [[0, 4, 8, 12], [40, 44, 48, 52]]
    track = _track([0, 4, 12, 40])  # frame 8 missed; second run seen once only
    units = sequence_units(track, runs, length=4, step=4)
    assert len(units) == 1
    assert units[0].frames == [0, 4, 4, 12] and units[0].filled == 1
    short = sequence_units(_track([0, 4]), [[0, 4]], length=4, step=4)  # a short video: looped
    assert short[0].frames == [0, 4, 0, 4] and short[0].filled == 2


# --------------------------------------------------------------------------- scan
@pytest.fixture(scope="module")
def scan_env(tmp_path_factory):
    root = tmp_path_factory.mktemp("temporal_scan")
    video = make_video(root / "vid.mp4", n_frames=N_FRAMES, fps=FPS, size=(320, 240),
                       moving=False)
    faces = create_face_detector("mtcnn", min_face_size=24)
    return root, video, faces


@pytest.mark.parametrize("kind", ["sequence", "clip"])
def test_scan_scores_units_per_track(scan_env, kind):
    root, video, faces = scan_env
    bundle = make_temporal_bundle(root / f"{kind}.pt", kind=kind, length=4, step=3, windows=3)
    det = create_detector(weights=bundle, device="cpu")
    assert det.requirements.unit == kind
    scanner = Scanner(det, face_detector=faces)
    step = 1 if kind == "clip" else 3
    assert str(scanner.sampling) == f"windows:3:4:{step}"
    r = scanner.scan_file(video)
    assert r.verdict in ("fake", "real") and r.reason is None
    expected = WindowSampling(3, 4, step)
    assert r.frames_read == len(expected.indices(N_FRAMES))  # decoded only its runs
    assert len(r.tracks) == 1
    t = r.tracks[0]
    assert t.units == expected.runs(N_FRAMES) and len(t.scores) == 3
    assert t.score == pytest.approx(aggregate_scores(t.scores, "mean"))
    assert r.score == pytest.approx(max(tr.score for tr in r.tracks))
    # the units the detector saw score as the result says
    box_of = dict(zip(t.frames, t.boxes))
    for run in t.units:  # steady crops of a still face within each unit
        boxes = np.array([box_of[f] for f in run])
        side = (boxes[:, 2] - boxes[:, 0]).mean()
        assert np.abs(np.diff(boxes, axis=0)).max() < 0.01 * side
    assert [p.frame for p in r.timeline] == [u[len(u) // 2] for u in t.units]


def test_scan_temporal_refuses_foreign_sampling_and_abstains_without_sequence(scan_env, tmp_path):
    root, video, faces = scan_env
    det = create_detector(weights=make_temporal_bundle(tmp_path / "s.pt"), device="cpu")
    with pytest.raises(ValueError, match="windows:K:4:3"):
        Scanner(det, face_detector=faces, sampling="uniform:8")
    assert str(Scanner(det, face_detector=faces, sampling="windows:5:4:3").sampling) == "windows:5:4:3"
    blank = make_video(tmp_path / "blank.mp4", n_frames=30, blank=True)
    r = Scanner(det, face_detector=faces).scan_file(blank)
    assert (r.verdict, r.reason, r.score) == ("abstain", "no_face", None)
    from media_factory import make_image

    still = make_image(tmp_path / "face.png", size=(256, 256))
    r = Scanner(det, face_detector=faces).scan_file(still)
    assert (r.verdict, r.reason, r.score) == ("abstain", "no_sequence", None)


def test_scan_unit_scores_match_detector(scan_env, tmp_path):
    """The score of each unit is the detector's score of those crops (no reshuffling)."""
    root, video, faces = scan_env
    det = create_detector(weights=make_temporal_bundle(tmp_path / "s.pt", seed=3), device="cpu")
    scanner = Scanner(det, face_detector=faces)
    front = scanner.find_faces(video)
    units = scanner.units(front)[0]
    direct = det.score_units(np.stack([u.images() for u in units]))
    r = scanner.score_faces(front)
    assert r.tracks[0].scores == pytest.approx(direct.tolist())
    assert len({round(s, 6) for s in direct}) > 1  # distinct units, distinct scores


# --------------------------------------------------------------------------- train + eval
@pytest.mark.parametrize("kind", ["sequence", "clip"])
def test_train_and_eval_temporal(tmp_path, kind):
    from fakescope.cli.main import main
    from fakescope.detectors.bundle import load_bundle
    from fakescope.train.config import load_config
    from fakescope.train.trainer import Trainer

    table = write_tracks(tmp_path / "data", frames=16, spacing=1 if kind == "clip" else 2)
    sets = {"data.table": str(table), "data.image_size": SIZE, "model.name": f"toy_{kind}",
            "sequence.unit": kind, "sequence.length": 4,
            "sequence.frame_step": 1 if kind == "clip" else 4, "epochs": 6, "batch_size": 4,
            "optim.lr": 0.05, "schedule.name": "constant", "augment.enabled": False,
            "progressive.enabled": False, "mixup.enabled": False,
            "early_stopping.enabled": False, "export.detector": f"toy_{kind}",
            "out_dir": str(tmp_path / "run"), "device": "cpu", "threads": 1}
    cfg = load_config(None, [f"{k}={v}" for k, v in sets.items()])
    result = Trainer(cfg, progress=False).fit()
    meta = load_bundle(result.bundle_path).meta
    assert (meta.unit, meta.sequence_length, meta.detector) == (kind, 4, f"toy_{kind}")
    preds = pd.read_csv(tmp_path / "run" / "val_predictions.csv")
    # 4 val videos x 16 crops each; clip: 4 consecutive frames (crops 1 apart: 4 per track);
    # sequence: 1 in 4 frames at a spacing of 2 = every 2nd crop, span 7 (2 per track)
    assert len(preds) == 4 * (4 if kind == "clip" else 2)
    assert result.history[-1]["train_loss"] < result.history[0]["train_loss"]

    out = tmp_path / "eval"
    rc = main(["eval", "--bundle", str(result.bundle_path), "--data", str(table), "--out",
               str(out), "--n-bootstrap", "0", "-q"])
    assert rc == 0
    p = pd.read_csv(out / "predictions.csv")
    assert len(p) == len(preds) and p["error"].isna().all()
    assert p["frames"].str.split().map(len).eq(4).all()
    report = json.loads((out / "report.json").read_text())
    assert report["levels"]["video"]["n"] == 4


def test_hypersphere_recipe_trains_a_sequence_model(tmp_path):
    """The loss chosen by the config: centre placed from real units, then calibrated."""
    from fakescope.train.config import ConfigError, load_config

    table = write_tracks(tmp_path / "data")
    with pytest.raises(ConfigError, match="mixup"):
        load_config(None, [f"data.table={table}", "loss.name=hypersphere"])


def test_self_blended_sequence_is_one_blend_following_the_face(astronaut):
    """One draw of blend parameters for all frames: on a still face every frame gets the same
    blend; on a moving face the blended region moves with the landmarks."""
    from media_factory import ASTRONAUT_FACE_BOX

    from fakescope.data.blended_sequences import blend_sequence, smooth_track

    img = astronaut
    x0, y0, x1, y1 = ASTRONAUT_FACE_BOX  # 68 points on an ellipse inside the face
    t = np.linspace(0, 2 * np.pi, 68, endpoint=False)
    pts = np.stack([(x0 + x1) / 2 + 0.4 * (x1 - x0) * np.cos(t),
                    (y0 + y1) / 2 + 0.4 * (y1 - y0) * np.sin(t)], axis=1).astype(np.float32)
    still = blend_sequence(np.stack([img] * 4), np.stack([pts] * 4), seed=7)
    assert all(np.array_equal(still[0], f) for f in still[1:])
    assert np.abs(still[0].astype(int) - img).max() > 10  # something was blended in
    other = blend_sequence(np.stack([img] * 2), np.stack([pts] * 2), seed=8)
    assert not np.array_equal(other[0], still[0])  # a different draw per sequence

    shifted = [np.roll(img, 8 * k, axis=1) for k in range(3)]  # the face moves right
    moving = blend_sequence(np.stack(shifted), np.stack([pts + [8 * k, 0] for k in range(3)]), seed=7,
                            sigma=0)
    cols = [np.flatnonzero(np.abs(m.astype(int) - s).sum((0, 2)) > 0) for m, s in zip(moving, shifted)]
    assert cols[1].mean() - cols[0].mean() == pytest.approx(8, abs=1.5)
    jitter = np.stack([pts + np.random.default_rng(k).normal(0, 2, pts.shape) for k in range(5)])
    assert np.std(smooth_track(jitter), axis=0).mean() < np.std(jitter, axis=0).mean()


def test_item_sequences_follow_frame_indices_not_rows():
    from fakescope.data.datasets import item_sequences

    # two overlapping runs 1 in 7 (0, 7, ..., 28 and 3, 10, ..., 31), a third far away with a
    # missed face at 107, and a track too short for any sequence
    frames = [*range(0, 29, 7), *range(3, 32, 7), 100, 114, 121, 128]
    items = pd.DataFrame({"path": [f"a{f}.png" for f in frames], "label": 0, "video": "a",
                          "frame_index": frames, "track_id": 0})
    short = pd.DataFrame({"path": ["b0.png", "b7.png"], "label": 1, "video": "b",
                          "frame_index": [0, 7], "track_id": 0})
    seqs = item_sequences(pd.concat([items, short]), length=4, frame_step=7)
    got = {v: list(map(list, g["frame_indices"])) for v, g in seqs.groupby("video")}
    # non-overlapping: the first run's sequence; none across the jump to 100 nor over the
    # missed face at 107; 114-128 holds only three
    assert got["a"] == [[0, 7, 14, 21]]
    assert got["b"] == [[0, 7, 0, 7]]  # looped, as a short video is in scan
    overlapping = item_sequences(items, length=4, frame_step=7, step=1)
    assert [3, 10, 17, 24] in [list(f) for f in overlapping["frame_indices"]]


def test_eval_of_sequences_leaves_out_one_with_an_unreadable_crop(tmp_path):
    from fakescope.evaluate.predict import predict_items, read_item_table

    table = write_tracks(tmp_path / "data", {"test": 2}, frames=8, spacing=1)
    (tmp_path / "data" / "v000_f001.png").write_bytes(b"not an image")
    det = create_detector(weights=make_temporal_bundle(tmp_path / "c.pt", kind="clip", length=4),
                          device="cpu")
    preds = predict_items(det, read_item_table(table))
    assert len(preds) == 4  # 2 videos x 2 clips of 4 consecutive frames
    bad = preds[preds["error"] != ""]
    assert len(bad) == 1 and bad["frames"].iloc[0] == "0 1 2 3" and np.isnan(bad["score"].iloc[0])
    assert preds.loc[preds["error"] == "", "score"].between(0, 1).all()
