"""Metrics, frame → video aggregation, threshold selection and evaluation reports.

The report names load lazily: they pull in matplotlib, which `scan` (a user of
`aggregate_scores`) should not pay for.
"""

from typing import Any

from fakescope.evaluate.aggregate import aggregate_frame_table, aggregate_scores
from fakescope.evaluate.bootstrap import Interval, bootstrap_ci
from fakescope.evaluate.metrics import (
    MetricSet,
    average_precision,
    classification_metrics,
    compute_metrics,
    equal_error_rate,
    expected_calibration_error,
    log_loss,
    log_weighted_precision,
    log_wp_at_recall,
    partial_auc,
    roc_auc,
    tar_at_far,
    truncated_auc,
)
from fakescope.evaluate.threshold import Threshold, fixed_threshold, select_threshold

__all__ = [
    "EvalReport",
    "Interval",
    "LevelReport",
    "MetricSet",
    "Threshold",
    "aggregate_frame_table",
    "aggregate_scores",
    "average_precision",
    "bootstrap_ci",
    "classification_metrics",
    "compute_metrics",
    "equal_error_rate",
    "evaluate_predictions",
    "expected_calibration_error",
    "fixed_threshold",
    "log_loss",
    "log_weighted_precision",
    "log_wp_at_recall",
    "partial_auc",
    "roc_auc",
    "select_threshold",
    "tar_at_far",
    "truncated_auc",
    "write_report",
]

_REPORT_NAMES = {"EvalReport", "LevelReport", "evaluate_predictions", "write_report"}


def __getattr__(name: str) -> Any:
    if name in _REPORT_NAMES:
        from fakescope.evaluate import report

        return getattr(report, name)
    raise AttributeError(f"module 'fakescope.evaluate' has no attribute {name!r}")
