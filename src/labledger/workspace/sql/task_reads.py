"""The reads of the SQL task store: a run's tasks, outputs and inputs, earlier tasks, seals."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from labledger.stores.tasks import (
    ArtifactMatch,
    EarlierTask,
    InputArtifact,
    RunSeal,
    TaskOutputRef,
    TaskRow,
)
from labledger.workspace import schema
from labledger.workspace.ledger import iter_entries
from labledger.workspace.records import run_record_digest, sealed_format

if TYPE_CHECKING:
    from collections.abc import Collection, Sequence

    from sqlalchemy import Row

    from labledger.workspace.workspace import Workspace

__all__ = ["SEAL_KINDS", "TaskReads"]

SEAL_KINDS = ("run.finished", "run.crashed")
_BATCH = 500
_t, _i, _o, _a, _p = (
    schema.tasks,
    schema.task_inputs,
    schema.task_outputs,
    schema.artifacts,
    schema.pipeline_runs,
)
_r = schema.runs
_FILE_KINDS = ("file", "tree", "reference")
_INPUTS = sa.select(
    _i.c.task_id, _i.c.name, _a.c.id, _a.c.name, _a.c.kind, _a.c.format, _a.c.digest,
    _a.c.schema_json,
).select_from(_i.join(_a, _a.c.id == _i.c.artifact_id))  # fmt: skip


def _task(row: Row[Any]) -> TaskRow:
    m = row._mapping
    return TaskRow(
        id=m["id"],
        run_id=m["run_id"],
        node=m["node"],
        step=m["step"],
        fingerprint=m["fingerprint"],
        cache_key=m["cache_key"],
        status=m["status"],
        cached_from=m["cached_from"],
        attempts=m["attempts"],
        started_at=m["started_at"],
        ended_at=m["ended_at"],
        params_json=m["params_json"],
        options_json=m["options_json"],
        code_captured=bool(m["code_captured"]),
        log_digest=m["log_digest"],
        error=m["error"],
        logged_digest=m["logged_digest"],
    )


def _input(row: Sequence[Any]) -> InputArtifact:
    task_id, name, artifact_id, artifact_name, kind, fmt, digest, schema_json = row
    return InputArtifact(
        str(task_id),
        str(name),
        str(artifact_id),
        str(artifact_name),
        str(kind),
        str(fmt),
        str(digest),
        str(schema_json or "{}"),
    )


class TaskReads:
    """The read methods of ``SqlTaskStore``."""

    def __init__(self, workspace: Workspace) -> None:
        self._workspace = workspace

    def run_tasks(self, run_id: str) -> list[TaskRow]:
        with self._workspace.read() as conn:
            rows = conn.execute(sa.select(_t).where(_t.c.run_id == run_id).order_by(_t.c.id))
            return [_task(row) for row in rows]

    def get_tasks(self, task_ids: Sequence[str]) -> dict[str, TaskRow]:
        ids = sorted(set(task_ids))
        found: dict[str, TaskRow] = {}
        with self._workspace.read() as conn:
            for start in range(0, len(ids), _BATCH):
                query = sa.select(_t).where(_t.c.id.in_(ids[start : start + _BATCH]))
                found.update((row.id, _task(row)) for row in conn.execute(query))
        return found

    def run_outputs(self, run_id: str) -> list[TaskOutputRef]:
        query = (
            sa.select(
                _t.c.id,
                _t.c.node,
                _o.c.name,
                _a.c.id,
                _a.c.name,
                _a.c.digest,
                _o.c.produced,
                _a.c.run_id,
            )
            .select_from(_o.join(_t, _t.c.id == _o.c.task_id).join(_a, _a.c.id == _o.c.artifact_id))
            .where(_t.c.run_id == run_id)
            .order_by(_t.c.started_at, _t.c.node, _o.c.name)
        )
        with self._workspace.read() as conn:
            return [
                TaskOutputRef(
                    task_id, node, name, artifact_id, artifact_name, digest, bool(made), by
                )
                for task_id, node, name, artifact_id, artifact_name, digest, made, by in conn.execute(
                    query
                )
            ]

    def run_file_inputs(
        self, run_id: str, *, projects: Collection[str] | None = None
    ) -> list[InputArtifact]:
        produced = sa.select(_o.c.artifact_id).where(_o.c.artifact_id == _a.c.id).exists()
        query = (
            _INPUTS.join(_t, _t.c.id == _i.c.task_id)
            .where(_t.c.run_id == run_id, _a.c.kind.in_(_FILE_KINDS), ~produced)
            .order_by(_a.c.name, _a.c.id)
        )
        if projects is not None:
            query = query.where(_a.c.project_id.in_(sorted(set(projects))))
        with self._workspace.read() as conn:
            return [_input(row) for row in conn.execute(query)]

    def task_inputs(
        self, task_ids: Sequence[str], *, projects: Collection[str] | None = None
    ) -> list[InputArtifact]:
        ids = sorted(set(task_ids))
        found: list[InputArtifact] = []
        inputs = _INPUTS
        if projects is not None:
            inputs = inputs.where(_a.c.project_id.in_(sorted(set(projects))))
        with self._workspace.read() as conn:
            for start in range(0, len(ids), _BATCH):
                query = inputs.where(_i.c.task_id.in_(ids[start : start + _BATCH]))
                found.extend(_input(row) for row in conn.execute(query))
        return found

    def earlier_tasks(
        self,
        pipeline: str,
        nodes: Sequence[str],
        limit: int,
        *,
        projects: Collection[str] | None = None,
    ) -> list[EarlierTask]:
        query = (
            sa.select(
                _t.c.id,
                _t.c.node,
                _t.c.fingerprint,
                _t.c.params_json,
                _t.c.options_json,
                _p.c.seed,
                _p.c.facts_digest,
            )
            .select_from(_t.join(_p, _p.c.run_id == _t.c.run_id))
            .where(
                _p.c.pipeline == pipeline,
                _t.c.status.in_(("finished", "cached")),
                _t.c.node.in_(list(nodes)),
                _p.c.reproduces.is_(None),
            )
            .order_by(_t.c.ended_at.desc())
            .limit(limit)
        )
        if projects is not None:
            of_projects = sa.select(_r.c.id).where(_r.c.project_id.in_(sorted(set(projects))))
            query = query.where(_t.c.run_id.in_(of_projects))
        with self._workspace.read() as conn:
            return [EarlierTask(*row) for row in conn.execute(query)]

    def find_artifacts(
        self,
        names: Sequence[str],
        digests: Sequence[str],
        *,
        projects: Collection[str] | None = None,
    ) -> list[ArtifactMatch]:
        query = (
            sa.select(_a.c.id, _a.c.name, _a.c.digest, _a.c.kind)
            .where(_a.c.digest.in_(sorted(set(digests))), _a.c.name.in_(sorted(set(names))))
            .order_by(_a.c.created_at)
        )
        if projects is not None:
            query = query.where(_a.c.project_id.in_(sorted(set(projects))))
        with self._workspace.read() as conn:
            return [ArtifactMatch(*row) for row in conn.execute(query)]

    def run_seal(self, run_id: str) -> RunSeal:
        with self._workspace.read() as conn:
            seals = tuple(
                (entry.kind, dict(entry.payload))
                for entry in iter_entries(conn, subject=f"run:{run_id}", kinds=SEAL_KINDS)
            )
            if not seals:
                return RunSeal(seals, None)
            record_format = sealed_format(seals[-1][1])
            return RunSeal(seals, run_record_digest(conn, run_id, record_format=record_format))
