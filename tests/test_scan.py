"""The scan pipeline on generated media: a real face image, a self-blended fake of it, a
face-less image, a corrupt file and a short video.

The detector is an *untrained* FakeBuster bundle: its scores are meaningless, so these tests
check the plumbing (evidence → score → verdict → result, abstain reasons, batch behaviour,
resume) and never that a fake is called fake.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from bundle_factory import make_bundle
from media_factory import face_boxes, make_corrupt, make_image, make_video
from PIL import Image

from fakescope.data.synth import self_blend
from fakescope.detectors import create_detector
from fakescope.evaluate.aggregate import aggregate_scores
from fakescope.faces import box_iou, create_face_detector
from fakescope.media import UniformSampling, sha256_file
from fakescope.output.atomic import RecordLog
from fakescope.output.formats import (
    CSV_COLUMNS,
    result_from_dict,
    result_to_dict,
    to_csv,
    to_json_line,
    to_table,
)
from fakescope.scan import Scanner, exit_code, is_failure, scan_batch

IMAGE_SIZE = (256, 256)
VIDEO_SIZE = (320, 240)
VIDEO_FRAMES = 8


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    root = tmp_path_factory.mktemp("scan")
    bundle, sha, _ = make_bundle(root / "fb.pt", threshold=0.5)
    faces = create_face_detector("mtcnn", min_face_size=24)  # the test media are small
    detector = create_detector(weights=bundle, runtime="torch")
    scanner = Scanner(detector, face_detector=faces, sampling="uniform:4")
    media = root / "media"
    media.mkdir()
    make_image(media / "face.png", size=IMAGE_SIZE)
    real = np.asarray(Image.open(media / "face.png").convert("RGB"))
    det = faces.detect(real)[0]
    fake, _ = self_blend(real, det.landmarks, rng=0)
    Image.fromarray(fake).save(media / "fake.png")
    make_image(media / "blank.png", size=IMAGE_SIZE, blank=True)
    make_corrupt(media / "bad.mp4", "garbage")
    make_video(media / "vid.mp4", n_frames=VIDEO_FRAMES, size=VIDEO_SIZE)
    journal = root / "results.jsonl"
    results = scan_batch(scanner, [media], journal=journal, explain_dir=root / "explain")
    return {
        "root": root, "media": media, "bundle": bundle, "sha": sha, "faces": faces,
        "scanner": scanner, "journal": journal, "results": results,
        "by_name": {r.path.rsplit("/", 1)[-1]: r for r in results},
    }


def test_batch_scans_every_input_in_order(env):
    names = [r.path.rsplit("/", 1)[-1] for r in env["results"]]
    assert names == ["bad.mp4", "blank.png", "face.png", "fake.png", "vid.mp4"]
    assert [is_failure(r) for r in env["results"]] == [True, False, False, False, False]
    assert exit_code(env["results"]) == 2  # the corrupt file makes the run incomplete


def test_corrupt_file_abstains_with_its_reason(env):
    r = env["by_name"]["bad.mp4"]
    assert r.verdict == "abstain" and r.score is None
    assert r.reason.startswith("unreadable: ")
    assert r.tracks == [] and r.timeline == []
    assert r.sha256 == sha256_file(env["media"] / "bad.mp4")  # bytes readable, not decodable


def test_faceless_image_abstains(env):
    r = env["by_name"]["blank.png"]
    assert (r.verdict, r.score, r.reason, r.kind) == ("abstain", None, "no_face", "image")
    assert not is_failure(r)
    assert exit_code([r]) == 0


def test_real_face_result_fields(env):
    r = env["by_name"]["face.png"]
    assert r.kind == "image" and r.verdict in ("fake", "real")
    assert r.sha256 == sha256_file(env["media"] / "face.png")
    assert r.detector.name == "fakebuster" and r.detector.weights_sha256 == env["sha"]
    assert r.threshold == 0.5
    assert set(r.timings_s) == {"probe", "decode", "faces", "detector", "explain", "provenance",
                                "total"}
    assert len(r.tracks) == 1 and r.tracks[0].frames == [0]
    truth = face_boxes(IMAGE_SIZE, faces=1, moving=False)[0]
    assert box_iou(r.tracks[0].boxes[0], truth).item() > 0.5
    assert [(p.frame, p.time_s) for p in r.timeline] == [(0, 0.0)]


def test_scores_aggregate_as_documented(env):
    scored = [r for r in env["results"] if r.verdict in ("fake", "real")]
    assert {r.path.rsplit("/", 1)[-1] for r in scored} == {"face.png", "fake.png", "vid.mp4"}
    for r in scored:
        for t in r.tracks:
            assert t.score == pytest.approx(aggregate_scores(t.scores, "mean"))
            assert len(t.scores) == len(t.frames) == len(t.boxes)
        assert r.score == max(t.score for t in r.tracks)
        assert r.verdict == ("fake" if r.score >= r.threshold else "real")


def test_self_blended_fake_is_scored(env):
    real, fake = env["by_name"]["face.png"], env["by_name"]["fake.png"]
    assert fake.verdict in ("fake", "real") and len(fake.tracks) == 1
    assert box_iou(fake.tracks[0].boxes[0], real.tracks[0].boxes[0]).item() > 0.6


def test_video_track_and_timeline(env):
    r = env["by_name"]["vid.mp4"]
    assert r.kind == "video" and len(r.tracks) == 1
    frames = [p.frame for p in r.timeline]
    assert frames == sorted(set(frames)) and len(frames) == 4  # uniform:4, one face each
    assert frames == r.tracks[0].frames
    times = [p.time_s for p in r.timeline]
    assert times == sorted(times) and times[-1] > 0
    for p, s in zip(r.timeline, r.tracks[0].scores):
        assert p.score == pytest.approx(s)  # one face per frame: the timeline is its score


def test_uniform_sampling_never_pads_when_scanning(env):
    s = Scanner(env["scanner"].detector, face_detector=env["faces"], sampling="uniform:32")
    assert s.sampling == UniformSampling(32, circular_pad=False)


def test_explain_writes_overlays_and_timeline(env):
    explain = env["root"] / "explain"
    files = sorted(p.relative_to(explain).as_posix() for p in explain.rglob("*.png"))
    face_dir = f"face_{env['by_name']['face.png'].sha256[:8]}"
    vid_dir = f"vid_{env['by_name']['vid.mp4'].sha256[:8]}"
    assert any(f.startswith(face_dir + "/track0_") for f in files)
    assert f"{vid_dir}/timeline.png" in files
    assert not any(f.startswith("blank_") or f.startswith("bad_") for f in files)
    overlay = np.asarray(Image.open(next(explain.glob(face_dir + "/track0_*.png"))))
    assert overlay.shape == (224, 224, 3)  # a 64-px crop, enlarged to be readable


def test_threshold_override_decides_the_verdict(env):
    path = env["media"] / "face.png"
    low = Scanner(env["scanner"].detector, face_detector=env["faces"], threshold=0.0)
    high = Scanner(env["scanner"].detector, face_detector=env["faces"], threshold=1.0)
    r_low, r_high = low.scan_file(path), high.scan_file(path)
    assert (r_low.verdict, r_low.threshold, exit_code([r_low])) == ("fake", 0.0, 1)
    assert r_high.score < 1.0
    assert (r_high.verdict, exit_code([r_high])) == ("real", 0)
    with pytest.raises(ValueError, match="threshold"):
        Scanner(env["scanner"].detector, face_detector=env["faces"], threshold=1.5)


def test_onnx_runtime_gives_the_same_scan_scores(env, tmp_path, monkeypatch):
    monkeypatch.setenv("FAKESCOPE_CACHE_DIR", str(tmp_path))
    onnx = Scanner(create_detector(weights=env["bundle"], runtime="onnx"),
                   face_detector=env["faces"], sampling="uniform:4")
    for name in ("face.png", "vid.mp4"):
        a, b = env["by_name"][name], onnx.scan_file(env["media"] / name)
        np.testing.assert_allclose(b.tracks[0].scores, a.tracks[0].scores, atol=1e-4)
        assert b.score == pytest.approx(a.score, abs=1e-4)


def test_missing_input_is_reported_not_dropped(env, tmp_path):
    missing = tmp_path / "gone.mp4"
    (r,) = scan_batch(env["scanner"], [missing])
    assert (r.verdict, r.sha256) == ("abstain", None)
    assert r.reason.startswith("unreadable: missing")


def test_internal_failure_is_recorded_and_the_batch_goes_on(env, tmp_path, monkeypatch):
    scanner = env["scanner"]
    real_scan = scanner.scan_file

    def flaky(path, explain_dir=None, next_path=None):
        if str(path).endswith("blank.png"):
            raise RuntimeError("boom")
        return real_scan(path, explain_dir, next_path)

    monkeypatch.setattr(scanner, "scan_file", flaky)
    media = env["media"]
    journal = tmp_path / "j.jsonl"
    results = scan_batch(scanner, [media / "blank.png", media / "bad.mp4"], journal=journal)
    assert results[0].verdict == "error" and results[0].reason == "error: RuntimeError: boom"
    assert results[1].reason.startswith("unreadable")
    assert exit_code(results) == 2
    # An error is not retried on the next run (a poison pill stays one), unless asked.
    monkeypatch.setattr(scanner, "scan_file", real_scan)
    again = scan_batch(scanner, [media / "blank.png", media / "bad.mp4"], journal=journal)
    assert again[0].reason == "error: RuntimeError: boom"
    again = scan_batch(scanner, [media / "blank.png", media / "bad.mp4"], journal=journal,
                       retry_errors=True)
    assert again[0].reason == "no_face"
    assert [json.loads(line)["path"] for line in journal.read_text().splitlines()] == [
        str(media / "blank.png"), str(media / "bad.mp4")]


def _counting(scanner, monkeypatch):
    calls = []
    real_scan = scanner.scan_file

    def counted(path, explain_dir=None, next_path=None):
        calls.append(str(path).rsplit("/", 1)[-1])
        return real_scan(path, explain_dir, next_path)

    monkeypatch.setattr(scanner, "scan_file", counted)
    return calls


def test_rerun_skips_done_inputs_and_rescans_changed_ones(env, tmp_path, monkeypatch):
    media = tmp_path / "media"
    shutil.copytree(env["media"], media)
    journal = tmp_path / "results.jsonl"
    # The module's journal, re-pointed at the copies (same bytes, so same sha256).
    lines = [json.loads(line) for line in env["journal"].read_text().splitlines()]
    for rec in lines:
        rec["path"] = str(media / rec["path"].rsplit("/", 1)[-1])
    journal.write_text("".join(json.dumps(rec) + "\n" for rec in lines))

    calls = _counting(env["scanner"], monkeypatch)
    again = scan_batch(env["scanner"], [media], journal=journal)
    assert calls == []
    assert [result_to_dict(r) for r in again] == lines

    make_image(media / "blank.png", size=(200, 200), blank=True)  # new bytes
    again = scan_batch(env["scanner"], [media], journal=journal)
    assert calls == ["blank.png"]
    recs = list(RecordLog(journal).records())
    assert len(recs) == 5 and len({r["path"] for r in recs}) == 5  # compacted: one per input
    assert next(r for r in recs if r["path"].endswith("blank.png"))["sha256"] == sha256_file(
        media / "blank.png")


def test_killed_run_resumes_where_it_stopped(env, tmp_path, monkeypatch):
    journal = tmp_path / "results.jsonl"
    text = env["journal"].read_text().splitlines(keepends=True)
    # Killed while writing the third record (face.png): two complete lines and a torn one.
    journal.write_text("".join(text[:2]) + text[2][: len(text[2]) // 2])
    calls = _counting(env["scanner"], monkeypatch)
    inputs = [env["media"] / n for n in ("bad.mp4", "blank.png", "face.png")]
    results = scan_batch(env["scanner"], inputs, journal=journal)
    assert calls == ["face.png"]
    assert [result_to_dict(r) for r in results[:2]] == [json.loads(t) for t in text[:2]]
    recs = [json.loads(line) for line in journal.read_text().splitlines()]
    assert [r["path"] for r in recs] == [str(p) for p in inputs]


def test_other_weights_or_threshold_do_not_reuse_results(env, tmp_path, monkeypatch):
    bundle2, _, _ = make_bundle(tmp_path / "other.pt", seed=1)
    scanner2 = Scanner(create_detector(weights=bundle2, runtime="torch"),
                       face_detector=env["faces"], sampling="uniform:4")
    journal = tmp_path / "results.jsonl"
    shutil.copy(env["journal"], journal)
    calls = _counting(scanner2, monkeypatch)
    scan_batch(scanner2, [env["media"] / "blank.png"], journal=journal)
    assert calls == ["blank.png"]
    # Same weights, another threshold: the old verdicts do not hold either.
    scanner3 = Scanner(env["scanner"].detector, face_detector=env["faces"], threshold=0.3)
    calls3 = _counting(scanner3, monkeypatch)
    scan_batch(scanner3, [env["media"] / "blank.png"], journal=journal)
    assert calls3 == ["blank.png"]


def test_result_dict_roundtrip_and_formats(env):
    for r in env["results"]:
        d = json.loads(to_json_line(r))
        assert list(d) == ["path", "sha256", "kind", "verdict", "score", "probability",
                           "threshold", "inconclusive_threshold", "reason", "detector", "tracks",
                           "timeline", "timings_s", "frames_read", "frames_unreadable",
                           "settings_key", "media", "provenance", "explanation"]
        assert d["settings_key"] == env["scanner"].settings_key
        assert result_from_dict(d) == r
    csv_text = to_csv(env["results"]).splitlines()
    assert csv_text[0] == ",".join(CSV_COLUMNS)
    assert len(csv_text) == 6
    table = to_table(env["results"])
    for r in env["results"]:
        assert r.path in table
    assert "5 inputs: " in table and "1 no_face" in table and "1 unreadable" in table


def test_damaged_video_is_scored_from_the_frames_that_decode(env, tmp_path, monkeypatch):
    import fakescope.scan.scanner as scanner_module

    path = make_video(tmp_path / "damaged.mp4", n_frames=60, size=VIDEO_SIZE, gop=10)
    data = bytearray(path.read_bytes())
    a, b = int(len(data) * 0.1), int(len(data) * 0.74)
    data[a:b] = np.random.default_rng(2).integers(0, 256, b - a, dtype=np.uint8).tobytes()
    path.write_bytes(bytes(data))
    scanner = Scanner(env["scanner"].detector, face_detector=env["faces"], sampling="uniform:8")
    r = scanner.scan_file(path)
    assert r.verdict in ("real", "fake") and r.frames_unreadable > 0
    assert r.frames_read + r.frames_unreadable == 8
    assert f"{r.frames_unreadable} of 8 sampled frames unreadable" in to_table([r])
    # Too few frames left for the rule: abstain, naming how many decoded.
    monkeypatch.setattr(scanner_module, "MIN_READABLE_SHARE", 0.9)
    r = scanner.scan_file(path)
    assert r.verdict == "abstain" and r.reason.startswith("unreadable: too_few_frames")
    assert "of 8 sampled frames decoded" in r.reason


@pytest.mark.parametrize("change", [
    {"sampling": "uniform:8"}, {"policy": "largest"}, {"aggregation": "max"},
    {"min_track_frames": 1}, {"face_detector": "haar"}, {"min_face": 40},
])
def test_any_setting_that_changes_results_blocks_reuse(env, tmp_path, monkeypatch, change):
    kwargs = {"sampling": "uniform:4", "policy": "all", "aggregation": "mean", "min_track_frames": 3}
    kwargs.update({k: v for k, v in change.items() if k in kwargs})
    faces = env["faces"]
    if "face_detector" in change:
        faces = create_face_detector("haar")
    if "min_face" in change:
        faces = create_face_detector("mtcnn", min_face_size=change["min_face"])
    other = Scanner(env["scanner"].detector, face_detector=faces, **kwargs)
    assert other.settings_key != env["scanner"].settings_key
    journal = tmp_path / "results.jsonl"
    shutil.copy(env["journal"], journal)
    calls = _counting(other, monkeypatch)
    scan_batch(other, [env["media"] / "blank.png"], journal=journal)
    assert calls == ["blank.png"]
    same = Scanner(env["scanner"].detector, face_detector=env["faces"], sampling="uniform:4")
    assert same.settings_key == env["scanner"].settings_key  # and equal settings reuse
