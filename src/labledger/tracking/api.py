"""Module-level logging functions that act on the innermost active run.

Inside a pipeline step, metrics and tags go to the step's ``StepLog`` (see ``step_log``), which the
runner applies to the pipeline's run when the task ends.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from labledger._foundation.errors import RunStateError
from labledger.tracking.run import active_run, run_depth
from labledger.tracking.step_log import current_step_log

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from labledger.tracking.run import ActiveRun
    from labledger.tracking.step_log import StepLog
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


def _target() -> ActiveRun | StepLog:
    log = current_step_log()
    return active_run() if log is None else log


def _run(what: str) -> ActiveRun:
    if run_depth() == 0 and current_step_log() is not None:
        raise RunStateError(
            f"{what} inside a pipeline step needs the pipeline's run, which is in another process",
            hint="log metrics and tags from the step, and return values as step outputs",
        )
    return active_run()


def log_param(key: str, value: Any) -> None:
    """Record a param on the active run."""
    _run("log_param").log_param(key, value)


def log_params(params: dict[str, Any]) -> None:
    """Record several params on the active run."""
    _run("log_params").log_params(params)


def log_metric(
    key: str, value: float, step: int | None = None, timestamp: float | None = None
) -> None:
    """Record a metric value on the active run (buffered; costs microseconds)."""
    _target().log_metric(key, value, step, timestamp)


def log_metrics(
    metrics: Mapping[str, float] | Iterable[tuple[str, float]], step: int | None = None
) -> None:
    """Record several metric values (a dict or ``(key, value)`` pairs) on the active run."""
    _target().log_metrics(metrics, step)


def set_tag(key: str, value: Any) -> None:
    """Set a tag on the active run."""
    _target().set_tag(key, value)


def set_tags(tags: dict[str, Any]) -> None:
    """Set several tags on the active run."""
    _target().set_tags(tags)


def log_artifact(value: Any, name: str | None = None) -> Artifact:
    """Store a file, folder or value as an artifact of the active run."""
    return _run("log_artifact").log_artifact(value, name)
