"""Frame → track / video aggregation on small cases worked by hand."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from fakescope.evaluate.aggregate import METHODS, aggregate_frame_table, aggregate_scores

P = [0.2, 0.4, 0.9]


def test_mean_and_max():
    assert aggregate_scores(P, "mean") == pytest.approx(0.5)  # 1.5 / 3
    assert aggregate_scores(P, "max") == pytest.approx(0.9)


def test_mean_logit():
    # logits: ln(0.2/0.8) = -1.3863, ln(0.4/0.6) = -0.4055, ln(0.9/0.1) = 2.1972
    # mean = 0.4055/3 = 0.13516; sigmoid(0.13516) = 0.53374
    expected = 1 / (1 + math.exp(-(math.log(0.25) + math.log(2 / 3) + math.log(9)) / 3))
    assert aggregate_scores(P, "mean_logit") == pytest.approx(expected)
    assert expected == pytest.approx(0.53374, abs=1e-5)


def test_mean_logit_of_saturated_frames_stays_finite():
    # p = 1 would be logit +inf; clipped to 1 - 1e-6 its logit is L = ln((1 - 1e-6) / 1e-6)
    # = 13.8155 (and p = 0 gives -L). mean(L, L, -L) = L / 3 = 4.6052 ~ ln(100), so the
    # result is ~ 100 / 101 = 0.9901: one real-looking frame still counts
    v = aggregate_scores([1.0, 1.0, 0.0], "mean_logit")
    assert v == pytest.approx(100 / 101, abs=1e-5)
    assert aggregate_scores([1.0], "mean_logit") == pytest.approx(1 - 1e-6)


def test_confident_weights_frames_far_from_half():
    # weights |2p - 1| = 0.6, 0.2, 0.8; sum w*p = 0.12 + 0.08 + 0.72 = 0.92; sum w = 1.6
    # -> 0.92 / 1.6 = 0.575 (the plain mean is 0.5: the unsure 0.4 counts little)
    assert aggregate_scores(P, "confident") == pytest.approx(0.575)
    # a frame at exactly 0.5 has no weight at all
    assert aggregate_scores([0.5, 0.9], "confident") == pytest.approx(0.9)
    # every frame unsure: the frames' own answer, 0.5
    assert aggregate_scores([0.5, 0.5], "confident") == pytest.approx(0.5)


@pytest.mark.parametrize("method", METHODS)
def test_single_frame_is_its_own_score(method):
    assert aggregate_scores([0.73], method) == pytest.approx(0.73)


@pytest.mark.parametrize("method", METHODS)
def test_empty_input_raises_instead_of_defaulting(method):
    with pytest.raises(ValueError, match="empty"):
        aggregate_scores([], method)


@pytest.mark.parametrize("bad,msg", [([0.2, float("nan")], "NaN"), ([0.2, 1.3], r"\[0, 1\]"),
                                     ([-0.1], r"\[0, 1\]")])
def test_invalid_scores_raise(bad, msg):
    with pytest.raises(ValueError, match=msg):
        aggregate_scores(bad, "mean")


def test_unknown_method_raises():
    with pytest.raises(ValueError, match="unknown aggregation"):
        aggregate_scores(P, "median")


def test_accepts_numpy_and_lists_alike():
    assert aggregate_scores(np.array(P, dtype=np.float32), "max") == pytest.approx(0.9)


FRAMES = pd.DataFrame({
    "video": ["b", "a", "b", "a", "a"],
    "score": [0.9, 0.2, 0.7, 0.4, 0.9],
    "label": [1, 0, 1, 0, 0],
})


@pytest.mark.parametrize("method", METHODS)
def test_frame_table_matches_per_group_scores(method):
    out = aggregate_frame_table(FRAMES, "video", "score", method, label_col="label")
    assert list(out["video"]) == ["a", "b"]
    assert list(out["n_frames"]) == [3, 2]
    assert list(out["label"]) == [0, 1]
    assert out["score"].iloc[0] == pytest.approx(aggregate_scores(P, method))
    assert out["score"].iloc[1] == pytest.approx(aggregate_scores([0.9, 0.7], method))


def test_frame_table_without_labels():
    out = aggregate_frame_table(FRAMES, "video", "score", "mean")
    assert list(out.columns) == ["video", "score", "n_frames"]
    assert out["score"].tolist() == pytest.approx([0.5, 0.8])


def test_frame_table_errors():
    mixed = FRAMES.assign(label=[1, 0, 0, 0, 0])  # video b has labels 1 and 0
    with pytest.raises(ValueError, match="'b'.*mixed"):
        aggregate_frame_table(mixed, "video", "score", "mean", label_col="label")
    with pytest.raises(ValueError, match="'a'.*NaN"):
        aggregate_frame_table(FRAMES.assign(score=[0.9, np.nan, 0.7, 0.4, 0.9]),
                              "video", "score", "mean")
    with pytest.raises(ValueError, match="no 'video'"):
        aggregate_frame_table(FRAMES.assign(video=["a", None, "a", "a", "b"]),
                              "video", "score", "mean")
    with pytest.raises(ValueError, match="lacks column"):
        aggregate_frame_table(FRAMES, "video", "prob", "mean")
    with pytest.raises(ValueError, match="empty"):
        aggregate_frame_table(FRAMES.iloc[:0], "video", "score", "mean")


def test_file_scores_are_track_means_then_max_over_tracks():
    import pandas as pd

    from fakescope.evaluate.aggregate import file_scores

    df = pd.DataFrame({
        "video": ["a", "a", "a", "a", "b", "b"],
        "track_id": [0, 0, 1, 1, 0, 0],
        "score": [0.1, 0.3, 0.8, 0.6, 0.4, 0.2],
        "label": [1, 1, 1, 1, 0, 0],
    })
    out = file_scores(df, "video", "score", track_col="track_id", label_col="label")
    got = dict(zip(out["video"], out["score"]))
    assert got["a"] == pytest.approx(0.7)  # person 1 (mean 0.7) decides, not the 0.45 average
    assert got["b"] == pytest.approx(0.3)
    assert dict(zip(out["video"], out["n_frames"])) == {"a": 4, "b": 2}
    plain = file_scores(df, "video", "score", label_col="label")
    assert dict(zip(plain["video"], plain["score"]))["a"] == pytest.approx(0.45)
