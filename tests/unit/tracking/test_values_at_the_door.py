"""A value a run cannot keep is refused at the call that passes it, and the run still ends."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import labledger
from labledger._foundation.errors import ValidationError

if TYPE_CHECKING:
    from labledger.workspace.workspace import Workspace

_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=2**63, max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(),
    st.text(alphabet=st.characters(codec=None, blacklist_categories=())),  # NUL, surrogates
    st.binary(max_size=20),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
)
_KEYS = st.one_of(st.text(max_size=300), st.integers(), st.none())
_CALLS = st.lists(
    st.tuples(
        st.sampled_from(["metric", "param", "tag", "metrics"]),
        _KEYS,
        _VALUES,
        st.one_of(st.none(), st.integers(), st.integers(min_value=2**63)),
    ),
    max_size=8,
)


def _call(run: labledger.ActiveRun, kind: str, key: Any, value: Any, step: Any) -> None:
    if kind == "metric":
        run.log_metric(key, value, step=step)
    elif kind == "param":
        run.log_param(key, value)
    elif kind == "tag":
        run.set_tag(key, value)
    else:
        run.log_metrics({key: value} if isinstance(key, str) else [(key, value)], step=step)


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(calls=_CALLS)
def test_every_value_is_refused_at_the_call_or_kept_and_the_run_ends(
    workspace: Workspace, calls: list[tuple[str, Any, Any, Any]]
) -> None:
    with labledger.start_run("door", workspace=workspace) as run:
        for kind, key, value, step in calls:
            try:
                _call(run, kind, key, value, step)
            except ValidationError:
                pass
    assert labledger.get_run(run.id, workspace=workspace).status == "finished"
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
