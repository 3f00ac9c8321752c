"""evaluate_predictions + write_report: levels, intervals, files."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from fakescope.evaluate import metrics as m
from fakescope.evaluate.aggregate import aggregate_frame_table
from fakescope.evaluate.report import PLOT_FILES, evaluate_predictions, write_report
from fakescope.evaluate.threshold import select_threshold

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _frames(n_videos=30, per_video=6, seed=0):
    rng = np.random.default_rng(seed)
    vy = np.arange(n_videos) % 2
    g = np.repeat([f"v{i:03d}" for i in range(n_videos)], per_video)
    y = np.repeat(vy, per_video)
    s = 1 / (1 + np.exp(-(rng.normal(size=y.size) + 1.5 * y - 0.75)))
    return y, s, g


def test_frame_and_video_levels_side_by_side():
    y, s, g = _frames()
    rep = evaluate_predictions(y, s, groups=g, n_bootstrap=20, seed=1, aggregation="mean_logit")
    assert set(rep.levels) == {"frame", "video"}
    fr, vid = rep.levels["frame"], rep.levels["video"]
    assert (fr.n, vid.n) == (180, 30)
    assert (vid.n_fake, vid.n_real) == (15, 15)
    assert fr.bootstrap_unit == "group" and vid.bootstrap_unit == "sample"
    assert vid.aggregation == "mean_logit"
    # the video level is exactly the metrics of aggregate.py's per-video scores
    table = aggregate_frame_table(pd.DataFrame({"v": g, "s": s, "y": y}), "v", "s",
                                  "mean_logit", label_col="y")
    assert vid.metrics["auc"] == pytest.approx(m.roc_auc(table["y"], table["s"]))
    assert list(vid.ids) == list(table["v"])
    assert fr.metrics["auc"] == pytest.approx(m.roc_auc(y, s))
    for lv in (fr, vid):
        for key, iv in lv.ci.items():
            v = lv.metrics[key]
            if iv.n_valid and math.isfinite(v):
                assert iv.low <= iv.high
    assert fr.ci["auc"].low < fr.metrics["auc"] < fr.ci["auc"].high


def test_report_is_reproducible_under_seed():
    y, s, g = _frames()
    a = evaluate_predictions(y, s, groups=g, n_bootstrap=10, seed=5)
    b = evaluate_predictions(y, s, groups=g, n_bootstrap=10, seed=5)
    assert a.to_dict() == b.to_dict()


def test_threshold_drives_the_verdict_metrics():
    y, s, g = _frames()
    thr = select_threshold(y, s, "far", target=0.1)
    rep = evaluate_predictions(y, s, threshold=thr, n_bootstrap=0)
    fr = rep.levels["frame"]
    assert rep.threshold is thr
    assert fr.confusion == m.confusion_counts(y, s, thr.value)
    assert fr.metrics["recall"] == pytest.approx(thr.achieved["tar"])
    assert fr.ci == {} and fr.bootstrap_unit is None
    assert "video" not in rep.levels
    assert evaluate_predictions(y, s, threshold=0.3, n_bootstrap=0).threshold.value == 0.3
    assert evaluate_predictions(y, s, n_bootstrap=0).threshold.value == 0.5


def test_write_report_writes_every_file(tmp_path):
    y, s, g = _frames()
    rep = evaluate_predictions(y, s, groups=g, n_bootstrap=10, seed=0,
                               provenance={"data": "synthetic frames"})
    cmd = ["fakescope", "eval", "preds.csv", "--out", "report dir"]
    written = write_report(rep, tmp_path / "out", "Synthetic check", provenance={"command": cmd})
    names = {p.name for p in (tmp_path / "out").iterdir()}
    assert names == {"report.json", "report.md", *PLOT_FILES.values()}
    assert set(written) == {"json", "markdown", *PLOT_FILES}
    for key in PLOT_FILES:
        data = written[key].read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 5000

    doc = json.loads(written["json"].read_text(), parse_constant=lambda c: pytest.fail(c))
    assert doc["title"] == "Synthetic check"
    assert doc["provenance"] == {"data": "synthetic frames", "command": cmd}
    assert doc["levels"]["video"]["metrics"]["auc"] == pytest.approx(
        rep.levels["video"].metrics["auc"])
    assert set(doc["levels"]["frame"]["ci"]["auc"]) == {
        "low", "high", "confidence", "n_valid", "n_resamples"}
    assert doc["threshold"]["value"] == 0.5

    md = written["markdown"].read_text()
    assert md.startswith("# Synthetic check")
    assert "synthetic frames" in md
    assert "fakescope eval preds.csv --out 'report dir'" in md
    assert "| ROC-AUC |" in md and "tAUC @ far 0.1" in md and "log(wP) @ recall 0.9" in md
    for fname in PLOT_FILES.values():
        assert f"({fname})" in md
    assert not list((tmp_path / "out").glob(".*.tmp"))  # no temporary left behind


def test_degenerate_report_still_written_with_reasons(tmp_path):
    # every video fake: ranking metrics are undefined, accuracy is not
    rep = evaluate_predictions([1] * 6, [0.2, 0.4, 0.6, 0.8, 0.9, 0.7], groups=[1, 1, 2, 2, 3, 3],
                               n_bootstrap=10)
    fr = rep.levels["frame"]
    assert fr.metrics["accuracy"] == pytest.approx(4 / 6)
    assert math.isnan(fr.metrics["auc"]) and "one class" in fr.undefined["auc"]
    assert fr.roc is None and fr.ci["auc"].n_valid == 0
    written = write_report(rep, tmp_path, "Degenerate")
    doc = json.loads(written["json"].read_text())
    assert doc["levels"]["video"]["metrics"]["auc"] is None
    assert "one class" in doc["levels"]["video"]["undefined"]["auc"]
    assert "## Undefined metrics" in written["markdown"].read_text()


def test_bad_groups_rejected():
    y, s, g = _frames()
    with pytest.raises(ValueError, match="groups"):
        evaluate_predictions(y, s, groups=g[:-1], n_bootstrap=0)
    mixed = np.array(g, dtype=object)
    mixed[0] = None
    with pytest.raises(ValueError, match="no group"):
        evaluate_predictions(y, s, groups=mixed, n_bootstrap=0)
    bad_labels = y.copy()
    bad_labels[0] = 1 - bad_labels[0]  # video v000 now has both labels
    with pytest.raises(ValueError, match="mixed"):
        evaluate_predictions(bad_labels, s, groups=g, n_bootstrap=0)


def test_intervals_can_be_limited_to_some_metrics():
    y, s, g = _frames()
    rep = evaluate_predictions(y, s, n_bootstrap=10, ci_metrics=("auc", "tauc@far=0.1"))
    assert set(rep.levels["frame"].ci) == {"auc", "tauc@far=0.1"}
    assert "eer" in rep.levels["frame"].metrics  # every metric is still reported
    with pytest.raises(ValueError, match="unknown"):
        evaluate_predictions(y, s, n_bootstrap=10, ci_metrics=("auroc",))
