"""Running pipelines: caching, partial re-runs, failures, retries, outputs and the catalog rows."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
import sqlalchemy as sa

from labledger._foundation.errors import StepFailedError
from labledger.pipelines import LocalExecutor
from labledger.workspace import schema
from tests.unit.pipelines import sample_pipelines as sp

if TYPE_CHECKING:
    from pathlib import Path

    from labledger.workspace.workspace import Workspace


def _rows(ws: Workspace, query: sa.Select) -> list[sa.Row]:
    with ws.read() as conn:
        return list(conn.execute(query))


def test_first_run_executes_every_step_and_records_lineage(workspace: Workspace) -> None:
    result = sp.arithmetic.run(workspace=workspace)
    assert result.status == "finished"
    assert result.executed == list(result.tasks)
    assert result.load("total") == 10
    assert result.load("scaled") == 10 * 2 * 3
    assert result.load("split.low") == [0, 1]
    assert result.load("combine") == 10
    tasks = _rows(workspace, sa.select(schema.tasks).where(schema.tasks.c.run_id == result.run_id))
    assert len(tasks) == len(result.tasks) == 7
    inputs = _rows(workspace, sa.select(schema.task_inputs))
    combine = result.tasks["combine"]
    read = {r.name for r in inputs if r.task_id == combine.task_id}
    assert read == {"parts.0", "parts.1"}
    run = _rows(workspace, sa.select(schema.runs).where(schema.runs.c.id == result.run_id))[0]
    assert (run.kind, run.status) == ("pipeline", "finished")


def test_second_run_is_fully_cached_and_reuses_artifacts(workspace: Workspace) -> None:
    first = sp.arithmetic.run(workspace=workspace)
    second = sp.arithmetic.run(workspace=workspace)
    assert second.executed == []
    assert second.cached == list(second.tasks)
    for node, task in second.tasks.items():
        assert task.outputs == first.tasks[node].outputs
    cached = _rows(workspace, sa.select(schema.tasks).where(schema.tasks.c.run_id == second.run_id))
    assert {r.cached_from for r in cached} == {t.task_id for t in first.tasks.values()}


def test_changing_a_param_reruns_only_what_depends_on_it(workspace: Workspace) -> None:
    sp.arithmetic.run(workspace=workspace)
    changed = sp.arithmetic.run(workspace=workspace, factor=4)
    assert changed.executed == ["scaled"]
    bigger = sp.arithmetic.run(workspace=workspace, n=6)
    assert "numbers" in bigger.executed
    assert bigger.load("total") == 15


def test_no_cache_recomputes_but_records_one_artifact_per_result(workspace: Workspace) -> None:
    first = sp.arithmetic.run(workspace=workspace)
    again = sp.arithmetic.run(workspace=workspace, cache=False)
    assert again.executed == list(again.tasks)
    # Equal bytes under the same cache key are the same result: linked, not duplicated.
    assert again.tasks["total"].outputs == first.tasks["total"].outputs


def test_step_with_cache_off_always_runs(workspace: Workspace) -> None:
    sp.partly_cached.run(workspace=workspace)
    again = sp.partly_cached.run(workspace=workspace)
    assert again.executed == ["uncached"]
    assert again.load("uncached") == 4


def test_failed_step_fails_the_run_keeps_finished_work_and_resumes(workspace: Workspace) -> None:
    with pytest.raises(StepFailedError) as info:
        sp.failing.run(workspace=workspace)
    error = info.value
    assert error.node == "explode"
    assert "cannot handle 3" in error.traceback
    assert "RuntimeError" in str(error)
    tasks = {
        r.node: r
        for r in _rows(
            workspace, sa.select(schema.tasks).where(schema.tasks.c.run_id == error.run_id)
        )
    }
    assert tasks["explode"].status == "failed"
    assert "cannot handle 3" in tasks["explode"].error
    assert tasks["numbers"].status == "finished"
    assert tasks["scaled"].status == "skipped"
    run = _rows(workspace, sa.select(schema.runs).where(schema.runs.c.id == error.run_id))[0]
    assert run.status == "failed"
    with pytest.raises(StepFailedError) as again:
        sp.failing.run(workspace=workspace)
    resumed = {
        r.node: r.status
        for r in _rows(
            workspace, sa.select(schema.tasks).where(schema.tasks.c.run_id == again.value.run_id)
        )
    }
    assert resumed["numbers"] == resumed["total"] == "cached"


def test_retries_run_the_step_again(workspace: Workspace, tmp_path: Path) -> None:
    marker = tmp_path / "attempts"
    result = sp.retrying.run(workspace=workspace, marker=str(marker))
    assert result.load("flaky") == 1
    assert marker.read_text() == "3"
    attempts = _rows(workspace, sa.select(schema.tasks.c.attempts))
    assert attempts[0].attempts == 3


def test_unsupported_output_type_is_a_clear_failure(workspace: Workspace) -> None:
    with pytest.raises(StepFailedError, match="cannot store") as info:
        sp.bad_output.run(workspace=workspace)
    assert info.value.node == "unstorable"


def test_logs_and_metrics_inside_steps_are_recorded(workspace: Workspace) -> None:
    result = sp.random_draw.run(workspace=workspace)
    task = _rows(workspace, sa.select(schema.tasks).where(schema.tasks.c.run_id == result.run_id))
    with workspace.store.open(task[0].log_digest) as handle:
        assert b"drawing a number" in handle.read()
    metrics = _rows(
        workspace, sa.select(schema.metrics).where(schema.metrics.c.run_id == result.run_id)
    )
    assert [(m.key, m.value) for m in metrics] == [("draw", 1.0)]


def test_seeds_make_random_steps_repeatable(workspace: Workspace) -> None:
    first = sp.random_draw.run(workspace=workspace, cache=False).load("noisy")
    second = sp.random_draw.run(workspace=workspace, cache=False).load("noisy")
    other = sp.random_draw.run(workspace=workspace, seed=7).load("noisy")
    assert first == second
    assert other != first


def test_a_blob_deleted_behind_the_catalog_is_never_a_cache_hit(workspace: Workspace) -> None:
    first = sp.arithmetic.run(workspace=workspace)
    digest = first.tasks["total"].digests["out"]
    workspace.store.delete(digest)
    assert not workspace.store.exists(digest)
    again = sp.arithmetic.run(workspace=workspace)
    assert "total" in again.executed
    assert workspace.store.exists(digest)


def test_thread_pool_gives_the_same_results(workspace: Workspace) -> None:
    serial = sp.arithmetic.run(workspace=workspace, cache=False)
    pooled = sp.arithmetic.run(
        workspace=workspace, cache=False, executor=LocalExecutor(max_workers=3)
    )
    assert {k: t.digests for k, t in pooled.tasks.items()} == {
        k: t.digests for k, t in serial.tasks.items()
    }


def test_run_is_sealed_in_the_ledger_and_verifies(workspace: Workspace) -> None:
    from labledger import verify

    sp.arithmetic.run(workspace=workspace)
    report = verify(workspace=workspace)
    assert report.ok, report


def test_pipeline_outputs_are_found_by_full_text_search(workspace: Workspace) -> None:
    from labledger.metadata import search

    result = sp.arithmetic.run(workspace=workspace)
    hits = search("combine", kinds=["artifact"], workspace=workspace)
    assert [hit.id for hit in hits] == [result.artifact_id("combine")]


def test_cached_results_older_than_the_expiry_are_recomputed(workspace: Workspace) -> None:
    import time

    sp.expiring.run(workspace=workspace)
    assert sp.expiring.run(workspace=workspace).cached == ["short_lived"]
    time.sleep(2.1)
    assert sp.expiring.run(workspace=workspace).executed == ["short_lived"]


def test_editing_a_task_row_after_the_run_fails_verify(workspace: Workspace) -> None:
    from labledger import verify

    result = sp.arithmetic.run(workspace=workspace)
    assert verify(workspace=workspace).ok
    with workspace.write() as conn:
        conn.execute(
            sa.update(schema.tasks)
            .where(schema.tasks.c.id == result.tasks["total"].task_id)
            .values(cache_key="blake3:" + "0" * 64)
        )
    report = verify(workspace=workspace)
    assert not report.ok
    assert result.run_id in str(report.problems)


def test_only_tasks_of_sealed_runs_are_cache_hits(workspace: Workspace) -> None:
    from labledger.workspace.verify import verify_workspace

    first = sp.arithmetic.run(workspace=workspace)
    # As if the run had never been sealed (its rows written around labledger): nothing vouches
    # for its task rows, so none of them may answer a later run.
    with workspace.write() as conn:
        conn.execute(
            sa.update(schema.runs)
            .where(schema.runs.c.id == first.run_id)
            .values(record_digest=None, status="crashed")
        )
    report = verify_workspace(workspace)
    assert any(p.kind == "task" and "never sealed" in p.reason for p in report.problems)
    again = sp.arithmetic.run(workspace=workspace)
    assert again.cached == []
    assert sp.arithmetic.run(workspace=workspace).executed == []  # the new run is sealed


def test_a_run_belongs_to_the_project_it_is_given(workspace: Workspace) -> None:
    result = sp.arithmetic.run(workspace=workspace, project="assay")
    run = _rows(workspace, sa.select(schema.runs).where(schema.runs.c.id == result.run_id))[0]
    assert run.project_id == workspace.project_id("assay") != workspace.project_id("default")
    assert workspace.project_name(run.project_id) == "assay"
    made = _rows(workspace, sa.select(schema.artifacts).where(schema.artifacts.c.run_id == run.id))
    assert made and {a.project_id for a in made} == {run.project_id}  # filed where the run is
    assert workspace.project_name("no-such-project-id") is None


def test_a_pipeline_parameter_named_project_is_refused() -> None:
    from labledger._foundation.errors import PipelineDefinitionError
    from labledger.pipelines import pipeline

    def body(project: str = "x") -> None:
        sp.numbers(3)

    with pytest.raises(PipelineDefinitionError, match="'project' clashes with an option"):
        pipeline(body)
