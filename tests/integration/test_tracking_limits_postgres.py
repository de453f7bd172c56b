"""On PostgreSQL, a value at each limit round-trips and one past it is refused at the call.

PostgreSQL checks what SQLite does not (column widths, 64-bit steps, NUL characters) and only when
the rows are written: a value the checks let through would fail the run's flushes instead.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import pytest

import labledger
from labledger._foundation.errors import ValidationError
from labledger.tracking.checks import MAX_KEY, MAX_NAME, MAX_VALUE, TIMESTAMP_MAX

if TYPE_CHECKING:
    from labledger.workspace.workspace import Workspace

pytestmark = pytest.mark.integration


def test_boundary_values_round_trip_or_are_refused_at_the_call(pg_workspace: Workspace) -> None:
    ws = pg_workspace
    key, value, name = "k" * MAX_KEY, "é" * MAX_VALUE, "n" * MAX_NAME
    with labledger.start_run(name, params={key: value}, tags={key: value}, workspace=ws) as run:
        run.log_metric(key, 1.5, step=2**63 - 1, timestamp=TIMESTAMP_MAX)
        run.log_metric("bounds", -(2**63) + 0.0, step=-(2**63), timestamp=0)
        run.log_metrics({"inf": math.inf, "-inf": -math.inf, "nan": math.nan}, step=0)
        run.log_artifact(b"x", name="a" * MAX_NAME)
        refused = [
            lambda: run.log_metric("loss", 0.1, step=2**63),
            lambda: run.log_metric("loss", 0.1, step=-(2**63) - 1),
            lambda: run.log_metric("loss", 0.1, timestamp=TIMESTAMP_MAX + 1),
            lambda: run.log_metric(key + "k", 0.1),
            lambda: run.log_metric("a\x00b", 0.1),
            lambda: run.log_param(key + "k", 1),
            lambda: run.log_param("big", value + "é"),
            lambda: run.set_tag("big", value + "é"),
            lambda: run.set_tag("nul", "a\x00b"),
            lambda: run.log_artifact(b"y", name="a" * (MAX_NAME + 1)),
            lambda: labledger.start_run(name + "n", workspace=ws),
        ]
        for call in refused:
            with pytest.raises(ValidationError):
                call()
        run.log_metric("loss", 0.1)  # the run goes on
    stored = labledger.get_run(run.id, workspace=ws)
    assert stored.status == "finished"
    assert (stored.name, stored.params, stored.tags) == (name, {key: value}, {key: value})
    assert stored.metrics["inf"] == math.inf
    assert stored.metrics["-inf"] == -math.inf
    assert math.isnan(stored.metrics["nan"])
    history = labledger.get_metric_history(run.id, key, workspace=ws)
    assert [(p.step, p.value, p.timestamp) for p in history] == [(2**63 - 1, 1.5, TIMESTAMP_MAX)]
    low = labledger.get_metric_history(run.id, "bounds", workspace=ws)
    assert [(p.step, p.timestamp) for p in low] == [(-(2**63), 0.0)]
    assert [p.value for p in labledger.get_metric_history(run.id, "loss", workspace=ws)] == [0.1]
    assert labledger.verify(workspace=ws).ok
