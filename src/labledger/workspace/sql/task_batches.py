"""Writing a flush of task rows: one transaction, duplicates linked, retries harmless.

A batch that breaks the catalog's constraints (a task of a run that does not exist, an edge to an
unknown artifact, a second task of a run under one name) is refused with a ``ConflictError`` and
writes nothing: over a server such a batch is a client's mistake, not the server's failure.

On SQLite the rows go straight to the sqlite3 driver with ``executemany`` (the row tuples are
passed as they are: their fields are the tables' columns in order, checked at import); elsewhere,
and with ``driver_connection`` switched off, through SQLAlchemy. Both write the same rows.
"""

from __future__ import annotations

import sqlite3
import time
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.exc import DataError, IntegrityError

from labledger._foundation.errors import ConflictError, ValidationError
from labledger.stores.tasks import NewArtifact, TaskInput, TaskOutput, TaskRow
from labledger.workspace import schema
from labledger.workspace.search_index import index_new_artifacts
from labledger.workspace.sql.run_rows import require_running
from labledger.workspace.sqlite_driver import driver_connection, insert_sql

if TYPE_CHECKING:
    from collections.abc import Collection, Sequence

    from sqlalchemy import Connection, Table

    from labledger.stores.tasks import TaskBatch
    from labledger.workspace.workspace import Workspace

__all__ = ["record_batch"]

_t, _o, _a, _r = schema.tasks, schema.task_outputs, schema.artifacts, schema.runs
_BATCH = 500


class _DriverInsert:
    """An ``INSERT`` of row tuples, whose fields are the table's columns in order, to the driver
    (``executemany`` takes the tuples as they are) or through SQLAlchemy."""

    def __init__(self, table: Table, row_type: type[tuple[Any, ...]]) -> None:
        columns = tuple(column.name for column in table.columns)
        fields = getattr(row_type, "_fields", ())
        if fields != columns:  # checked at import: a new column needs its field, in order
            raise TypeError(f"{row_type.__name__} fields {fields} are not {table.name}'s {columns}")
        self.table = table
        self.sql = insert_sql(table, columns)

    def run(self, conn: Connection, db: sqlite3.Connection | None, rows: Sequence[Any]) -> None:
        if db is not None:
            db.executemany(self.sql, rows)
        else:
            conn.execute(self.table.insert(), [row._asdict() for row in rows])


# In the order a flush inserts them: every row after the rows it references.
_INSERTS = (
    _DriverInsert(schema.artifacts, NewArtifact),
    _DriverInsert(schema.tasks, TaskRow),
    _DriverInsert(schema.task_inputs, TaskInput),
    _DriverInsert(schema.task_outputs, TaskOutput),
)
_SQLITE_BLOBS = insert_sql(schema.blobs, ["digest", "size", "created_at"], ignore=True)
_RECORDED = (
    sa.select(_t.c.id, _t.c.cache_key, _o.c.name, _o.c.artifact_id, _a.c.digest, _r.c.project_id)
    .select_from(
        _t.join(_o, _o.c.task_id == _t.c.id)
        .join(_a, _a.c.id == _o.c.artifact_id)
        .join(_r, _r.c.id == _t.c.run_id)
    )
    .where(_t.c.status == "finished", _o.c.produced.is_(True))
)


def _does_not_fit() -> ConflictError:
    """The one answer to a batch that does not fit the catalog, whatever the reason: it says
    nothing of what another project holds."""
    return ConflictError(
        "the task batch does not fit what the catalog holds (an unknown run, task or "
        "artifact, or a task or artifact name its run has already)",
        hint="record a pipeline run's tasks through its recorder; nothing of the batch was written",
    )


def record_batch(
    workspace: Workspace, batch: TaskBatch, *, projects: Collection[str] | None = None
) -> dict[str, str]:
    """``TaskStore.record_tasks``: the batch in one transaction; returns the remap.

    Raises:
        ConflictError: The batch breaks the catalog's constraints, names an artifact of a
            project not among ``projects``, or a task id another run has; nothing was written.
        ValidationError: A value does not fit its column; nothing was written.
    """
    if not batch.tasks and not batch.artifacts:
        return {}
    try:
        return _record(workspace, batch, projects)
    except (IntegrityError, sqlite3.IntegrityError) as exc:
        raise _does_not_fit() from exc
    except DataError as exc:
        raise ValidationError(
            "a value of the task batch does not fit its column",
            hint="nothing of the batch was written",
        ) from exc


def _record(
    workspace: Workspace, batch: TaskBatch, projects: Collection[str] | None
) -> dict[str, str]:
    with workspace.write() as conn:
        if projects is not None:
            _require_edges_in(conn, batch, projects)
        if _written(conn, batch):
            return _remap_of(conn, batch)
        # A batch not recorded yet goes only into running runs, checked in this write so that
        # a finish cannot slip in between: a sealed record stays as sealed.
        runs = {row.run_id for row in batch.tasks} | {row.run_id for row in batch.artifacts}
        for run_id in sorted(run for run in runs if run is not None):
            require_running(conn, run_id)
        remap, cached_from = _link_duplicates(conn, batch)
        tasks: list[TaskRow] = list(batch.tasks)
        inputs: list[TaskInput] = list(batch.inputs)
        outputs: list[TaskOutput] = list(batch.outputs)
        artifacts = list(batch.artifacts)
        if remap:
            tasks = [
                row._replace(cached_from=cached_from[row.id]) if row.id in cached_from else row
                for row in tasks
            ]
            inputs = [
                row._replace(artifact_id=remap[row.artifact_id])
                if row.artifact_id in remap
                else row
                for row in inputs
            ]
            outputs = [
                row._replace(artifact_id=remap[row.artifact_id], produced=False)
                if row.artifact_id in remap
                else row
                for row in outputs
            ]
            artifacts = [row for row in artifacts if row.id not in remap]
        _insert(workspace, conn, batch, artifacts, tasks, inputs, outputs)
    return remap


def _insert(
    workspace: Workspace,
    conn: Connection,
    batch: TaskBatch,
    artifacts: list[Any],
    tasks: list[Any],
    inputs: list[Any],
    outputs: list[Any],
) -> None:
    now = time.time()
    # On SQLite straight to the driver: thousands of rows a second, for which SQLAlchemy's
    # per-row parameter handling would cost more than the inserts.
    db = driver_connection(conn)
    if db is not None:
        db.executemany(_SQLITE_BLOBS, [(d, s, now) for d, s in batch.blobs.items()])
    elif batch.blobs:
        blobs = [{"digest": d, "size": s, "created_at": now} for d, s in batch.blobs.items()]
        workspace.insert_ignore(conn, schema.blobs, blobs)
    for insert, rows in zip(_INSERTS, (artifacts, tasks, inputs, outputs), strict=True):
        if rows:
            insert.run(conn, db, rows)
    index_new_artifacts(conn, [artifact._asdict() for artifact in artifacts])


def _require_edges_in(conn: Connection, batch: TaskBatch, projects: Collection[str]) -> None:
    """Refuse a batch whose edges name an artifact (not among its own) of a project outside
    ``projects``, exactly as one naming an artifact that does not exist: one query for the
    batch (in slices of ``_BATCH`` ids)."""
    own = {row.id for row in batch.artifacts}
    edges = {row.artifact_id for row in batch.inputs} | {row.artifact_id for row in batch.outputs}
    named = sorted(edges - own)
    if not named:
        return
    allowed = sorted(set(projects))
    found: set[str] = set()
    for start in range(0, len(named), _BATCH):
        query = sa.select(_a.c.id).where(
            _a.c.id.in_(named[start : start + _BATCH]), _a.c.project_id.in_(allowed)
        )
        found.update(conn.execute(query).scalars())
    if len(found) != len(named):
        raise _does_not_fit()


def _written(conn: Connection, batch: TaskBatch) -> bool:
    """Whether ``batch`` was written already (a retried flush): its rows are all or none there.

    Raises:
        ConflictError: A row of the batch is recorded already, but of another run: the batch
            is not a flush sent again, and its remap would tell of what that run made.
    """
    rows: list[tuple[str, str | None]]
    if batch.tasks:
        table, rows = _t, [(row.id, row.run_id) for row in batch.tasks]
    else:
        table, rows = _a, [(row.id, row.run_id) for row in batch.artifacts]
    first = rows[0][0]
    if conn.execute(sa.select(table.c.id).where(table.c.id == first)).first() is None:
        return False
    ours = dict(rows)
    ids = sorted(ours)
    for start in range(0, len(ids), _BATCH):
        query = sa.select(table.c.id, table.c.run_id).where(
            table.c.id.in_(ids[start : start + _BATCH])
        )
        if any(run_id != ours[row_id] for row_id, run_id in conn.execute(query)):
            raise _does_not_fit()
    return True


def _remap_of(conn: Connection, batch: TaskBatch) -> dict[str, str]:
    """The remap a written ``batch`` got: the artifacts recorded for its outputs instead."""
    ours = {(row.task_id, row.name): row.artifact_id for row in batch.outputs if row.produced}
    if not ours:
        return {}
    remap: dict[str, str] = {}
    task_ids = sorted({task_id for task_id, _ in ours})
    for start in range(0, len(task_ids), _BATCH):
        query = sa.select(_o.c.task_id, _o.c.name, _o.c.artifact_id).where(
            _o.c.task_id.in_(task_ids[start : start + _BATCH])
        )
        for task_id, name, artifact_id in conn.execute(query):
            mine = ours.get((task_id, name))
            if mine is not None and mine != artifact_id:
                remap[mine] = artifact_id
    return remap


def _link_duplicates(conn: Connection, batch: TaskBatch) -> tuple[dict[str, str], dict[str, str]]:
    """Reuse what another run of the same project recorded meanwhile for the cache keys of
    the tasks that ran (never another project's: its ids are not the batch's to learn).

    Returns ``(remap, cached_from)``: our artifact id -> theirs, our task id -> their task.
    """
    produced = {row.cache_key: row for row in batch.tasks if row.status == "finished"}
    if not produced:
        return {}, {}
    run_ids = sorted({row.run_id for row in produced.values()})
    project_of = dict(
        conn.execute(sa.select(_r.c.id, _r.c.project_id).where(_r.c.id.in_(run_ids))).all()
    )
    # (cache key, project) -> (their task id, their outputs by name)
    theirs: dict[tuple[str, str], tuple[str, dict[str, tuple[str, str]]]] = {}
    keys = list(produced)
    projects = sorted({project for project in project_of.values() if project is not None})
    for start in range(0, len(keys), _BATCH):
        query = _RECORDED.where(
            _t.c.cache_key.in_(keys[start : start + _BATCH]), _r.c.project_id.in_(projects)
        )
        for found in conn.execute(query):
            mine = produced[found.cache_key]
            if found.project_id != project_of.get(mine.run_id):
                continue
            outputs = theirs.setdefault((found.cache_key, found.project_id), (found.id, {}))[1]
            outputs[found.name] = (found.artifact_id, found.digest)
    if not theirs:
        return {}, {}
    ours = {produced[key].id: value for (key, _), value in theirs.items()}
    digests = {row.id: row.digest for row in batch.artifacts}
    remap: dict[str, str] = {}
    cached_from: dict[str, str] = {}
    for row in batch.outputs:
        if row.task_id in ours and row.produced:
            other = ours[row.task_id][1].get(row.name)
            # Only equal bytes are the same result: a step that is not deterministic keeps its
            # own artifact.
            if other is not None and other[1] == digests.get(row.artifact_id):
                remap[row.artifact_id] = other[0]
                cached_from[row.task_id] = ours[row.task_id][0]
    return remap, cached_from
