"""Metrics and tags logged inside steps reach the pipeline's run, on every executor."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

import labledger
from labledger._foundation.errors import RunStateError, StepFailedError, ValidationError
from labledger.pipelines import LocalExecutor
from labledger.pipelines.graph import Arg
from labledger.pipelines.task import TaskSpec, execute_task
from labledger.tracking.step_log import StepLog, current_step_log, step_log
from labledger.workspace.memory_store import MemoryBlobStore
from tests.unit.pipelines import sample_pipelines as sp

if TYPE_CHECKING:
    from pathlib import Path

    from labledger.workspace.workspace import Workspace


def _metrics(run_id: str, key: str, workspace: Workspace) -> list[tuple[int, float | None]]:
    history = labledger.get_metric_history(run_id, key, workspace=workspace)
    return [(point.step, point.value) for point in history]


@pytest.mark.parametrize("executor", [None, LocalExecutor(max_workers=2)], ids=["inline", "pool"])
def test_metrics_and_tags_logged_in_a_step_reach_the_run(
    workspace: Workspace, executor: LocalExecutor | None
) -> None:
    result = sp.training.run(workspace=workspace, executor=executor)
    assert _metrics(result.run_id, "loss", workspace) == [(0, 1.0), (1, 0.5), (2, 1 / 3)]
    assert labledger.get_run(result.run_id, workspace=workspace).tags["model"] == "toy"


@pytest.mark.parametrize("executor", [None, LocalExecutor(max_workers=2)], ids=["inline", "pool"])
def test_a_cached_step_brings_the_metrics_it_logged_marked_as_reused(
    workspace: Workspace, executor: LocalExecutor | None
) -> None:
    import json

    from labledger.pipelines.runner import REUSED_METRICS_TAG

    first = sp.training.run(workspace=workspace, executor=executor)
    again = sp.training.run(workspace=workspace, executor=executor)
    assert again.cached == ["trains"]
    assert _metrics(again.run_id, "loss", workspace) == [(0, 1.0), (1, 0.5), (2, 1 / 3)]
    run = labledger.get_run(again.run_id, workspace=workspace)
    assert run.metrics["loss"] == pytest.approx(1 / 3)
    assert run.tags["model"] == "toy"
    assert json.loads(run.tags[REUSED_METRICS_TAG]) == {"loss": first.run_id}
    found = labledger.search_runs("metrics.loss < 0.5", workspace=workspace)
    assert {r.id for r in found} == {first.run_id, again.run_id}
    assert labledger.verify(workspace=workspace).ok


def test_a_partly_cached_run_shows_the_metrics_of_both_kinds_of_task(
    workspace: Workspace,
) -> None:
    sp.training.run(workspace=workspace, epochs=3)
    more = sp.training.run(workspace=workspace, epochs=2)  # a new key: runs
    again = sp.training.run(workspace=workspace, epochs=2)
    assert more.executed == ["trains"] and again.cached == ["trains"]
    assert _metrics(again.run_id, "loss", workspace) == [(0, 1.0), (1, 0.5)]


def test_in_process_every_attempt_logs_as_it_goes(workspace: Workspace, tmp_path: Path) -> None:
    result = sp.retried_logging.run(workspace=workspace, marker=str(tmp_path / "marker"))
    assert _metrics(result.run_id, "attempt", workspace) == [(0, 1.0), (1, 2.0)]


def test_a_deferred_log_keeps_the_last_attempt_only(tmp_path: Path) -> None:
    # What a Dask worker does: no run in reach, the log travels back with the result.
    node = sp.retried_logging.trace(marker=str(tmp_path / "marker")).nodes[0]
    spec = TaskSpec(task_id="t", node=node.key, step=node.step, args=node.args, inputs={}, seed=0)
    result = execute_task(spec, MemoryBlobStore(), defer_logging=True)
    assert result.ok and result.attempts == 2
    assert result.logged is not None
    assert [m[:3] for m in result.logged.metrics] == [("attempt", 2.0, None)]
    silent = TaskSpec(
        task_id="u",
        node="numbers",
        step=sp.numbers,
        args={"n": Arg("literal", 2)},
        inputs={},
        seed=0,
    )
    nothing = execute_task(silent, MemoryBlobStore(), defer_logging=True)
    assert nothing.ok and nothing.logged is None


def test_a_bad_metric_fails_the_step_with_the_run_message(workspace: Workspace) -> None:
    with pytest.raises(StepFailedError, match="not a number"):
        sp.bad_metric.run(workspace=workspace)


def test_a_run_started_inside_a_step_gets_what_is_logged_while_it_is_open(
    workspace: Workspace,
) -> None:
    result = sp.nested.run(workspace=workspace)
    inner = result.load("nested_run")
    assert _metrics(inner, "inner_metric", workspace) == [(0, 1.0)]
    assert _metrics(result.run_id, "outer_metric", workspace) == [(0, 2.0)]
    assert _metrics(result.run_id, "inner_metric", workspace) == []


def test_step_log_checks_like_a_run_and_applies_in_order() -> None:
    log = StepLog()
    log.log_metrics({"a": 1, "b": float("nan")}, step=4)
    log.log_metric("a", 2.0, timestamp=10)
    log.set_tag("stage", 2)
    with pytest.raises(ValidationError, match="not a number"):
        log.log_metric("a", "x")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="is invalid"):
        log.set_tags({"": 1})
    with pytest.raises(ValidationError, match="not an int"):
        log.log_metric("a", 1.0, step=1.5)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="not finite"):
        log.log_metric("a", 1.0, timestamp=float("inf"))
    assert [(k, s) for k, _, s, _ in log.metrics] == [("a", 4), ("b", 4), ("a", None)]
    assert log.metrics[2][3] == 10.0
    assert log.tags == {"stage": "2"}


def test_outside_a_run_a_step_log_takes_metrics_but_not_params() -> None:
    # What a step sees on a Dask worker: no run in the process, only its log.
    assert current_step_log() is None
    with step_log() as log:
        assert current_step_log() is log
        labledger.log_metric("m", 1.0)
        labledger.set_tags({"t": "v"})
        with pytest.raises(RunStateError, match="inside a pipeline step"):
            labledger.log_param("p", 1)
        with pytest.raises(RunStateError, match="return values as step outputs"):
            labledger.log_artifact(b"bytes", name="x")
    assert current_step_log() is None
    assert [m[:3] for m in log.metrics] == [("m", 1.0, None)]
    assert log.tags == {"t": "v"}


def test_a_forged_logged_digest_breaks_the_seal_and_is_never_reused(
    workspace: Workspace,
) -> None:
    import sqlalchemy as sa

    from labledger._foundation.canonical import canonical_json
    from labledger.pipelines import UnsealedCacheWarning
    from labledger.workspace import schema

    first = sp.training.run(workspace=workspace)
    forged = workspace.store.put(
        canonical_json({"metrics": [["auc", "not-a-number", None, 1.0], ["auc", 0.999, 0, 1.0]]})
    )
    with workspace.write() as conn:
        workspace.register_blob(conn, forged, 10)
        conn.execute(
            sa.update(schema.tasks)
            .where(schema.tasks.c.run_id == first.run_id)
            .values(logged_digest=forged)
        )
    report = labledger.verify(workspace=workspace)
    assert not report.ok
    assert first.run_id in {problem.id for problem in report.problems}
    with pytest.warns(UnsealedCacheWarning, match=first.run_id):
        again = sp.training.run(workspace=workspace)
    assert again.executed == ["trains"]
    assert _metrics(again.run_id, "auc", workspace) == []
    assert _metrics(again.run_id, "loss", workspace) == [(0, 1.0), (1, 0.5), (2, 1 / 3)]


def test_a_logged_point_a_run_would_refuse_is_skipped_when_read_back() -> None:
    log = StepLog.from_record(
        {"metrics": [["auc", "not-a-number", None, 1.0], ["auc", 0.999, 0, 1.0]], "tags": {"": 1}}
    )
    assert [point[:3] for point in log.metrics] == [("auc", 0.999, 0)]
    assert log.tags == {}
