"""Experiment tracking: runs with params, metrics, tags and artifacts, searching and plotting them."""

from labledger.tracking.api import (
    log_artifact,
    log_metric,
    log_metrics,
    log_param,
    log_params,
    set_tag,
    set_tags,
)
from labledger.tracking.artifacts import export_artifact, get_artifact, list_artifacts
from labledger.tracking.plots import plot_metrics
from labledger.tracking.query import compare_runs, get_metric_history, get_run, search_runs
from labledger.tracking.run import ActiveRun, active_run, end_run, reap_crashed_runs, start_run
from labledger.tracking.types import Artifact, MetricPoint, Run, RunComparison

__all__ = [
    "ActiveRun",
    "Artifact",
    "MetricPoint",
    "Run",
    "RunComparison",
    "active_run",
    "compare_runs",
    "end_run",
    "export_artifact",
    "get_artifact",
    "get_metric_history",
    "get_run",
    "list_artifacts",
    "log_artifact",
    "log_metric",
    "log_metrics",
    "log_param",
    "log_params",
    "plot_metrics",
    "reap_crashed_runs",
    "search_runs",
    "set_tag",
    "set_tags",
    "start_run",
]
