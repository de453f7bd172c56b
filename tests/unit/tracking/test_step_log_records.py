"""A task's recorded log, read back: every point is checked as log_metric checks one."""

from __future__ import annotations

import pytest

from labledger._foundation.errors import ValidationError
from labledger.tracking.checks import metric_step
from labledger.tracking.step_log import StepLog


def test_points_a_run_would_refuse_are_left_out() -> None:
    log = StepLog.from_record(
        {
            "metrics": [
                ["", 1, None, 1.0],
                ["huge", 10**400, None, 1.0],
                ["far", 1.0, 10**23, 1.0],
                ["when", 1.0, None, float("inf")],
                ["text", "0.9", None, 1.0],
                ["flag", True, None, 1.0],
                ["ok", 0.5, 2, 1.0],
                "not a point",
            ],
            "tags": {"team": "assay", "": "x"},
        }
    )
    assert log.metrics == [("ok", 0.5, 2, 1.0)]
    assert log.tags == {"team": "assay"}


def test_a_step_beyond_64_bits_is_refused_up_front() -> None:
    with pytest.raises(ValidationError, match="out of range"):
        metric_step("loss", 2**63)
    assert metric_step("loss", 2**63 - 1) == 2**63 - 1
