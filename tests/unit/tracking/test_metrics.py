"""Logging metrics: values, steps, timestamps, the background flush and the latest values."""

from __future__ import annotations

import math
import time
from decimal import Decimal
from fractions import Fraction
from typing import TYPE_CHECKING

import numpy as np
import pytest
import sqlalchemy as sa

import labledger
from labledger._foundation.errors import ValidationError
from labledger.tracking.query import get_metric_history, get_run
from labledger.workspace import schema

if TYPE_CHECKING:
    from labledger.workspace.workspace import Workspace


def _rows(ws: Workspace, run_id: str) -> int:
    with ws.read() as conn:
        return conn.execute(
            sa.select(sa.func.count())
            .select_from(schema.metrics)
            .where(schema.metrics.c.run_id == run_id)
        ).scalar_one()


def test_nan_is_stored_and_read_back_as_nan(current: Workspace) -> None:
    with labledger.start_run() as run:
        run.log_metric("score", 0.5)
        run.log_metric("score", math.nan)
        run.log_metric("only_nan", float("nan"))
    history = get_metric_history(run.id, "score")
    assert next(p.value for p in history) == 0.5
    assert math.isnan(history[1].value)
    metrics = get_run(run.id).metrics
    assert math.isnan(metrics["score"])
    assert math.isnan(metrics["only_nan"])


def test_infinities_are_kept(current: Workspace) -> None:
    with labledger.start_run() as run:
        run.log_metric("up", math.inf)
        run.log_metric("down", -math.inf)
    assert get_run(run.id).metrics == {"down": -math.inf, "up": math.inf}


@pytest.mark.parametrize("value", ["0.5", b"1", None, [1.0], {"v": 1}, object()])
def test_non_numbers_are_rejected_with_advice(current: Workspace, value: object) -> None:
    with labledger.start_run() as run:
        with pytest.raises(ValidationError) as caught:
            run.log_metric("m", value)  # type: ignore[arg-type]
        assert "not a number" in str(caught.value)
        assert "tag or param" in str(caught.value)
    assert get_run(run.id).metrics == {}


@pytest.mark.parametrize(
    "value",
    [np.float64(0.25), np.float32(0.25), np.int64(3), 3, True, Decimal("0.25"), Fraction(1, 4)],
)
def test_number_like_values_are_accepted(current: Workspace, value: object) -> None:
    with labledger.start_run() as run:
        run.log_metric("m", value)  # type: ignore[arg-type]
    (point,) = get_metric_history(run.id, "m")
    assert point.value == float(value)  # type: ignore[arg-type]
    assert type(point.value) is float


def test_steps_count_per_key(current: Workspace) -> None:
    with labledger.start_run() as run:
        for value in (1.0, 2.0, 3.0):
            run.log_metric("a", value)
        run.log_metric("b", 9.0)
        run.log_metric("a", 4.0)
    assert [(p.key, p.step) for p in get_metric_history(run.id)] == [
        ("a", 0),
        ("a", 1),
        ("a", 2),
        ("a", 3),
        ("b", 0),
    ]


def test_explicit_steps_and_auto_steps_continue_from_them(current: Workspace) -> None:
    with labledger.start_run() as run:
        run.log_metric("loss", 0.9, step=10)
        run.log_metric("loss", 0.8)
        run.log_metric("loss", 0.7, step=5)
        with pytest.raises(ValidationError):
            run.log_metric("loss", 0.1, step=1.5)  # type: ignore[arg-type]
    assert [(p.step, p.value) for p in get_metric_history(run.id, "loss")] == [
        (5, 0.7),
        (10, 0.9),
        (11, 0.8),
    ]


def test_latest_metric_is_the_one_at_the_highest_step(current: Workspace) -> None:
    with labledger.start_run() as run:
        run.log_metric("loss", 0.2, step=100)
        run.log_metric("loss", 0.9, step=3)
        run.flush()
        run.log_metric("loss", 0.5, step=50)
    assert get_run(run.id).metrics == {"loss": 0.2}


def test_timestamps_default_to_now_or_are_given(current: Workspace) -> None:
    before = time.time()
    with labledger.start_run() as run:
        run.log_metric("m", 1.0)
        run.log_metric("m", 2.0, timestamp=1_700_000_000.5)
        run.log_metrics({"x": 1.0, "y": 2.0}, step=7)
    after = time.time()
    history = get_metric_history(run.id)
    m0, m1 = [p for p in history if p.key == "m"]
    assert before <= m0.timestamp <= after
    assert m1.timestamp == 1_700_000_000.5
    x, y = [p for p in history if p.key in ("x", "y")]
    assert x.step == y.step == 7
    assert x.timestamp == y.timestamp


def test_metrics_are_flushed_in_the_background(current: Workspace) -> None:
    run = labledger.start_run("background")
    try:
        for step in range(100):
            run.log_metric("signal", step / 100)
        deadline = time.monotonic() + 1.5
        while _rows(current, run.id) < 100 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert _rows(current, run.id) == 100
        assert get_run(run.id).status == "running"
        assert get_run(run.id).metrics == {"signal": 0.99}
    finally:
        run.end()


def test_every_value_is_written_once(current: Workspace) -> None:
    with labledger.start_run() as run:
        for step in range(5000):
            run.log_metric("a", float(step))
            if step % 1000 == 0:
                time.sleep(0.15)  # let the background thread flush part of it
    history = get_metric_history(run.id, "a")
    assert [p.step for p in history] == list(range(5000))
    assert _rows(current, run.id) == 5000


def test_history_of_an_unknown_key_is_empty(current: Workspace) -> None:
    with labledger.start_run() as run:
        run.log_metric("a", 1.0)
    assert get_metric_history(run.id, "b") == []


@pytest.mark.parametrize("timestamp", ["now", None.__class__, True, math.nan, math.inf, b"1"])
def test_bad_timestamps_are_rejected_and_do_not_poison_the_run(
    current: Workspace, timestamp: object
) -> None:
    with labledger.start_run() as run:
        with pytest.raises(ValidationError, match="timestamp"):
            run.log_metric("m", 1.0, timestamp=timestamp)  # type: ignore[arg-type]
        run.log_metric("m", 2.0, timestamp=1_700_000_000)
    assert get_run(run.id).status == "finished"
    assert [(p.value, p.timestamp) for p in get_metric_history(run.id, "m")] == [
        (2.0, 1_700_000_000.0)
    ]


@pytest.mark.parametrize(
    ("value", "expected"), [(np.array(0.5), 0.5), (np.array([0.5]), 0.5), (np.array([[2]]), 2.0)]
)
def test_one_element_arrays_are_taken_as_their_value(
    current: Workspace, value: object, expected: float
) -> None:
    with labledger.start_run() as run:
        run.log_metric("a", value)  # type: ignore[arg-type]
    (point,) = get_metric_history(run.id, "a")
    assert (point.value, type(point.value)) == (expected, float)


@pytest.mark.parametrize("value", [np.array([0.5, 0.25]), np.zeros((0,)), np.zeros((2, 2))])
def test_arrays_of_several_values_are_refused_naming_the_metric(
    current: Workspace, value: object
) -> None:
    with labledger.start_run() as run:
        with pytest.raises(ValidationError) as caught:
            run.log_metric("auc", value)  # type: ignore[arg-type]
    message = str(caught.value)
    assert f"metric 'auc' got ndarray of shape {np.shape(value)}, not one number" in message
    assert "one value per key" in message


def test_a_number_that_float_refuses_is_a_validation_error(current: Workspace) -> None:
    with labledger.start_run() as run, pytest.raises(ValidationError, match="metric 'c'"):
        run.log_metric("c", 1j)  # type: ignore[arg-type]


def test_log_metrics_takes_a_dict_or_pairs_and_refuses_other_shapes(current: Workspace) -> None:
    with labledger.start_run() as run:
        labledger.log_metrics([("a", 1), ("b", 2.5)], step=3)
        for bad, fragment in [(["a", 1], "'a' where a (key, value) pair"), (0.5, "float 0.5")]:
            with pytest.raises(ValidationError) as caught:
                labledger.log_metrics(bad)  # type: ignore[arg-type]
            assert fragment in str(caught.value)
            assert "a list of (key, value) pairs" in str(caught.value)
    assert get_run(run.id).metrics == {"a": 1.0, "b": 2.5}
    assert [p.step for p in get_metric_history(run.id, "a")] == [3]
