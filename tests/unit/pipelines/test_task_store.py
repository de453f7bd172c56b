"""The task store: cache lookups for many keys at once, retried flushes, and the SQLite driver
path writing and reading the same rows as the portable SQLAlchemy path."""

from __future__ import annotations

import dataclasses
import time
from typing import TYPE_CHECKING, Any

import pytest
import sqlalchemy as sa

from labledger.pipelines import pipeline, step
from labledger.workspace import schema
from labledger.workspace.sql import task_batches
from labledger.workspace.sql import tasks as sql_tasks
from labledger.workspace.workspace import Workspace
from tests.unit.pipelines import sample_pipelines as sp

if TYPE_CHECKING:
    from pathlib import Path


@step
def now() -> int:
    return time.time_ns()


@pipeline
def clocked() -> None:
    now()


def _spy(ws: Workspace, method: str, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Record the first argument of every call of the task store's ``method``."""
    store = ws.stores.tasks
    real = getattr(store, method)
    calls: list[Any] = []

    def spy(first: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(first)
        return real(first, *args, **kwargs)

    monkeypatch.setattr(store, method, spy)
    return calls


def test_find_cached_answers_many_keys_in_one_call(workspace: Workspace) -> None:
    first = sp.arithmetic.run(workspace=workspace)
    keys = {outcome.cache_key: outcome for outcome in first.tasks.values()}
    found = workspace.stores.tasks.find_cached([*keys, "no-such-key"])
    assert set(found) == set(keys)
    for key, tasks in found.items():
        (task,) = tasks
        assert task.task_id == keys[key].task_id
        assert task.run_id == first.run_id
        assert task.record_digest is not None  # the run is sealed
        assert {name: out.artifact_id for name, out in task.outputs.items()} == keys[key].outputs
        assert {name: out.digest for name, out in task.outputs.items()} == keys[key].digests


def test_find_cached_returns_newest_first_and_skips_unsealed_runs(workspace: Workspace) -> None:
    first = sp.arithmetic.run(workspace=workspace, cache=False)
    second = sp.arithmetic.run(workspace=workspace, cache=False)
    key = second.tasks["numbers"].cache_key
    tasks = workspace.stores.tasks.find_cached([key])[key]
    assert len(tasks) == 2
    assert tasks[0].run_id == second.run_id
    assert (tasks[0].ended_at or 0) >= (tasks[1].ended_at or 0)
    with workspace.write() as conn:
        conn.execute(
            sa.update(schema.runs)
            .where(schema.runs.c.id == second.run_id)
            .values(record_digest=None)
        )
    assert [t.run_id for t in workspace.stores.tasks.find_cached([key])[key]] == [first.run_id]
    # ... unless the asking run is that run itself.
    mine = workspace.stores.tasks.find_cached([key], run_id=second.run_id)[key]
    assert second.run_id in {task.run_id for task in mine}


def test_the_runner_looks_up_each_ready_frontier_in_one_call(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    sp.arithmetic.run(workspace=workspace)
    calls = _spy(workspace, "find_cached", monkeypatch)
    again = sp.arithmetic.run(workspace=workspace)
    assert again.cached == list(again.tasks)
    # numbers -> (split, total) -> (total of each half, scaled) -> combine
    assert [len(keys) for keys in calls] == [1, 2, 3, 1]


def test_a_retried_flush_writes_nothing_twice(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    batches = _spy(workspace, "record_tasks", monkeypatch)
    sp.arithmetic.run(workspace=workspace, cache=False)
    # The same tasks computed again by another run: its artifacts are linked to the first's.
    second = sp.arithmetic.run(workspace=workspace, cache=False)
    counts = _counts(workspace)
    (batch,) = [b for b in batches if any(t.run_id == second.run_id for t in b.tasks)]
    monkeypatch.undo()
    remap = workspace.stores.tasks.record_tasks(batch)
    assert remap  # the retry reports the same links the first write made
    produced = {o.artifact_id for o in batch.outputs if o.produced}
    assert set(remap) <= produced
    assert set(second.tasks["numbers"].outputs.values()) <= set(remap.values())
    assert _counts(workspace) == counts
    assert workspace.stores.tasks.record_tasks(batches[0]) == {}
    assert _counts(workspace) == counts


def test_a_new_batch_into_a_sealed_run_writes_nothing(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Checked in the batch's own write, so a finish cannot slip in between a check and it."""
    from labledger._foundation.errors import RunStateError
    from labledger._foundation.ids import new_id

    batches = _spy(workspace, "record_tasks", monkeypatch)
    sp.arithmetic.run(workspace=workspace, cache=False)
    monkeypatch.undo()
    counts = _counts(workspace)
    late = dataclasses.replace(
        batches[0],
        tasks=[row._replace(id=new_id(), node=f"late-{row.node}") for row in batches[0].tasks],
        inputs=[],
        outputs=[],
        artifacts=[],
    )
    with pytest.raises(RunStateError, match="has ended"):
        workspace.stores.tasks.record_tasks(late)
    assert _counts(workspace) == counts


def _counts(ws: Workspace) -> dict[str, int]:
    tables = (schema.tasks, schema.task_inputs, schema.task_outputs, schema.artifacts)
    with ws.read() as conn:
        return {
            t.name: conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
            for t in tables
        }


def _runs(ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> tuple[dict[str, Any], list[Any]]:
    """Run pipelines that record ran, cached, linked, failed and skipped tasks; return their
    rows (ids replaced by stable labels) and what cache lookups found."""
    lookups = []
    store = ws.stores.tasks
    real = store.find_cached

    def spy(keys: Any, **kwargs: Any) -> Any:
        found = real(keys, **kwargs)
        lookups.append(
            sorted(
                (key, [(t.logged_digest, sorted(t.outputs)) for t in tasks])
                for key, tasks in found.items()
            )
        )
        return found

    monkeypatch.setattr(store, "find_cached", spy)
    sp.arithmetic.run(workspace=ws)
    sp.arithmetic.run(workspace=ws)
    sp.arithmetic.run(workspace=ws, cache=False)
    with pytest.raises(Exception, match="cannot handle"):
        sp.failing.run(workspace=ws)
    monkeypatch.undo()
    return _labelled(ws), lookups


def _labelled(ws: Workspace) -> dict[str, Any]:
    with ws.read() as conn:
        runs = [
            r.id for r in conn.execute(sa.select(schema.runs).order_by(schema.runs.c.started_at))
        ]
        tasks = conn.execute(sa.select(schema.tasks)).all()
        artifacts = conn.execute(sa.select(schema.artifacts)).all()
        inputs = conn.execute(sa.select(schema.task_inputs)).all()
        outputs = conn.execute(sa.select(schema.task_outputs)).all()
        blobs = conn.execute(sa.select(schema.blobs.c.digest, schema.blobs.c.size)).all()
        documents = conn.execute(
            sa.select(schema.search_documents.c.title, schema.search_documents.c.body).where(
                schema.search_documents.c.target_kind == "artifact"
            )
        ).all()
    label: dict[str | None, str | None] = {None: None}
    label.update({run: f"run{i}" for i, run in enumerate(runs)})
    label.update({t.id: f"{label[t.run_id]}:{t.node}" for t in tasks})
    label.update({a.id: f"{label[a.run_id]}:{a.name}" for a in artifacts})
    timeless = ("started_at", "ended_at", "created_at", "id", "run_id", "project_id", "cached_from")
    return {
        "tasks": sorted(
            (
                label[t.id],
                label[t.cached_from],
                *(v for k, v in t._mapping.items() if k not in timeless),
            )
            for t in tasks
        ),
        "artifacts": sorted(
            (label[a.id], *(v for k, v in a._mapping.items() if k not in timeless))
            for a in artifacts
        ),
        "inputs": sorted((label[i.task_id], i.name, label[i.artifact_id]) for i in inputs),
        "outputs": sorted(
            (label[o.task_id], o.name, label[o.artifact_id], bool(o.produced), o.materializer)
            for o in outputs
        ),
        "blobs": sorted(blobs),
        "documents": sorted(documents),
    }


def test_driver_and_sqlalchemy_paths_write_and_read_the_same_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Workspace.init(tmp_path / "driver") as fast:
        expected, expected_lookups = _runs(fast, monkeypatch)
    monkeypatch.setattr(task_batches, "driver_connection", lambda conn: None)
    monkeypatch.setattr(
        sql_tasks.SqlTaskStore, "_find_cached_sqlite", sql_tasks.SqlTaskStore._find_cached_portable
    )
    with Workspace.init(tmp_path / "portable") as portable:
        rows, lookups = _runs(portable, monkeypatch)
    assert rows["tasks"] == expected["tasks"]
    assert rows == expected
    assert lookups == expected_lookups
    assert any(linked for _, linked, *_ in expected["tasks"])  # a task linked to another's


def test_the_driver_path_is_taken_on_sqlite(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    taken: list[bool] = []
    real = task_batches.driver_connection

    def spy(conn: Any) -> Any:
        driver = real(conn)
        taken.append(driver is not None)
        return driver

    monkeypatch.setattr(task_batches, "driver_connection", spy)
    sp.arithmetic.run(workspace=workspace)
    assert taken
    assert all(taken)


def test_a_frontier_asks_the_blob_store_once(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    from labledger.workspace import presence

    sp.arithmetic.run(workspace=workspace)
    asked: list[list[str]] = []
    real = presence.exists_many

    def spy(store: Any, digests: Any) -> Any:
        asked.append(list(digests))
        return real(store, digests)

    monkeypatch.setattr(presence, "exists_many", spy)
    again = sp.arithmetic.run(workspace=workspace)
    assert again.cached == list(again.tasks)
    # numbers -> (split, total) -> (total of each half, scaled) -> combine; split has two outputs
    assert [len(digests) for digests in asked] == [1, 3, 3, 1]


def test_a_key_whose_newest_result_is_gone_falls_back_to_an_older_one(
    workspace: Workspace,
) -> None:
    from labledger.pipelines.cache import CacheReader

    # A step that reads the clock: each run records other bytes under the same key.
    older = clocked.run(workspace=workspace, cache=False).tasks["now"]
    newer = clocked.run(workspace=workspace, cache=False).tasks["now"]
    other = sp.arithmetic.run(workspace=workspace).tasks["numbers"]
    assert newer.cache_key == older.cache_key
    assert newer.digests["out"] != older.digests["out"]
    workspace.store.delete(newer.digests["out"])
    wanted = {newer.cache_key: (("out",), None), other.cache_key: (("out",), None)}
    with CacheReader(workspace, "another-run") as reader:
        hits = reader.find(wanted)
    assert hits[newer.cache_key].task_id == older.task_id
    assert hits[other.cache_key].task_id == other.task_id
