"""File-level calibration: false-alarm points, Platt probability, the three verdict bands,
their exit code, the calibration file and `fakescope calibrate` on records it builds."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from bundle_factory import make_bundle
from media_factory import make_image

from fakescope.cli.main import main
from fakescope.detectors import create_detector
from fakescope.errors import WeightsError
from fakescope.evaluate.calibration import (
    FileCalibration,
    KindCalibration,
    Verdicts,
    far_threshold,
    fit_calibration,
    load_calibration,
    resolve_calibration,
)
from fakescope.faces import create_face_detector
from fakescope.output.formats import to_json_line, to_table
from fakescope.scan import EXIT_INCONCLUSIVE, Scanner, exit_code
from fakescope.types import DetectorInfo, ScanResult


def _kind(fake=0.8, inc=0.6, a=1.0, b=0.0) -> KindCalibration:
    return KindCalibration(fake_threshold=fake, inconclusive_threshold=inc, platt_a=a,
                           platt_b=b, n_real=40, n_fake=40)


def _cal(sha="ab" * 32, **kinds) -> FileCalibration:
    return FileCalibration(detector="toy", weights_sha256=sha, kinds=kinds or {"video": _kind()})


@pytest.mark.parametrize("n", [100, 400, 1000])
def test_far_points_hit_their_rates_on_a_toy_set(n):
    reals = np.random.default_rng(n).uniform(0, 1, n)
    for far in (0.01, 0.05):
        t = far_threshold(reals, far)
        called = int((reals >= t).sum())
        assert called == int(np.floor(far * n))  # as many as allowed, no more
        assert (reals >= np.nextafter(t, -np.inf) - 1e-12).sum() >= called  # the lowest such t


def test_far_point_with_few_reals_is_above_them_all():
    assert far_threshold([0.2, 0.9, 0.5], 0.01) > 0.9


def test_fit_gives_bands_from_reals_and_a_monotone_probability():
    rng = np.random.default_rng(0)
    real = rng.beta(2, 5, 200)
    fake = rng.beta(5, 2, 200)
    table = pd.DataFrame({"score": np.r_[real, fake], "label": np.r_[np.zeros(200), np.ones(200)],
                          "kind": "video", "source": np.r_[["A"] * 100, ["B"] * 100, ["F"] * 200]})
    cal = fit_calibration(table, detector="toy", weights_sha256="00" * 32)
    k = cal.kinds["video"]
    assert (real >= k.fake_threshold).sum() == 2 and (real >= k.inconclusive_threshold).sum() == 10
    assert k.achieved["A/REAL"]["n"] == 100 and k.n_fake == 200
    grid = np.linspace(0.01, 0.99, 50)
    p = [k.probability(s) for s in grid]
    assert all(np.diff(p) > 0)
    assert p[0] < 0.1 and p[-1] > 0.9
    # the same fit as scikit-learn's logistic regression on logit(score)
    from sklearn.linear_model import LogisticRegression

    x = np.log(table["score"] / (1 - table["score"])).to_numpy()[:, None]
    ref = LogisticRegression(C=1e6, max_iter=1000).fit(x, table["label"])
    assert k.probability(0.7) == pytest.approx(ref.predict_proba([[np.log(0.7 / 0.3)]])[0, 1], abs=1e-4)
    # a kind without enough reals is left out, and with none at all the fit refuses
    images = table.assign(kind="image").head(5)
    cal2 = fit_calibration(pd.concat([table, images]), detector="toy", weights_sha256="00" * 32)
    assert set(cal2.kinds) == {"video"}
    with pytest.raises(ValueError, match="real files"):
        fit_calibration(images, detector="toy", weights_sha256="00" * 32)


def test_verdict_bands_override_and_uncalibrated_kinds():
    v = Verdicts(0.5, _cal())
    assert [v.decide(s, "video").verdict for s in (0.9, 0.8, 0.7, 0.6, 0.59)] == [
        "fake", "fake", "inconclusive", "inconclusive", "real"]
    d = v.decide(0.7, "video")
    assert (d.threshold, d.inconclusive_threshold) == (0.8, 0.6)
    assert d.probability == pytest.approx(0.7)  # a=1, b=0: the identity map
    # an image: no calibration for that kind -> the weights' own threshold, two bands
    d = v.decide(0.55, "image")
    assert (d.verdict, d.threshold, d.probability, d.inconclusive_threshold) == ("fake", 0.5, None, None)
    # --threshold: two bands at it, probability still calibrated
    o = Verdicts(0.5, _cal(), threshold=0.65)
    assert [o.decide(s, "video").verdict for s in (0.7, 0.6)] == ["fake", "real"]
    assert o.decide(0.7, "video").probability == pytest.approx(0.7)
    assert Verdicts(0.5).decide(0.7, "video").verdict == "fake"
    assert v.settings() != Verdicts(0.5).settings() != o.settings()


def test_calibration_values_are_checked():
    with pytest.raises(ValueError, match="above"):
        _kind(fake=0.5, inc=0.6)
    with pytest.raises(ValueError, match="slope"):
        _kind(a=-1.0)


def test_scores_that_rank_fakes_lower_get_the_base_rate_not_an_inverted_probability():
    from fakescope.evaluate.calibration import fit_platt

    rng = np.random.default_rng(2)
    real, fake = rng.beta(5, 2, 60), rng.beta(2, 5, 30)  # fakes score lower: an inverted cue
    a, b = fit_platt(np.r_[np.zeros(60), np.ones(30)], np.r_[real, fake])
    assert a == 0.0 and 1 / (1 + np.exp(-b)) == pytest.approx(30 / 90)
    k = _kind(a=a, b=b)
    assert k.probability(0.05) == k.probability(0.99) == pytest.approx(1 / 3)


def test_calibration_file_round_trip_and_bad_files(tmp_path):
    cal = _cal(video=_kind(), image=_kind(0.9, 0.7, 2.0, -1.0))
    path = tmp_path / "cal.json"
    path.write_text(cal.to_json())
    assert load_calibration(path) == cal and load_calibration(path).sha256 == cal.sha256
    for text, why in [("{", "JSONDecodeError"), (json.dumps({"format": 9}), "format"),
                      (cal.to_json().replace('"video"', '"audio"'), "kinds")]:
        path.write_text(text)
        with pytest.raises(WeightsError, match=f"{path}.*{why}"):
            load_calibration(path)
    with pytest.raises(WeightsError, match="not found"):
        load_calibration(tmp_path / "missing.json")


def _result(verdict: str) -> ScanResult:
    return ScanResult(path="x", sha256="s", kind="video", verdict=verdict, score=0.5,
                      threshold=0.5, reason=None, detector=None)


def test_inconclusive_exit_code():
    assert exit_code([_result("real"), _result("inconclusive")]) == EXIT_INCONCLUSIVE == 4
    assert exit_code([_result("fake"), _result("inconclusive")]) == 1
    assert exit_code([_result("inconclusive"), _result("error")]) == 2
    assert exit_code([_result("real")]) == 0


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    root = tmp_path_factory.mktemp("cal")
    bundle, sha, _ = make_bundle(root / "toy.pt", threshold=0.5)
    detector = create_detector(weights=bundle, runtime="torch")
    faces = create_face_detector("mtcnn", min_face_size=24)
    image = make_image(root / "face.png")
    score = Scanner(detector, face_detector=faces, calibration=None).scan_file(image).score
    return {"root": root, "sha": sha, "detector": detector, "faces": faces, "image": image,
            "score": score}


def test_scan_gives_the_band_probability_and_thresholds(toy):
    s = toy["score"]
    cal = _cal(sha=toy["sha"], image=_kind(fake=min(1.0, s + 0.01), inc=s - 0.01, a=1.0, b=1.0))
    scanner = Scanner(toy["detector"], face_detector=toy["faces"], calibration=cal)
    r = scanner.scan_file(toy["image"])
    assert r.verdict == "inconclusive" and r.score == pytest.approx(s)
    assert r.threshold == pytest.approx(s + 0.01) and r.inconclusive_threshold == pytest.approx(s - 0.01)
    assert r.probability == pytest.approx(1 / (1 + np.exp(-(np.log(s / (1 - s)) + 1.0))))
    assert json.loads(to_json_line(r))["verdict"] == "inconclusive"
    assert "INCONCLUSIVE" in to_table([r]) and "1 inconclusive" in to_table([r])
    assert exit_code([r]) == EXIT_INCONCLUSIVE
    # the calibration is part of the settings: another one never reuses these results
    plain = Scanner(toy["detector"], face_detector=toy["faces"], calibration=None)
    assert plain.settings_key != scanner.settings_key
    r0 = plain.scan_file(toy["image"])
    assert (r0.probability, r0.inconclusive_threshold, r0.threshold) == (None, None, 0.5)
    # a calibration of other weights is refused, naming both
    with pytest.raises(WeightsError, match="not .* of"):
        resolve_calibration(toy["detector"], _cal(sha="cd" * 32))


def _write_records(path, rows, sha, key="k1"):
    info = DetectorInfo("toy", "1", sha)
    with open(path, "w") as fh:
        for file, score, kind in rows:
            r = ScanResult(path=str(file), sha256="s", kind=kind, verdict="real", score=score,
                           threshold=0.5, reason=None, detector=info, settings_key=key)
            fh.write(to_json_line(r) + "\n")


def test_calibrate_cli_fits_on_the_calibration_split_only(toy, tmp_path, capsys):
    rng = np.random.default_rng(1)
    rows, labels = [], []
    for i in range(60):
        for label, split in (("REAL", "calibration"), ("FAKE", "calibration"), ("REAL", "eval")):
            name = f"{label}_{split}_{i}.mp4"
            (tmp_path / name).write_bytes(b"x")
            # eval reals score high: if they were fit on, the fake point would move up
            score = {"calibration": rng.uniform(0, 0.6), "eval": 0.99}[split] if label == "REAL" \
                else rng.uniform(0.4, 1.0)
            rows.append((tmp_path / name, float(score), "video"))
            labels.append({"path": name, "label": label, "source": "toy", "split": split})
    pd.DataFrame(labels).to_csv(tmp_path / "labels.csv", index=False)
    _write_records(tmp_path / "r.jsonl", rows, toy["sha"])
    out, report = tmp_path / "cal.json", tmp_path / "cal.md"
    code = main(["calibrate", str(tmp_path / "r.jsonl"), "--labels", str(tmp_path / "labels.csv"),
                 "--out", str(out), "--report", str(report)])
    assert code == 0
    cal = load_calibration(out)
    cal_reals = [s for (f, s, _), lab in zip(rows, labels)
                 if lab["label"] == "REAL" and lab["split"] == "calibration"]
    assert cal.kinds["video"].fake_threshold == far_threshold(cal_reals, 0.01) < 0.99
    assert cal.kinds["video"].n_real == 60 and cal.weights_sha256 == toy["sha"]
    text = report.read_text()
    assert "| eval | video | toy | REAL | 60 | 60 | 60 of 60 |" in text  # all eval reals flagged
    # records of two settings cannot be mixed into one calibration
    _write_records(tmp_path / "r2.jsonl", rows[:3], toy["sha"], key="k2")
    code = main(["calibrate", str(tmp_path / "r.jsonl"), str(tmp_path / "r2.jsonl"),
                 "--labels", str(tmp_path / "labels.csv"), "--out", str(tmp_path / "x.json")])
    assert code == 2 and "settings_key" in capsys.readouterr().err
    assert not (tmp_path / "x.json").exists()
    code = main(["calibrate", str(tmp_path / "missing.jsonl"), "--labels",
                 str(tmp_path / "labels.csv"), "--out", str(tmp_path / "x.json")])
    assert code == 2 and "missing.jsonl: no such results file" in capsys.readouterr().err


def test_the_shipped_calibration_is_for_the_shipped_weights_and_used_by_default():
    from fakescope.evaluate.calibration import packaged_calibration
    from fakescope.families.faceblend.detector import packaged_weights

    _, sha = packaged_weights()
    cal = packaged_calibration("faceblend", sha)
    assert cal is not None and set(cal.kinds) == {"video", "image"}
    for k in cal.kinds.values():
        assert 0.5 < k.inconclusive_threshold <= k.fake_threshold < 1.0 and k.n_real >= 40
        # the points read off its own reals: at most 1 % / 5 % of them at or above
        assert k.achieved and sum(v["fake"] for s, v in k.achieved.items() if s.endswith("/REAL")) \
            <= 0.01 * k.n_real
    assert cal.command.startswith("fakescope calibrate ") and "/work" not in cal.command
    assert packaged_calibration("faceblend", "0" * 64) is None  # other weights: none
    detector = create_detector("faceblend")
    scanner = Scanner(detector, face_detector="haar")
    assert scanner.verdicts.calibration == cal
    assert scanner.settings()["verdicts"]["calibration"] == cal.sha256
