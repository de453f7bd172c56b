"""Reading runs back: by id or prefix, searching, and comparing."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import pytest

import labledger
from labledger._foundation.errors import NotFoundError, ValidationError
from labledger.tracking.query import compare_runs, get_metric_history, get_run, search_runs
from labledger.workspace.current import set_workspace

if TYPE_CHECKING:
    from collections.abc import Callable

    from labledger.workspace.workspace import Workspace


@pytest.fixture
def three_runs(workspace_factory: Callable[..., Workspace]) -> Workspace:
    ws = workspace_factory(
        runs=[
            {
                "name": "gbm",
                "params": {"model": "gbm", "depth": 3},
                "metrics": {"loss": [0.9, 0.4], "auc": 0.81},
            },
            {
                "name": "rf",
                "params": {"model": "rf", "depth": 3},
                "metrics": {"loss": [0.8, 0.3], "auc": 0.78},
            },
            {
                "name": "lin",
                "params": {"model": "lin"},
                "metrics": {"loss": 0.5, "auc": float("nan")},
                "tags": {"team": "assay"},
                "status": "failed",
            },
        ]
    )
    set_workspace(ws)
    return ws


def _by_name(name: str) -> Any:
    (run,) = [r for r in search_runs() if r.name == name]
    return run


def test_get_run_by_full_id_and_unique_prefix(three_runs: Workspace) -> None:
    run = _by_name("rf")
    assert get_run(run.id) == run
    assert get_run(run.id, workspace=three_runs) == run
    unique = next(
        n for n in range(8, 37) if sum(r.id.startswith(run.id[:n]) for r in search_runs()) == 1
    )
    assert get_run(run.id[:unique]).id == run.id


def test_ambiguous_short_or_unknown_ids_are_not_found(three_runs: Workspace) -> None:
    runs = search_runs()
    common = runs[0].id[:8]
    if all(r.id.startswith(common) for r in runs):
        with pytest.raises(ValidationError, match="ambiguous"):
            get_run(common)
    with pytest.raises(NotFoundError):
        get_run(runs[0].id[:3])  # too short to be a prefix
    with pytest.raises(NotFoundError) as caught:
        get_run("00000000-0000-7000-8000-000000000000")
    assert "labledger runs list" in str(caught.value)
    assert caught.value.hint


def test_an_ambiguous_short_prefix_says_how_many_runs_match_and_what_to_do(
    workspace_factory: Callable[..., Workspace],
) -> None:
    ws = workspace_factory(runs=[{"name": f"r{i}"} for i in range(3)])
    ids = [run.id for run in search_runs(workspace=ws)]
    prefix = ids[0][:4]
    if not all(id_.startswith(prefix) for id_ in ids):
        pytest.skip("the runs were made on either side of a time boundary")
    with pytest.raises(ValidationError, match="ambiguous: 3 runs start with it") as caught:
        get_run(prefix, workspace=ws)
    assert "more characters" in (caught.value.hint or "")
    unique = next(n for n in range(4, 37) if sum(i.startswith(ids[0][:n]) for i in ids) == 1)
    assert get_run(ids[0][:unique], workspace=ws).id == ids[0]


@pytest.mark.parametrize("pattern", ["%%%%%%%%", "________", "0%%%%%%%%%", "%-%-%-%-%"])
def test_prefix_wildcards_match_nothing(
    workspace_factory: Callable[..., Workspace], pattern: str
) -> None:
    ws = workspace_factory(runs=[{"name": "only"}])
    with pytest.raises(NotFoundError):
        get_run(pattern, workspace=ws)


def test_search_returns_newest_first(three_runs: Workspace) -> None:
    assert [r.name for r in search_runs()] == ["lin", "rf", "gbm"]
    assert [r.name for r in search_runs(max_results=2)] == ["lin", "rf"]
    assert search_runs(project="nothing-here") == []


def test_search_hydrates_params_metrics_and_tags(three_runs: Workspace) -> None:
    lin = _by_name("lin")
    assert lin.status == "failed"
    assert lin.params == {"model": "lin"}
    assert lin.tags == {"team": "assay"}
    assert lin.metrics["loss"] == 0.5
    assert math.isnan(lin.metrics["auc"])
    assert _by_name("gbm").metrics == {"auc": 0.81, "loss": 0.4}


def test_search_with_a_simple_filter(three_runs: Workspace) -> None:
    assert [r.name for r in search_runs('params.model = "rf"')] == ["rf"]
    assert {r.name for r in search_runs("metrics.loss < 0.45")} == {"rf", "gbm"}


@pytest.mark.parametrize("bad", [0, -1, 1.5, "10"])
def test_search_rejects_bad_limits(three_runs: Workspace, bad: Any) -> None:
    with pytest.raises(ValidationError):
        search_runs(max_results=bad)


def test_compare_picks_the_best_run_per_metric(three_runs: Workspace) -> None:
    gbm, rf, lin = _by_name("gbm"), _by_name("rf"), _by_name("lin")
    comparison = compare_runs([gbm.id, rf.id, lin.id])
    assert [r.id for r in comparison.runs] == [gbm.id, rf.id, lin.id]
    assert comparison.param_keys == ["depth", "model"]
    assert comparison.metric_keys == ["auc", "loss"]
    assert comparison.differing_params == ["depth", "model"]
    assert comparison.best == {"loss": rf.id, "auc": gbm.id}  # loss: lower is better; NaN ignored


def test_compare_honours_higher_is_better_and_same_params(three_runs: Workspace) -> None:
    gbm, rf = _by_name("gbm"), _by_name("rf")
    comparison = compare_runs([gbm.id, rf.id], higher_is_better=["loss"])
    assert comparison.best["loss"] == gbm.id
    assert comparison.differing_params == ["model"]


def test_compare_needs_runs(three_runs: Workspace) -> None:
    with pytest.raises(ValidationError):
        compare_runs([])
    with pytest.raises(NotFoundError):
        compare_runs(["00000000-0000-7000-8000-000000000000"])


def test_metric_history_by_prefix(three_runs: Workspace) -> None:
    gbm = _by_name("gbm")
    assert [(p.key, p.step, p.value) for p in get_metric_history(gbm.id)] == [
        ("auc", 0, 0.81),
        ("loss", 0, 0.9),
        ("loss", 1, 0.4),
    ]
    with pytest.raises(NotFoundError):
        get_metric_history("00000000-0000-7000-8000-000000000000")


def test_public_api_uses_the_current_workspace(three_runs: Workspace) -> None:
    assert {r.name for r in labledger.search_runs()} == {"gbm", "rf", "lin"}
