"""A value a run cannot keep is refused at the call that passes it, and the run still ends."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import labledger
from labledger._foundation.errors import ValidationError
from labledger.tracking.checks import MAX_KEY, MAX_NAME, MAX_VALUE, TIMESTAMP_MAX

if TYPE_CHECKING:
    from labledger.workspace.workspace import Workspace


class _Opaque:
    """An object without its own ``__str__`` (its text names a memory address)."""


class _Loud:
    """An object whose text cannot be had."""

    def __str__(self) -> str:
        raise RuntimeError("no text")


_HUGE_TEXT = st.integers(min_value=MAX_VALUE - 2, max_value=MAX_VALUE + 2).map(lambda n: "v" * n)
_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=2**63, max_value=2**70),
    st.just(10**5000),  # more digits than Python writes as text
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(),
    st.text(alphabet=st.characters(codec=None, blacklist_categories=())),  # NUL, surrogates
    _HUGE_TEXT,
    st.binary(max_size=20),
    st.lists(st.integers(), max_size=3),
    st.lists(st.floats(allow_nan=True), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
    st.dictionaries(st.integers(), st.integers(), min_size=1, max_size=2),  # not JSON keys
    st.builds(lambda n: [[[n]]] * 3, st.integers()),
    st.builds(_Opaque),
    st.builds(_Loud),
    st.just(np.int64(7)),
    st.just(np.float32(0.5)),
    st.just(np.array([1.0, 2.0])),
)
_KEYS = st.one_of(
    st.text(max_size=300),
    st.text(alphabet=st.characters(codec=None, blacklist_categories=()), max_size=5),
    st.integers(min_value=MAX_KEY - 1, max_value=MAX_KEY + 1).map(lambda n: "k" * n),
    st.integers(),
    st.none(),
)
_STEPS = st.one_of(
    st.none(),
    st.integers(),
    st.integers(min_value=2**63),
    st.booleans(),
    st.floats(),
    st.just(np.int64(3)),
)
_TIMES = st.one_of(
    st.none(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.just(10**400),
    st.just(1e308),
    st.just(-1),
    st.text(max_size=3),
)
_CALLS = st.lists(
    st.tuples(
        st.sampled_from(["metric", "param", "tag", "metrics", "params", "tags"]),
        _KEYS,
        _VALUES,
        _STEPS,
        _TIMES,
    ),
    max_size=8,
)


def _call(run: labledger.ActiveRun, kind: str, key: Any, value: Any, step: Any, when: Any) -> None:
    if kind == "metric":
        run.log_metric(key, value, step=step, timestamp=when)
    elif kind == "param":
        run.log_param(key, value)
    elif kind == "tag":
        run.set_tag(key, value)
    elif kind == "params":
        run.log_params({key: value, "other": 1})
    elif kind == "tags":
        run.set_tags({"other": "x", key: value})
    else:
        run.log_metrics({key: value} if isinstance(key, str) else [(key, value)], step=step)


def _kept(run: labledger.ActiveRun, kind: str, key: Any, value: Any) -> None:
    """What a call that was not refused must have kept, as it will read back."""
    if kind in ("param", "params"):
        assert key in run._params
    elif kind in ("tag", "tags"):
        assert key in run._tags


@settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(calls=_CALLS)
def test_every_value_is_refused_at_the_call_or_kept_and_the_run_ends(
    workspace: Workspace, calls: list[tuple[str, Any, Any, Any, Any]]
) -> None:
    kept_params: dict[str, str] = {}
    with labledger.start_run("door", workspace=workspace) as run:
        for kind, key, value, step, when in calls:
            try:
                _call(run, kind, key, value, step, when)
            except ValidationError as error:
                # Refused at the call, saying what: never a driver's error, never at the flush.
                assert str(error)
                continue
            _kept(run, kind, key, value)
            run.flush()  # a kept metric must be writable now, not fail later
        kept_params = dict(run._params)
    stored = labledger.get_run(run.id, workspace=workspace)
    assert stored.status == "finished"
    assert stored.params == kept_params
    assert labledger.verify(workspace=workspace).ok


def test_a_step_beyond_64_bits_is_refused_and_loses_nothing(workspace: Workspace) -> None:
    with labledger.start_run("steps", workspace=workspace) as run:
        run.log_metric("loss", 0.5)
        with pytest.raises(ValidationError, match="out of range"):
            run.log_metric("loss", 0.4, step=2**63)
        run.log_metric("loss", 0.3, step=2**63 - 1)
    history = labledger.get_metric_history(run.id, "loss", workspace=workspace)
    assert [(p.step, p.value) for p in history] == [(0, 0.5), (2**63 - 1, 0.3)]
    assert labledger.get_run(run.id, workspace=workspace).status == "finished"


@pytest.mark.parametrize("when", [1e308, -1, 10**400, float("nan"), float("inf"), 1.7e12, "now"])
def test_a_timestamp_outside_1970_to_9999_is_refused_at_the_call(
    workspace: Workspace, when: Any
) -> None:
    with labledger.start_run("times", workspace=workspace) as run:
        run.log_metric("loss", 0.5, timestamp=0)
        with pytest.raises(ValidationError, match="timestamp"):
            run.log_metric("loss", 0.4, timestamp=when)
        run.log_metric("loss", 0.3, timestamp=np.float64(TIMESTAMP_MAX))
    history = labledger.get_metric_history(run.id, "loss", workspace=workspace)
    assert [p.timestamp for p in history] == [0.0, TIMESTAMP_MAX]


def test_steps_are_ints_numpy_ints_included(workspace: Workspace) -> None:
    with labledger.start_run("steps", workspace=workspace) as run:
        run.log_metric("loss", 0.5, step=np.int64(3))
        for bad in (3.0, True, "4", np.float64(5)):
            with pytest.raises(ValidationError, match="not an int"):
                run.log_metric("loss", 0.4, step=bad)
        run.log_metrics({"loss": 0.3}, step=np.int32(4))
    history = labledger.get_metric_history(run.id, "loss", workspace=workspace)
    assert [(p.step, p.value) for p in history] == [(3, 0.5), (4, 0.3)]
    assert all(type(p.step) is int for p in history)


def test_values_at_the_limits_round_trip_and_one_past_is_refused(workspace: Workspace) -> None:
    key, value = "k" * MAX_KEY, "v" * MAX_VALUE
    with labledger.start_run("n" * MAX_NAME, workspace=workspace) as run:
        run.log_param(key, value)
        run.set_tag(key, value)
        run.log_metric(key, 1.0)
        with pytest.raises(ValidationError, match=r"65,537 characters long.*limit of 65,536"):
            run.log_param("big", value + "v")
        with pytest.raises(ValidationError, match=rf"251 characters long.*limit of {MAX_KEY}"):
            run.set_tag(key + "k", "x")
        with pytest.raises(ValidationError, match="limit of 250"):
            run.log_metric(key + "k", 1.0)
        with pytest.raises(ValidationError, match="holds a list that cannot be written"):
            nested: list[Any] = []
            nested.append(nested)
            run.log_param("loop", nested)
        with pytest.raises(ValidationError, match="cannot be written as text"):
            run.log_param("huge", 10**5000)
    stored = labledger.get_run(run.id, workspace=workspace)
    assert (stored.name, stored.params, stored.tags[key]) == ("n" * MAX_NAME, {key: value}, value)
    assert stored.status == "finished"
    with pytest.raises(ValidationError, match="301 characters long, over the limit of 300"):
        labledger.start_run("n" * (MAX_NAME + 1), workspace=workspace)
    with pytest.raises(ValidationError, match="not a dict"):
        labledger.start_run("x", tags=["a"], workspace=workspace)  # type: ignore[arg-type]


@pytest.mark.parametrize("text", ["a\x00b", "a\udc80b"])
def test_text_no_catalog_can_store_is_refused_at_the_call(workspace: Workspace, text: str) -> None:
    with labledger.start_run("text", workspace=workspace) as run:
        for call in (
            lambda: run.log_metric(text, 1.0),
            lambda: run.log_param(text, 1),
            lambda: run.set_tag("note", text),
            lambda: run.log_artifact(b"x", name=text),
        ):
            with pytest.raises(ValidationError, match=r"NUL|surrogate"):
                call()
        with pytest.raises(ValidationError, match=r"NUL|surrogate"):
            labledger.start_run(text, workspace=workspace)
        run.log_metric("kept", 1.0)
    assert labledger.get_run(run.id, workspace=workspace).metrics == {"kept": 1.0}
    assert labledger.verify(workspace=workspace).ok


def test_a_run_failing_with_unstorable_text_still_ends(workspace: Workspace) -> None:
    with pytest.raises(ValueError), labledger.start_run("fails", workspace=workspace) as run:
        raise ValueError("bad \x00 byte \udc80")
    stored = labledger.get_run(run.id, workspace=workspace)
    assert stored.status == "failed"
    assert "bad \\x00 byte \\udc80" in (stored.error or "")
