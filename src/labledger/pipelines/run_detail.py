"""Everything about one run in one read: the run, its tasks and outputs, logs, metadata, collections.

What ``labledger runs show`` prints. For a pipeline run the outputs are every artifact its tasks
returned, those reused from the cache included (``produced`` is false for those).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import sqlalchemy as sa

from labledger.pipelines.replay_inputs import RecordedInput, recorded_inputs
from labledger.tracking.query import get_run
from labledger.workspace import schema
from labledger.workspace.current import get_workspace

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from labledger.tracking.types import Run
    from labledger.workspace.workspace import Workspace

__all__ = ["MetadataEntry", "RunDetail", "RunOutput", "TaskSummary", "describe_run"]

# How a stored task status reads to a person: a finished task is one that ran.
_TASK_STATUS = {"finished": "ran", "cached": "cached", "failed": "failed", "skipped": "skipped"}


@dataclass(frozen=True, slots=True)
class TaskSummary:
    """One task of a pipeline run.

    Attributes:
        node: Its name in the run's graph (``train``, or ``train_2`` for a second call).
        step: The step it ran, as ``module:function``.
        status: ``ran``, ``cached``, ``failed``, ``skipped`` (or the stored status, e.g. running).
        duration_s: Seconds it ran; ``None`` when it did not run or has not ended.
        has_log: Whether its printed output was captured.
        cached_from: For a cached task, the task whose outputs it reused.
    """

    node: str
    step: str
    status: str
    duration_s: float | None
    has_log: bool
    cached_from: str | None = None


@dataclass(frozen=True, slots=True)
class RunOutput:
    """An artifact a run's task returned.

    Attributes:
        node: The task that returned it.
        name: The output's name on that task (``out`` for a single return value).
        artifact_id: The artifact.
        artifact_name: Its name.
        produced: ``True`` when this run made it, ``False`` when reused from the cache.
        made_by_run: The run that made it.
    """

    node: str
    name: str
    artifact_id: str
    artifact_name: str
    produced: bool
    made_by_run: str | None


@dataclass(frozen=True, slots=True)
class MetadataEntry:
    """One metadata value of the run, with its field's unit (``None`` when it has none)."""

    field: str
    value: float | str | None
    unit: str | None


@dataclass(frozen=True, slots=True)
class RunDetail:
    """One run and what belongs to it."""

    run: Run
    tasks: tuple[TaskSummary, ...]
    outputs: tuple[RunOutput, ...]
    metadata: tuple[MetadataEntry, ...]
    collections: tuple[str, ...]
    inputs: tuple[RecordedInput, ...] = ()  # the files and folders its steps read

    @property
    def has_logs(self) -> bool:
        """Whether any task's output was captured."""
        return any(task.has_log for task in self.tasks)


def _tasks(conn: Connection, run_id: str) -> tuple[TaskSummary, ...]:
    t = schema.tasks
    rows = conn.execute(
        # In the order they ran (a cached task: when it was answered), as `labledger run` shows.
        sa.select(t)
        .where(t.c.run_id == run_id)
        .order_by(sa.func.coalesce(t.c.started_at, t.c.ended_at), t.c.node)
    ).all()
    return tuple(
        TaskSummary(
            node=row.node,
            step=row.step,
            status=_TASK_STATUS.get(row.status, row.status),
            duration_s=row.ended_at - row.started_at
            if row.status != "cached" and row.started_at is not None and row.ended_at is not None
            else None,
            has_log=row.log_digest is not None,
            cached_from=row.cached_from,
        )
        for row in rows
    )


def _outputs(conn: Connection, run_id: str) -> tuple[RunOutput, ...]:
    t, o, a = schema.tasks, schema.task_outputs, schema.artifacts
    query = (
        sa.select(
            t.c.node, o.c.name, o.c.produced, a.c.id, a.c.name.label("artifact_name"), a.c.run_id
        )
        .select_from(o.join(t, t.c.id == o.c.task_id).join(a, a.c.id == o.c.artifact_id))
        .where(t.c.run_id == run_id)
        .order_by(t.c.started_at, t.c.node, o.c.name)
    )
    return tuple(
        RunOutput(row.node, row.name, row.id, row.artifact_name, bool(row.produced), row.run_id)
        for row in conn.execute(query)
    )


def _metadata(conn: Connection, run_id: str) -> tuple[MetadataEntry, ...]:
    v, f = schema.metadata_values, schema.metadata_fields
    query = (
        sa.select(f.c.name, f.c.type, f.c.unit, v.c.value_num, v.c.value_text)
        .select_from(v.join(f, v.c.field_id == f.c.id))
        .where(v.c.target_kind == "run", v.c.target_id == run_id)
        .order_by(f.c.name)
    )
    return tuple(
        MetadataEntry(
            row.name, row.value_num if row.type == "number" else row.value_text, row.unit or None
        )
        for row in conn.execute(query)
    )


def _collections(conn: Connection, run_id: str) -> tuple[str, ...]:
    c, m = schema.collections, schema.collection_members
    query = (
        sa.select(c.c.name)
        .select_from(m.join(c, c.c.id == m.c.collection_id))
        .where(m.c.member_kind == "run", m.c.member_id == run_id)
        .order_by(c.c.name)
    )
    return tuple(conn.execute(query).scalars())


def describe_run(run_id: str, *, workspace: Workspace | None = None) -> RunDetail:
    """A run with its tasks, every output (reused ones too), the files its steps read,
    metadata and collections.

    Args:
        run_id: A run id or a unique prefix of it.
        workspace: Defaults to the current workspace.

    Raises:
        NotFoundError: No run has that id.
        ValidationError: The prefix matches several runs.
    """
    ws = workspace or get_workspace()
    run = get_run(run_id, workspace=ws)
    with ws.read() as conn:
        detail = RunDetail(
            run=run,
            tasks=_tasks(conn, run.id),
            outputs=_outputs(conn, run.id),
            metadata=_metadata(conn, run.id),
            collections=_collections(conn, run.id),
        )
    if not detail.tasks:
        return detail
    return replace(detail, inputs=tuple(recorded_inputs(ws, run.id)))
