"""Module-level logging functions that act on the innermost active run."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from labledger.tracking.run import active_run

if TYPE_CHECKING:
    from labledger.tracking.types import Artifact

__all__ = [
    "log_artifact",
    "log_metric",
    "log_metrics",
    "log_param",
    "log_params",
    "set_tag",
    "set_tags",
]


def log_param(key: str, value: Any) -> None:
    """Record a param on the active run."""
    active_run().log_param(key, value)


def log_params(params: dict[str, Any]) -> None:
    """Record several params on the active run."""
    active_run().log_params(params)


def log_metric(
    key: str, value: float, step: int | None = None, timestamp: float | None = None
) -> None:
    """Record a metric value on the active run (buffered; costs microseconds)."""
    active_run().log_metric(key, value, step, timestamp)


def log_metrics(metrics: dict[str, float], step: int | None = None) -> None:
    """Record several metric values on the active run."""
    active_run().log_metrics(metrics, step)


def set_tag(key: str, value: Any) -> None:
    """Set a tag on the active run."""
    active_run().set_tag(key, value)


def set_tags(tags: dict[str, Any]) -> None:
    """Set several tags on the active run."""
    active_run().set_tags(tags)


def log_artifact(value: Any, name: str | None = None) -> Artifact:
    """Store a file, folder or value as an artifact of the active run."""
    return active_run().log_artifact(value, name)
