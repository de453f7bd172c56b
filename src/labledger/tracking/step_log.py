"""Metrics and tags logged inside a pipeline step that runs where the pipeline's run is not.

A step on a Dask worker runs in another process, maybe on another machine, with no run to log to.
While such a step runs, ``labledger.log_metric``, ``log_metrics``, ``set_tag`` and ``set_tags``
called from its thread write to a ``StepLog`` instead, checked as a run would check them; the log
travels back with the task's result and the runner applies it to the pipeline's run. (Steps in the
pipeline's own process log to the run directly, so their metrics can be watched as they come.)

A run the step starts itself (``with labledger.start_run():`` inside the step) takes precedence
while it is active.
"""

from __future__ import annotations

import contextlib
import threading
import time
from typing import TYPE_CHECKING, Any

from labledger.tracking.checks import (
    check_key,
    metric_items,
    metric_step,
    metric_timestamp,
    metric_value,
    value_text,
)
from labledger.tracking.run import run_depth

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Mapping

    from labledger.tracking.run import ActiveRun

__all__ = ["StepLog", "StepMetric", "current_step_log", "step_log"]

# key, value, step (None: the run's next step for the key), timestamp
StepMetric = tuple[str, float, int | None, float]

_local = threading.local()


class StepLog:
    """What one step logged: metric points in order, and tags."""

    __slots__ = ("depth", "metrics", "tags")

    def __init__(self, depth: int = 0) -> None:
        self.depth = depth  # active runs when the step started
        self.metrics: list[StepMetric] = []
        self.tags: dict[str, str] = {}

    def log_metric(
        self, key: str, value: float, step: int | None = None, timestamp: float | None = None
    ) -> None:
        """Record a metric value, checked as ``ActiveRun.log_metric`` checks it."""
        check_key(key, "metric")
        number = value if type(value) is float else metric_value(key, value)
        if step is not None:
            step = metric_step(key, step)
        when = time.time() if timestamp is None else metric_timestamp(key, timestamp)
        self.metrics.append((key, number, step, when))

    def log_metrics(
        self, metrics: Mapping[str, float] | Iterable[tuple[str, float]], step: int | None = None
    ) -> None:
        """Record several metric values, a dict or ``(key, value)`` pairs, at one step and time."""
        now = time.time()
        for key, value in metric_items(metrics):
            self.log_metric(key, value, step=step, timestamp=now)  # type: ignore[arg-type]

    def set_tags(self, tags: dict[str, Any]) -> None:
        """Set tags (applied to the run when the task ends)."""
        self.tags.update(
            {check_key(key, "tag"): value_text(key, value, "tag") for key, value in tags.items()}
        )

    def set_tag(self, key: str, value: Any) -> None:
        """Set one tag."""
        self.set_tags({key: value})

    def apply(self, run: ActiveRun) -> None:
        """Log everything recorded here to ``run``."""
        for key, value, step, timestamp in self.metrics:
            run.log_metric(key, value, step, timestamp)
        if self.tags:
            run.set_tags(self.tags)


@contextlib.contextmanager
def step_log() -> Iterator[StepLog]:
    """Collect what this thread logs into a new ``StepLog`` while the block runs."""
    previous = getattr(_local, "log", None)
    log = StepLog(run_depth())
    _local.log = log
    try:
        yield log
    finally:
        _local.log = previous


def current_step_log() -> StepLog | None:
    """The log of the step running in this thread, unless the step started a run of its own."""
    log: StepLog | None = getattr(_local, "log", None)
    if log is not None and run_depth() <= log.depth:
        return log
    return None
