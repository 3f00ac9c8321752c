"""Metrics against scikit-learn and against small worked examples; thresholds; bootstrap."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn import metrics as skm
from sklearn.calibration import calibration_curve

from fakescope.evaluate import metrics as m
from fakescope.evaluate.bootstrap import bootstrap_ci
from fakescope.evaluate.threshold import Threshold, select_threshold

pytestmark = pytest.mark.filterwarnings("error")  # no sklearn warning may leak out

# Worked example used throughout: 10 reals, 5 fakes.
# Sorted by score (highest first), with the ROC point (FAR, TAR) after each sample:
#   0.97 F (0.0, 0.2)   0.95 R (0.1, 0.2)   0.92 F (0.1, 0.4)   0.90 R (0.2, 0.4)
#   0.85 F (0.2, 0.6)   0.80 R (0.3, 0.6)   0.70 R (0.4, 0.6)   0.65 F (0.4, 0.8)
#   0.60 R (0.5, 0.8)   0.50 R (0.6, 0.8)   0.40 R (0.7, 0.8)   0.35 F (0.7, 1.0)
#   0.30 R (0.8, 1.0)   0.20 R (0.9, 1.0)   0.10 R (1.0, 1.0)
REALS = [0.10, 0.20, 0.30, 0.40, 0.50, 0.60, 0.70, 0.80, 0.90, 0.95]
FAKES = [0.97, 0.92, 0.85, 0.65, 0.35]
Y = np.r_[np.zeros(10, int), np.ones(5, int)]
S = np.r_[REALS, FAKES]


def _random(n=600, seed=0, ties=False):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    s = 1.0 / (1.0 + np.exp(-(rng.normal(size=n) + 1.2 * y - 0.6)))
    return y, (np.round(s, 2) if ties else s)


# --------------------------------------------------------------------- against sklearn


@pytest.mark.parametrize("ties", [False, True])
def test_auc_and_average_precision_match_sklearn(ties):
    y, s = _random(ties=ties)
    assert m.roc_auc(y, s) == pytest.approx(skm.roc_auc_score(y, s), abs=1e-12)
    assert m.average_precision(y, s) == pytest.approx(skm.average_precision_score(y, s))


@pytest.mark.parametrize("thr", [0.2, 0.5, 0.73])
def test_classification_metrics_match_sklearn(thr):
    y, s = _random(seed=1)
    pred = (s >= thr).astype(int)
    got = m.classification_metrics(y, s, thr)
    assert got["accuracy"] == pytest.approx(skm.accuracy_score(y, pred))
    assert got["balanced_accuracy"] == pytest.approx(skm.balanced_accuracy_score(y, pred))
    assert got["precision"] == pytest.approx(skm.precision_score(y, pred))
    assert got["recall"] == pytest.approx(skm.recall_score(y, pred))
    assert got["f1"] == pytest.approx(skm.f1_score(y, pred))


def test_precision_with_nothing_called_fake_is_nan_not_zero():
    got = m.classification_metrics(Y, S, 0.99)  # no score reaches 0.99
    assert math.isnan(got["precision"])
    assert got["recall"] == 0.0
    assert got["accuracy"] == pytest.approx(10 / 15)


def test_log_loss_matches_sklearn_and_clips_like_dfdc():
    y, s = _random(seed=2)
    assert m.log_loss(y, s) == pytest.approx(skm.log_loss(y, s))
    # two confident mistakes: p(fake)=0 for a fake, 1 for a real. Clipped to [1e-15, 1-1e-15]
    # each costs about -ln(1e-15) = 34.5388 (not infinity); in float64 1 - (1 - 1e-15) is
    # 9.992e-16, so the second costs 34.5396 and the mean is 34.5392
    worst = -(math.log(1e-15) + math.log(1.0 - (1.0 - 1e-15))) / 2
    assert m.log_loss([1, 0], [0.0, 1.0]) == pytest.approx(worst)
    assert worst == pytest.approx(34.539, abs=1e-3)
    assert m.log_loss([1, 0], [0.0, 1.0], clip=0.01) == pytest.approx(-math.log(0.01))
    # log loss is defined with a single class
    assert m.log_loss([1, 1], [0.5, 0.5]) == pytest.approx(math.log(2))


def test_ece_matches_reliability_curve_of_sklearn():
    y, s = _random(n=2000, seed=3)
    frac, mean_p = calibration_curve(y, s, n_bins=10, strategy="uniform")
    counts = np.histogram(s, bins=np.linspace(0, 1, 11))[0]  # no score sits on an edge
    counts = counts[counts > 0]
    expected = np.sum(counts / s.size * np.abs(frac - mean_p))
    assert m.expected_calibration_error(y, s, n_bins=10) == pytest.approx(expected)


# ------------------------------------------------------------------ worked examples


def test_tar_at_far_worked_example():
    # FAR <= 0.1: the points with FAR <= 0.1 end at (0.1, 0.4), threshold 0.92
    op = m.tar_at_far(Y, S, 0.1)
    assert (op.tar, op.far, op.threshold) == (pytest.approx(0.4), pytest.approx(0.1), 0.92)
    # FAR 0.15 is not reachable; the best point below it is still (0.1, 0.4)
    assert m.tar_at_far(Y, S, 0.15).tar == pytest.approx(0.4)
    # FAR 0: only thresholds above every real: 0.97 catches 1 of 5 fakes
    assert m.tar_at_far(Y, S, 0.0).tar == pytest.approx(0.2)
    assert m.tar_at_far(Y, S, 1.0).tar == pytest.approx(1.0)
    # the threshold reproduces the point with the ">=" rule
    pred = S >= op.threshold
    assert pred[Y == 1].mean() == pytest.approx(op.tar)
    assert pred[Y == 0].mean() == pytest.approx(op.far)


def test_tar_at_far_is_best_reachable_point():
    y, s = _random(seed=4, ties=True)
    fpr, tpr, _ = skm.roc_curve(y, s)
    for far in (0.0, 0.01, 0.05, 0.1, 0.3):
        assert m.tar_at_far(y, s, far).tar == pytest.approx(tpr[fpr <= far + 1e-12].max())


def test_pauc_is_mcclish_standardised_worked_example():
    # ROC up to FAR 0.2 (from the table above): (0,0)->(0,0.2)->(0.1,0.2)->(0.1,0.4)
    # ->(0.2,0.4), then (0.2,0.6) is a vertical step at the cut-off.
    # Area A = 0.1*0.2 + 0.1*0.4 = 0.06.
    # McClish: min = 0.2^2/2 = 0.02 (chance), max = 0.2 (perfect)
    # pAUC = 0.5 * (1 + (0.06 - 0.02) / (0.2 - 0.02)) = 0.5 * (1 + 0.04/0.18) = 0.61111...
    assert m.partial_auc(Y, S, 0.2) == pytest.approx(0.5 * (1 + 0.04 / 0.18))
    assert m.partial_auc(Y, S, 0.2) == pytest.approx(skm.roc_auc_score(Y, S, max_fpr=0.2))
    # cut-off 0.15 falls inside the horizontal run (0.1,0.4)->(0.2,0.4):
    # A = 0.1*0.2 + 0.05*0.4 = 0.04; min = 0.01125, max = 0.15
    # pAUC = 0.5 * (1 + 0.02875 / 0.13875) = 0.60360...
    assert m.partial_auc(Y, S, 0.15) == pytest.approx(0.5 * (1 + 0.02875 / 0.13875))
    # over the whole curve it is the AUC
    assert m.partial_auc(Y, S, 1.0) == pytest.approx(m.roc_auc(Y, S))


def test_tauc_worked_example():
    # 10 reals: F_tau for FAR_tau = 0.2 is {0, 0.1, 0.2}.
    # TAR at FAR <= 0 is 0.2, at <= 0.1 is 0.4, at <= 0.2 is 0.6 -> tAUC = 1.2 / 3 = 0.4
    assert m.truncated_auc(Y, S, 0.2) == pytest.approx(0.4)
    # FAR_tau = 0.01 < 1/10: F_tau = {0}, so tAUC = TAR at FAR 0 = 0.2
    assert m.truncated_auc(Y, S, 0.01) == pytest.approx(0.2)
    # FAR_tau = 1: mean TAR over FAR 0, 0.1, ..., 1.0 =
    # (0.2+0.4+0.6+0.6+0.8+0.8+0.8+1.0+1.0+1.0+1.0) / 11 = 8.2 / 11
    assert m.truncated_auc(Y, S, 1.0) == pytest.approx(8.2 / 11)


def test_tauc_counts_tied_scores_only_once_passed():
    # reals 0.9, 0.1; fakes 0.9, 0.8. At FAR 0 only "score > 0.9": no threshold between the
    # tied 0.9s, so TAR(FAR<=0) = 0 (pAUC would interpolate along the tie instead);
    # TAR(FAR<=0.5) = 1 at threshold 0.8. F_0.5 = {0, 0.5} -> tAUC = (0 + 1) / 2.
    assert m.truncated_auc([0, 0, 1, 1], [0.9, 0.1, 0.9, 0.8], 0.5) == pytest.approx(0.5)


def test_tauc_approaches_normalised_partial_area_on_large_data():
    # with many reals the mean over F_tau approaches (1/tau) * integral of TAR over [0, tau]
    y, s = _random(n=20000, seed=5)
    tau = 0.1
    p = skm.roc_auc_score(y, s, max_fpr=tau)
    area = tau**2 / 2 + (2 * p - 1) * (tau - tau**2 / 2)  # undo McClish
    assert m.truncated_auc(y, s, tau) == pytest.approx(area / tau, abs=0.01)


def test_eer_worked_examples():
    # worked example: g = FAR + TAR - 1 is -0.1 at (0.3, 0.6) and 0 at (0.4, 0.6)
    # (threshold 0.70): FAR 0.4 = miss rate 1 - 0.6 -> EER 0.4 exactly
    e = m.equal_error_rate(Y, S)
    assert e.eer == pytest.approx(0.4)
    assert e.threshold == 0.70
    # a tie needs interpolation: reals 0.1, 0.5; fakes 0.5, 0.9
    # curve (0,0) -> (0,0.5) [0.9] -> (0.5,1) [the tie at 0.5] -> (1,1)
    # on the diagonal segment FAR = t*0.5, TAR = 0.5 + t*0.5; FAR = 1 - TAR at t = 0.5
    assert m.equal_error_rate([0, 0, 1, 1], [0.1, 0.5, 0.5, 0.9]).eer == pytest.approx(0.25)
    assert m.equal_error_rate([0, 1], [0.1, 0.9]).eer == pytest.approx(0.0)
    assert m.equal_error_rate([0, 1], [0.9, 0.1]).eer == pytest.approx(1.0)


def test_eer_near_brute_force_crossing():
    y, s = _random(n=4000, seed=6)
    fpr, tpr, _ = skm.roc_curve(y, s, drop_intermediate=False)
    brute = np.min(np.maximum(fpr, 1 - tpr))  # the closest any threshold gets
    step = 1 / min(y.sum(), len(y) - y.sum())  # the coarsest rate step of this curve
    assert m.equal_error_rate(y, s).eer == pytest.approx(brute, abs=2 * step)


def test_log_wp_worked_examples():
    # threshold 0.92: TP = 2 (0.97, 0.92), FP = 1 (0.95); wP = 2 / (2 + 100*1) = 2/102
    w = m.log_weighted_precision(Y, S, 0.92)
    assert w.log_wp == pytest.approx(math.log(2 / 102))
    assert w.recall == pytest.approx(0.4)
    # recall >= 0.5: candidates (TP, FP) = (3, 2) at 0.85, (4, 4) at 0.65, (5, 7) at 0.35;
    # wP = 3/203 = 0.01478, 4/404 = 0.00990, 5/705 = 0.00709 -> best 3/203 at recall 0.6
    w = m.log_wp_at_recall(Y, S, 0.5)
    assert w.log_wp == pytest.approx(math.log(3 / 203))
    assert (w.recall, w.threshold) == (pytest.approx(0.6), 0.85)
    # recall >= 0.2: threshold 0.97 has no false positive: wP = 1, log = 0
    assert m.log_wp_at_recall(Y, S, 0.2).log_wp == pytest.approx(0.0)
    # nothing called fake: undefined; only reals called fake: wP = 0
    assert math.isnan(m.log_weighted_precision(Y, S, 0.99).log_wp)
    assert m.log_weighted_precision([0, 1], [0.9, 0.1], 0.5).log_wp == -math.inf


def test_log_wp_with_alpha_one_is_log_precision():
    y, s = _random(seed=7)
    prec = skm.precision_score(y, (s >= 0.5).astype(int))
    assert m.log_weighted_precision(y, s, 0.5, alpha=1.0).log_wp == pytest.approx(math.log(prec))


def test_ece_worked_example():
    # 2 bins. [0, 0.5]: p = 0.1, 0.2 (mean 0.15), labels 0, 1 (fraction 0.5): gap 0.35
    #         (0.5, 1]: p = 0.8, 0.9 (mean 0.85), labels 1, 1 (fraction 1.0): gap 0.15
    # ECE = 2/4 * 0.35 + 2/4 * 0.15 = 0.25
    assert m.expected_calibration_error([0, 1, 1, 1], [0.1, 0.2, 0.8, 0.9], n_bins=2) == (
        pytest.approx(0.25))
    # calibrated: p = 0.25 everywhere and one in four is fake
    assert m.expected_calibration_error([1, 0, 0, 0], [0.25] * 4) == pytest.approx(0.0)


# ------------------------------------------------------------------ degenerate input


@pytest.mark.parametrize("fn", [
    m.roc_auc, m.average_precision, m.equal_error_rate,
    lambda y, s: m.tar_at_far(y, s, 0.1), lambda y, s: m.partial_auc(y, s, 0.1),
    lambda y, s: m.truncated_auc(y, s, 0.1), lambda y, s: m.log_wp_at_recall(y, s, 0.5),
])
@pytest.mark.parametrize("label", [0, 1])
def test_ranking_metrics_with_one_class_raise_clearly(fn, label):
    with pytest.raises(ValueError, match="one class"):
        fn(np.full(4, label), [0.1, 0.4, 0.6, 0.9])


def test_suite_marks_undefined_metrics_instead_of_failing():
    ms = m.compute_metrics(np.ones(4, int), [0.1, 0.4, 0.6, 0.9], 0.5)
    assert ms.values["accuracy"] == pytest.approx(0.5)
    assert math.isnan(ms.values["auc"]) and "one class" in ms.undefined["auc"]
    assert math.isnan(ms.values["tauc@far=0.1"]) and "one class" in ms.undefined["tauc@far=0.1"]
    assert "accuracy" not in ms.undefined
    # scores that are not probabilities: ranking metrics fine, probability metrics undefined
    ms = m.compute_metrics([0, 1, 0, 1], [-3.0, 2.0, 0.5, 4.0], 0.0)
    assert ms.values["auc"] == pytest.approx(1.0)
    assert "[0, 1]" in ms.undefined["log_loss"] and math.isnan(ms.values["ece"])


@pytest.mark.parametrize("labels,scores,msg", [
    ([0, 1], [0.1, float("nan")], "NaN"),
    ([0, 2], [0.1, 0.2], "0 \\(real\\) / 1 \\(fake\\)"),
    ([0, 1, 1], [0.1, 0.2], "differ in length"),
    ([], [], "empty"),
    (["a", "b"], [0.1, 0.2], "dtype"),
])
def test_bad_input_is_rejected(labels, scores, msg):
    with pytest.raises(ValueError, match=msg):
        m.compute_metrics(labels, scores)


def test_probability_metrics_reject_out_of_range():
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        m.log_loss([0, 1], [0.2, 1.5])


def test_suite_values_agree_with_single_metric_functions():
    y, s = _random(seed=8, ties=True)
    ms = m.compute_metrics(y, s, 0.5)
    assert ms.values["auc"] == pytest.approx(m.roc_auc(y, s))
    assert ms.values["pauc@far=0.1"] == pytest.approx(m.partial_auc(y, s, 0.1))
    assert ms.values["tauc@far=0.01"] == pytest.approx(m.truncated_auc(y, s, 0.01))
    assert ms.values["tar@far=0.1"] == pytest.approx(m.tar_at_far(y, s, 0.1).tar)
    assert ms.values["eer"] == pytest.approx(m.equal_error_rate(y, s).eer)
    assert ms.values["log_wp@recall=0.9"] == pytest.approx(m.log_wp_at_recall(y, s, 0.9).log_wp)
    assert ms.points["tar@far=0.1"]["threshold"] == m.tar_at_far(y, s, 0.1).threshold
    assert set(m.compute_metrics(y, s, include=["auc", "f1"]).values) == {
        "auc", "accuracy", "balanced_accuracy", "precision", "recall", "f1"}


# ------------------------------------------------------------------------ thresholds


def test_threshold_at_target_far():
    t = select_threshold(Y, S, "far", target=0.1)
    assert (t.value, t.method, t.target) == (0.92, "far", 0.1)
    assert t.achieved["far"] == pytest.approx(0.1)
    assert t.achieved["tar"] == pytest.approx(0.4)
    assert t.achieved["n_real"] == 10 and t.achieved["n_fake"] == 5
    # a budget below every reachable FAR > 0: nothing but the top fake
    assert select_threshold(Y, S, "far", target=0.05).value == 0.97


def _best_over_thresholds(y, s, score_fn):
    cands = np.append(np.unique(s), np.inf)
    return max(score_fn(y, (s >= c).astype(int)) for c in cands)


def test_threshold_maximising_accuracy_and_balanced_accuracy():
    y, s = _random(seed=9, ties=True)
    t = select_threshold(y, s, "accuracy")
    assert t.achieved["accuracy"] == pytest.approx(_best_over_thresholds(y, s, skm.accuracy_score))
    b = select_threshold(y, s, "balanced_accuracy")
    best = _best_over_thresholds(y, s, skm.balanced_accuracy_score)
    assert b.achieved["balanced_accuracy"] == pytest.approx(best)
    assert select_threshold(y, s, "youden").value == b.value  # J = 2 * bal. acc. - 1


def test_accuracy_threshold_on_worked_example():
    # accuracy (TP + TN) / 15 at each threshold t (fake iff score >= t):
    #   t > 0.97: 0 + 10 = 10   0.97: 1 + 10 = 11   0.95: 1 + 9 = 10   0.92: 2 + 9 = 11
    #   0.90: 2 + 8 = 10        0.85: 3 + 8 = 11    0.80: 3 + 7 = 10   lower: <= 10
    # best 11/15, reached at 0.97, 0.92 and 0.85; ties go to the highest (fewer false alarms)
    t = select_threshold(Y, S, "accuracy")
    assert t.achieved["accuracy"] == pytest.approx(11 / 15)
    assert t.value == 0.97


def test_threshold_json_round_trip_and_apply():
    t = select_threshold(Y, S, "far", target=0.1)
    back = Threshold.from_json(t.to_json())
    assert back == t
    assert list(back.apply([0.91, 0.92, 0.93])) == [False, True, True]
    nan_achieved = Threshold(0.5, "accuracy", achieved={"precision": float("nan")})
    assert math.isnan(Threshold.from_json(nan_achieved.to_json()).achieved["precision"])


@pytest.mark.parametrize("kwargs,msg", [
    ({"method": "far"}, "target"),
    ({"method": "accuracy", "target": 0.1}, "no target"),
    ({"method": "median"}, "unknown"),
])
def test_threshold_selection_errors(kwargs, msg):
    with pytest.raises(ValueError, match=msg):
        select_threshold(Y, S, **kwargs)


def test_threshold_record_errors():
    with pytest.raises(ValueError, match="lacks"):
        Threshold.from_dict({"method": "far"})
    with pytest.raises(ValueError, match="finite"):
        Threshold(float("inf"), "fixed")


# ------------------------------------------------------------------------- bootstrap


def _auc_acc(y, s):
    return m.compute_metrics(y, s, 0.5, include=["auc", "accuracy"]).values


def test_bootstrap_contains_point_estimate_and_is_seeded():
    y, s = _random(n=400, seed=10)
    point = _auc_acc(y, s)
    ci = bootstrap_ci(_auc_acc, y, s, n_bootstrap=100, seed=3)
    for k in ("auc", "accuracy"):
        assert ci[k].low < point[k] < ci[k].high
        assert ci[k].n_valid == 100
    again = bootstrap_ci(_auc_acc, y, s, n_bootstrap=100, seed=3)
    assert again == ci
    other = bootstrap_ci(_auc_acc, y, s, n_bootstrap=100, seed=4)
    assert other["auc"] != ci["auc"]


def test_group_bootstrap_resamples_whole_groups():
    sizes = np.array([1, 2, 3, 4, 5])
    groups = np.repeat(np.arange(5), sizes)
    seen = []

    def record(y, s):  # scores carry the group id: count rows per group in each resample
        ids, counts = np.unique(s.astype(int), return_counts=True)
        seen.append(bool(np.all(counts % sizes[ids] == 0)))
        return {"n": float(len(s))}

    bootstrap_ci(record, np.zeros(groups.size, int), groups.astype(float), groups=groups,
                 n_bootstrap=50, seed=0)
    assert all(seen) and len(seen) == 50


def test_group_bootstrap_is_wider_for_clustered_frames():
    # 40 videos x 25 frames; every frame of a video shares the video's score: frames add no
    # information, and only the video-level bootstrap sees that
    rng = np.random.default_rng(11)
    vy = np.r_[np.zeros(20, int), np.ones(20, int)]
    vs = rng.normal(size=40) + vy
    g = np.repeat(np.arange(40), 25)
    y, s = vy[g], 1 / (1 + np.exp(-vs[g]))
    auc = lambda yy, ss: {"auc": m.roc_auc(yy, ss) if 0 < yy.sum() < yy.size else math.nan}
    by_frame = bootstrap_ci(auc, y, s, n_bootstrap=200, seed=0)["auc"]
    by_video = bootstrap_ci(auc, y, s, groups=g, n_bootstrap=200, seed=0)["auc"]
    assert by_video.high - by_video.low > 2 * (by_frame.high - by_frame.low)


def test_bootstrap_skips_undefined_resamples():
    auc = lambda yy, ss: {"auc": m.roc_auc(yy, ss) if 0 < yy.sum() < yy.size else math.nan}
    ci = bootstrap_ci(auc, [0, 1, 1], [0.2, 0.7, 0.9], n_bootstrap=100, seed=0)
    # P(one class) = P(no real drawn) + P(only the real) = (2/3)^3 + (1/3)^3 = 1/3
    assert 40 < ci["auc"].n_valid < 90
    assert ci["auc"].n_resamples == 100
