"""A cache hit needs evidence: a seal that covers the task and its outputs, and intact bytes."""

from __future__ import annotations

import os
import time
import uuid
from typing import TYPE_CHECKING, Any

import pytest
import sqlalchemy as sa

from labledger.pipelines import CorruptCacheWarning, UnsealedCacheWarning
from labledger.pipelines.cache import CacheReader
from labledger.workspace import schema
from labledger.workspace.recovery import mark_crashed_runs
from labledger.workspace.workspace import Workspace
from tests.unit.pipelines import sample_pipelines as sp

if TYPE_CHECKING:
    from pathlib import Path

    from labledger.pipelines import PipelineRun


def _row(conn: sa.Connection, table: sa.Table, **where: Any) -> dict[str, Any]:
    query = sa.select(table).where(*(table.c[name] == value for name, value in where.items()))
    return dict(conn.execute(query).one()._mapping)


def _forge_task(ws: Workspace, *, copy_of: str, into_run: str, forged: bytes) -> str:
    """Add a ``finished`` task to ``into_run`` with the cache key of task ``copy_of``, whose
    output is an artifact of ``forged`` bytes: rows written straight into the catalog."""
    digest = ws.store.put(forged)
    task_id, artifact_id = str(uuid.uuid4()), str(uuid.uuid4())
    with ws.write() as conn:
        ws.register_blob(conn, digest, len(forged))
        task = _row(conn, schema.tasks, id=copy_of)
        output = _row(conn, schema.task_outputs, task_id=copy_of)
        artifact = _row(conn, schema.artifacts, id=output["artifact_id"])
        conn.execute(
            schema.artifacts.insert(),
            {
                **artifact,
                "id": artifact_id,
                "name": f"forged-{artifact_id}",
                "digest": digest,
                "size": len(forged),
                "run_id": into_run,
            },
        )
        conn.execute(
            schema.tasks.insert(),
            {
                **task,
                "id": task_id,
                "run_id": into_run,
                "node": f"forged-{task_id}",
                "status": "finished",
                "cached_from": None,
                "ended_at": time.time() + 60,  # the newest candidate for its key
            },
        )
        conn.execute(
            schema.task_outputs.insert(),
            {**output, "task_id": task_id, "artifact_id": artifact_id, "produced": True},
        )
    return task_id


def _cached_from(ws: Workspace, result: PipelineRun, node: str) -> str | None:
    with ws.read() as conn:
        return conn.execute(
            sa.select(schema.tasks.c.cached_from).where(
                schema.tasks.c.id == result.tasks[node].task_id
            )
        ).scalar_one()


def test_a_task_added_to_a_sealed_run_after_its_seal_is_not_a_hit(workspace: Workspace) -> None:
    first = sp.arithmetic.run(workspace=workspace)
    _forge_task(
        workspace, copy_of=first.tasks["total"].task_id, into_run=first.run_id, forged=b"999"
    )
    with pytest.warns(UnsealedCacheWarning, match=f"run {first.run_id}.*labledger verify"):
        again = sp.arithmetic.run(workspace=workspace)
    # The seal no longer covers the run: none of its tasks answers, the forged one least of all.
    assert sorted(again.executed) == sorted(again.tasks)
    assert again.load("total") == 10


def test_a_forged_record_digest_on_a_run_never_sealed_is_not_a_hit(workspace: Workspace) -> None:
    first = sp.arithmetic.run(workspace=workspace)
    # A second run whose rows were written around labledger: it ended without a seal in the
    # ledger, but its catalog row claims one (the real run's digest, copied).
    forged_run = str(uuid.uuid4())
    with workspace.write() as conn:
        run = _row(conn, schema.runs, id=first.run_id)
        conn.execute(schema.runs.insert(), {**run, "id": forged_run, "status": "crashed"})
        pipeline_row = _row(conn, schema.pipeline_runs, run_id=first.run_id)
        conn.execute(schema.pipeline_runs.insert(), {**pipeline_row, "run_id": forged_run})
    _forge_task(workspace, copy_of=first.tasks["total"].task_id, into_run=forged_run, forged=b"999")
    with pytest.warns(UnsealedCacheWarning, match=forged_run):
        again = sp.arithmetic.run(workspace=workspace)
    # The forged task is skipped; the next candidate with the same key, the real one, answers.
    assert again.executed == []
    assert again.load("total") == 10
    assert _cached_from(workspace, again, "total") == first.tasks["total"].task_id


def test_a_sealed_run_whose_params_were_edited_answers_nothing(workspace: Workspace) -> None:
    first = sp.arithmetic.run(workspace=workspace)
    with workspace.write() as conn:
        conn.execute(
            sa.update(schema.params)
            .where(schema.params.c.run_id == first.run_id, schema.params.c.key == "factor")
            .values(value="4")
        )
    with pytest.warns(UnsealedCacheWarning, match=first.run_id) as caught:
        again = sp.arithmetic.run(workspace=workspace)
    assert len([w for w in caught if w.category is UnsealedCacheWarning]) == 1  # once per run
    assert sorted(again.executed) == sorted(again.tasks)
    assert sp.arithmetic.run(workspace=workspace).executed == []  # the new run is sealed


def test_a_corrupt_result_is_recomputed_when_reads_are_verified(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LABLEDGER_VERIFY_ON_READ", "1")
    with Workspace.init(tmp_path) as workspace:
        first = sp.arithmetic.run(workspace=workspace)
        digest = first.tasks["scaled"].digests["out"]
        path = workspace.store.path_of(digest)  # type: ignore[attr-defined]
        os.chmod(path, 0o644)
        path.write_bytes(b"999")
        with pytest.warns(CorruptCacheWarning, match=digest):
            again = sp.arithmetic.run(workspace=workspace)
        assert again.executed == ["scaled"]
        # The bad bytes were dropped, so the recomputed result is stored, and reads back, intact.
        assert again.load("scaled") == 60
        assert sp.arithmetic.run(workspace=workspace).executed == []


def test_sealed_runs_answer_across_readers_and_are_judged_once(workspace: Workspace) -> None:
    first = sp.arithmetic.run(workspace=workspace)
    again = sp.arithmetic.run(workspace=workspace)
    assert again.executed == []
    key = first.tasks["total"].cache_key
    with CacheReader(workspace, "another-run") as reader:
        assert reader.lookup(key, outputs=("out",)) is not None
        # The verdict is kept: edits after it do not cost another re-derivation in this reader.
        with workspace.write() as conn:
            conn.execute(sa.delete(schema.params).where(schema.params.c.run_id == first.run_id))
        assert reader.lookup(key, outputs=("out",)) is not None
    with CacheReader(workspace, "another-run") as reader, pytest.warns(UnsealedCacheWarning):
        assert reader.lookup(key, outputs=("out",)) is None


def test_a_run_crashed_mid_way_is_resumed_from_its_seal(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    from labledger.tracking.run import ActiveRun

    def die(*_: object) -> None:
        raise SystemExit("the process died before sealing the run")

    with monkeypatch.context() as patch:
        patch.setattr(ActiveRun, "_seal", die)
        with pytest.raises(SystemExit):
            sp.arithmetic.run(workspace=workspace)
    with workspace.write() as conn:
        run_id = conn.execute(
            sa.select(schema.runs.c.id).where(schema.runs.c.status == "running")
        ).scalar_one()
        # As if its process were gone: it is marked crashed, and sealed as it stood.
        conn.execute(sa.update(schema.runs).where(schema.runs.c.id == run_id).values(pid=2**22 + 1))
    assert mark_crashed_runs(workspace) == [run_id]
    resumed = sp.arithmetic.run(workspace=workspace)
    assert resumed.executed == []
    assert resumed.load("combine") == 10


def test_a_pipeline_rerun_seals_a_crashed_run_itself_and_resumes(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    from labledger.tracking.run import ActiveRun

    def die(*_: object) -> None:
        raise SystemExit("the process died before sealing the run")

    with monkeypatch.context() as patch:
        patch.setattr(ActiveRun, "_seal", die)
        with pytest.raises(SystemExit):
            sp.arithmetic.run(workspace=workspace)
    with workspace.write() as conn:
        run_id = conn.execute(
            sa.select(schema.runs.c.id).where(schema.runs.c.status == "running")
        ).scalar_one()
        conn.execute(sa.update(schema.runs).where(schema.runs.c.id == run_id).values(pid=2**22 + 1))
    # No reap in between: the pipeline run seals the dead run before it looks in the cache,
    # even though this workspace object started a run a moment ago.
    resumed = sp.arithmetic.run(workspace=workspace)
    assert resumed.executed == []
    assert resumed.load("combine") == 10
    with workspace.read() as conn:
        status = conn.execute(
            sa.select(schema.runs.c.status).where(schema.runs.c.id == run_id)
        ).scalar_one()
    assert status == "crashed"


def test_linked_duplicate_outputs_of_a_sealed_run_are_hits(workspace: Workspace) -> None:
    first = sp.arithmetic.run(workspace=workspace)
    recomputed = sp.arithmetic.run(workspace=workspace, cache=False)
    # Equal bytes under the same key: the recomputed tasks link the first run's artifacts.
    assert recomputed.tasks["total"].outputs == first.tasks["total"].outputs
    again = sp.arithmetic.run(workspace=workspace)
    assert again.executed == []
    assert _cached_from(workspace, again, "total") == recomputed.tasks["total"].task_id
