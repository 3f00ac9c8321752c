"""Metrics, frame → video aggregation, threshold selection and evaluation reports.

Every name loads on first use: the metrics pull in scikit-learn and the reports matplotlib,
which `scan` (a user of `aggregate_scores`) and the command-line parser must not pay for.
"""

from importlib import import_module
from typing import Any

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

_HOME = {
    "aggregate_frame_table": "aggregate", "aggregate_scores": "aggregate",
    "Interval": "bootstrap", "bootstrap_ci": "bootstrap",
    "Threshold": "threshold", "fixed_threshold": "threshold", "select_threshold": "threshold",
    "EvalReport": "report", "LevelReport": "report", "evaluate_predictions": "report",
    "write_report": "report",
}


def __getattr__(name: str) -> Any:
    if name in __all__:
        module = import_module(f"fakescope.evaluate.{_HOME.get(name, 'metrics')}")
        return getattr(module, name)
    raise AttributeError(f"module 'fakescope.evaluate' has no attribute {name!r}")
