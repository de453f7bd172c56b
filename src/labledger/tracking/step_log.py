"""Metrics and tags logged inside a pipeline step that runs where the pipeline's run is not.

While a step runs, ``labledger.log_metric``, ``log_metrics``, ``set_tag`` and ``set_tags`` called
from its thread write to a ``StepLog``, checked as a run would check them. A step in the pipeline's
own process also logs each value to the run as it comes (so a training step can be watched live).
A step on a Dask worker runs in another process, maybe on another machine, with no run to log to:
its log travels back with the task's result and the runner applies it to the pipeline's run. Either
way the log is recorded with the task, so a later run that reuses the task from the cache shows the
metrics it logged too.

A run the step starts itself (``with labledger.start_run():`` inside the step) takes precedence
while it is active.
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
from typing import TYPE_CHECKING, Any

from labledger._foundation.errors import LabledgerError
from labledger.tracking.checks import (
    STEP_BITS,
    check_key,
    check_mapping,
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
_NARROWEST_STEP = min(STEP_BITS.values())


class StepLog:
    """What one step logged: metric points in order, and tags.

    Attributes:
        live: The run each value is also logged to as it comes (a step in the pipeline's own
            process), or ``None`` (the runner applies the log when the task ends).
        teed: Whether the values already went to a run as they came.
    """

    __slots__ = ("depth", "live", "metrics", "tags", "teed")

    def __init__(self, depth: int = 0, live: ActiveRun | None = None) -> None:
        self.depth = depth  # active runs when the step started
        self.live = live
        self.teed = live is not None
        self.metrics: list[StepMetric] = []
        self.tags: dict[str, str] = {}

    def __getstate__(self) -> tuple[int, list[StepMetric], dict[str, str], bool]:
        # The live run stays in its process: only the values travel.
        return (self.depth, self.metrics, self.tags, self.teed)

    def __setstate__(self, state: tuple[int, list[StepMetric], dict[str, str], bool]) -> None:
        self.depth, self.metrics, self.tags, self.teed = state
        self.live = None

    def log_metric(
        self, key: str, value: float, step: int | None = None, timestamp: float | None = None
    ) -> None:
        """Record a metric value, checked as ``ActiveRun.log_metric`` checks it.

        Without a live run the catalog is out of reach, so a step must fit the narrowest one's.
        """
        check_key(key, "metric")
        number = value if type(value) is float else metric_value(key, value)
        if step is not None:
            step = metric_step(key, step, 64 if self.live is not None else _NARROWEST_STEP)
        when = time.time() if timestamp is None else metric_timestamp(key, timestamp)
        if self.live is not None:
            self.live.log_metric(key, number, step, when)  # the run's own checks, first
        self.metrics.append((key, number, step, when))

    def log_metrics(
        self, metrics: Mapping[str, float] | Iterable[tuple[str, float]], step: int | None = None
    ) -> None:
        """Record several metric values, a dict or ``(key, value)`` pairs, at one step and time."""
        now = time.time()
        for key, value in metric_items(metrics):
            self.log_metric(key, value, step=step, timestamp=now)  # type: ignore[arg-type]

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        """Set tags (applied to the run when the task ends, or at once when live)."""
        checked = {
            check_key(key, "tag"): value_text(key, value, "tag")
            for key, value in check_mapping(tags, "set_tags").items()
        }
        if self.live is not None:
            self.live.set_tags(checked)
        self.tags.update(checked)

    def set_tag(self, key: str, value: Any) -> None:
        """Set one tag."""
        self.set_tags({key: value})

    def apply(self, run: ActiveRun) -> None:
        """Log everything recorded here to ``run``."""
        for key, value, step, timestamp in self.metrics:
            run.log_metric(key, value, step, timestamp)
        if self.tags:
            run.set_tags(self.tags)

    def as_record(self) -> dict[str, Any]:
        """The log as JSON-able data (what a cached task brings to the runs that reuse it)."""
        return {"metrics": [list(point) for point in self.metrics], "tags": self.tags}

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> StepLog:
        """A log rebuilt from ``as_record``; a point or tag a run would refuse is left out."""
        log = cls()
        for point in record.get("metrics", ()):
            if isinstance(point, list) and len(point) == 4:
                checked = _checked_point(point)
                if checked is not None:
                    log.metrics.append(checked)
        tags = record.get("tags", {})
        if isinstance(tags, dict):
            for key, value in tags.items():
                try:
                    log.tags[check_key(str(key), "tag")] = value_text(str(key), str(value), "tag")
                except (LabledgerError, ValueError):
                    continue
        return log


def _checked_point(point: list[Any]) -> StepMetric | None:
    """A recorded metric point, checked as ``log_metric`` checks one; ``None`` when refused."""
    key, value, step, timestamp = point
    if not isinstance(key, str) or isinstance(value, bool) or isinstance(step, bool):
        return None
    if not (value is None or isinstance(value, int | float)):
        return None
    try:
        check_key(key, "metric")
        number = math.nan if value is None else metric_value(key, value)
        return (
            key,
            number,
            None if step is None else metric_step(key, step),
            metric_timestamp(key, timestamp),
        )
    except (LabledgerError, OverflowError, TypeError, ValueError):
        return None


@contextlib.contextmanager
def step_log(live: ActiveRun | None = None) -> Iterator[StepLog]:
    """Collect what this thread logs into a new ``StepLog`` while the block runs.

    Args:
        live: Also log each value to this run as it comes.
    """
    previous = getattr(_local, "log", None)
    log = StepLog(run_depth(), live)
    _local.log = log
    try:
        yield log
    finally:
        _local.log = previous
        log.live = None


def current_step_log() -> StepLog | None:
    """The log of the step running in this thread, unless the step started a run of its own."""
    log: StepLog | None = getattr(_local, "log", None)
    if log is not None and run_depth() <= log.depth:
        return log
    return None
