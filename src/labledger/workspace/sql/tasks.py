"""The SQL task store: pipeline runs, task rows in batches, cache lookups by key.

On SQLite the two hot paths go to the sqlite3 driver: cache lookups run on one autocommit driver
connection kept between calls (a lookup is a single indexed query; a pool checkout and a
transaction around it would cost more), and a flush of task rows is written with ``executemany``.
Both statements are built from ``schema`` (the lookup is the portable query, compiled once for
SQLite), so the two paths cannot drift apart.
"""

from __future__ import annotations

import json
import os
import time
from typing import TYPE_CHECKING, Any, cast

import sqlalchemy as sa
from sqlalchemy.dialects import sqlite as sqlite_dialect

from labledger._foundation.errors import ConflictError, NotFoundError
from labledger.stores.tasks import (
    CachedOutput,
    CachedTask,
    NewArtifact,
    PipelineRunRecord,
    TaskInput,
    TaskOutput,
    TaskRow,
)
from labledger.workspace import schema
from labledger.workspace.search_index import index_new_artifacts
from labledger.workspace.sql.task_reads import TaskReads
from labledger.workspace.sqlite_driver import driver_connection, insert_sql

if TYPE_CHECKING:
    import sqlite3
    from collections.abc import Iterable, Sequence

    from sqlalchemy import Connection, Table

    from labledger.stores.tasks import OutputCheck, TaskBatch
    from labledger.workspace.workspace import Workspace

__all__ = ["SqlTaskStore"]

_t, _o, _a, _p = schema.tasks, schema.task_outputs, schema.artifacts, schema.pipeline_runs
_r = schema.runs
_LOOKUP = (
    sa.select(
        _t.c.cache_key,
        _t.c.id,
        _t.c.ended_at,
        _t.c.run_id,
        _t.c.logged_digest,
        _r.c.record_digest,
        _o.c.name,
        _o.c.materializer,
        _a.c.id.label("artifact_id"),
        _a.c.digest,
        _a.c.size,
        _a.c.kind,
        _a.c.format,
        _a.c.schema_json,
    )
    .select_from(
        # Every output of a task that ran, its own or (computed at the same time by another run)
        # the equal one it was linked to: its sealed run vouches for either.
        _t.join(_o, _o.c.task_id == _t.c.id)
        .join(_a, _a.c.id == _o.c.artifact_id)
        .join(_p, _p.c.run_id == _t.c.run_id)
        .join(_r, _r.c.id == _t.c.run_id)
    )
    .where(
        _t.c.status == "finished",
        # A reproduction checks a run; what it computed is evidence, never a cache entry.
        _p.c.reproduces.is_(None),
        # Only what a sealed run vouches for (or the asking run itself): a task row written into
        # a run that never sealed proves nothing.
        sa.or_(_r.c.record_digest.is_not(None), _t.c.run_id == sa.bindparam("run_id")),
    )
    .order_by(_t.c.ended_at.desc())
)
_ONE_KEY = _LOOKUP.where(_t.c.cache_key == sa.bindparam("key"))
_MANY_KEYS = _LOOKUP.where(_t.c.cache_key.in_(sa.bindparam("keys", expanding=True)))
_KEY_BATCH = 500


class _Compiled:
    """A statement compiled once for the sqlite3 driver, with its parameters in order.

    Every parameter but the ``given`` ones is a constant of the statement (``status =
    'finished'``); ``params`` fills the given ones in at their places.
    """

    def __init__(self, statement: sa.Select[Any], given: tuple[str, ...]) -> None:
        compiled = statement.compile(dialect=sqlite_dialect.dialect())
        self.sql = compiled.string
        names = tuple(compiled.positiontup or ())
        fixed = dict(compiled.params)
        if set(given) - set(names) or set(names) - set(given) - set(fixed):
            raise TypeError(f"the statement's parameters are {names}, not {given} and constants")
        self._template = [None if name in given else fixed[name] for name in names]
        self._places = [[i for i, name in enumerate(names) if name == g] for g in given]

    def params(self, *values: Any) -> list[Any]:
        """The statement's parameters with ``values`` for the given ones, in their order."""
        filled = self._template.copy()
        for places, value in zip(self._places, values, strict=True):
            for place in places:
                filled[place] = value
        return filled


_SQLITE_ONE_KEY = _Compiled(_ONE_KEY, ("key", "run_id"))


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
    sa.select(_t.c.id, _t.c.cache_key, _o.c.name, _o.c.artifact_id, _a.c.digest)
    .select_from(_t.join(_o, _o.c.task_id == _t.c.id).join(_a, _a.c.id == _o.c.artifact_id))
    .where(_t.c.status == "finished", _o.c.produced.is_(True))
)


class SqlTaskStore(TaskReads):
    """``TaskStore`` over a workspace's catalog."""

    def __init__(self, workspace: Workspace) -> None:
        super().__init__(workspace)
        # (pid, pooled connection, its sqlite3 connection), kept between lookups
        self._idle: list[tuple[int, Any, sqlite3.Connection]] = []
        self._sqlite = workspace.catalog.dialect == "sqlite"

    # -- pipeline runs -----------------------------------------------------------------------

    def create_pipeline_run(
        self, record: PipelineRunRecord, *, blobs: Sequence[tuple[str, int]] = ()
    ) -> None:
        ws = self._workspace
        with ws.write() as conn:
            if conn.execute(sa.select(_p.c.run_id).where(_p.c.run_id == record.run_id)).first():
                raise ConflictError(
                    f"run {record.run_id} already has a pipeline record",
                    hint="each pipeline run is recorded once, when it starts",
                )
            for digest, size in blobs:
                ws.register_blob(conn, digest, size)
            conn.execute(
                _p.insert(),
                {
                    "run_id": record.run_id,
                    "pipeline": record.pipeline,
                    "code_digest": record.code_digest,
                    "lock_digest": record.lock_digest,
                    "seed": record.seed,
                    "params_json": record.params_json,
                    "reproduces": record.reproduces,
                    "facts_digest": record.facts_digest,
                    "replay_error": record.replay_error,
                },
            )

    def set_key_facts(self, run_id: str, digest: str, size: int) -> None:
        ws = self._workspace
        with ws.write() as conn:
            updated = conn.execute(
                _p.update().where(_p.c.run_id == run_id).values(facts_digest=digest)
            )
            if not updated.rowcount:
                raise NotFoundError(f"run {run_id} is not a pipeline run")
            ws.register_blob(conn, digest, size)

    def pipeline_run(self, run_id: str) -> PipelineRunRecord | None:
        with self._workspace.read() as conn:
            row = conn.execute(sa.select(_p).where(_p.c.run_id == run_id)).first()
        if row is None:
            return None
        return PipelineRunRecord(
            run_id=row.run_id,
            pipeline=row.pipeline,
            code_digest=row.code_digest,
            lock_digest=row.lock_digest,
            seed=row.seed,
            params_json=row.params_json,
            reproduces=row.reproduces,
            facts_digest=row.facts_digest,
            replay_error=row.replay_error,
        )

    # -- the cache ---------------------------------------------------------------------------

    def find_cached(
        self, keys: Sequence[str], *, run_id: str | None = None
    ) -> dict[str, list[CachedTask]]:
        if not keys:
            return {}
        if self._sqlite:
            return self._find_cached_sqlite(keys, run_id or "")
        return self._find_cached_portable(keys, run_id or "")

    def _find_cached_portable(
        self, keys: Sequence[str], asking: str
    ) -> dict[str, list[CachedTask]]:
        rows: list[Any] = []
        unique = list(dict.fromkeys(keys))
        with self._workspace.read() as conn:
            for start in range(0, len(unique), _KEY_BATCH):
                chunk = unique[start : start + _KEY_BATCH]
                rows.extend(conn.execute(_MANY_KEYS, {"keys": chunk, "run_id": asking}))
        return _cached_tasks(tuple(row) for row in rows)

    def _find_cached_sqlite(self, keys: Sequence[str], asking: str) -> dict[str, list[CachedTask]]:
        held = self._take_reader()
        rows: list[tuple[Any, ...]] = []
        try:
            execute, sql, params = held[2].execute, _SQLITE_ONE_KEY.sql, _SQLITE_ONE_KEY.params
            for key in keys if len(keys) == 1 else dict.fromkeys(keys):
                rows.extend(execute(sql, params(key, asking)).fetchall())
        except BaseException:
            held[1].close()
            raise
        if self._idle:
            held[1].close()  # another thread's is kept already
        else:
            self._idle.append(held)
        return _cached_tasks(rows)

    def _take_reader(self) -> tuple[int, Any, sqlite3.Connection]:
        """``(pid, pooled connection, its sqlite3 connection)``, in autocommit mode: each query
        sees every commit made so far."""
        pid = os.getpid()
        while self._idle:
            try:
                held = self._idle.pop()
            except IndexError:  # another thread took it
                break
            if held[0] == pid:  # a forked child must not use its parent's connection
                return held
        raw = self._workspace.catalog.reader.raw_connection()
        return (pid, raw, cast("sqlite3.Connection", raw.driver_connection))

    def close(self) -> None:
        """Return the connection kept for lookups to its pool."""
        while self._idle:
            pid, raw, _ = self._idle.pop()
            if pid == os.getpid():
                raw.close()

    # -- recording ---------------------------------------------------------------------------

    def record_tasks(self, batch: TaskBatch) -> dict[str, str]:
        if not batch.tasks and not batch.artifacts:
            return {}
        with self._workspace.write() as conn:
            if _written(conn, batch):
                return _remap_of(conn, batch)
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
            self._insert(conn, batch, artifacts, tasks, inputs, outputs)
        return remap

    def _insert(
        self,
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
            self._workspace.insert_ignore(conn, schema.blobs, blobs)
        for insert, rows in zip(_INSERTS, (artifacts, tasks, inputs, outputs), strict=True):
            if rows:
                insert.run(conn, db, rows)
        index_new_artifacts(
            conn,
            [
                {"id": a.id, "name": a.name, "kind": a.kind, "format": a.format}
                | {"schema_json": a.schema_json}
                for a in artifacts
            ],
        )

    # -- reproductions -----------------------------------------------------------------------

    def record_verifications(
        self, run_id: str, rerun_id: str, checks: Sequence[OutputCheck]
    ) -> None:
        ws = self._workspace
        now = time.time()
        rows = {
            check.artifact_id: {
                "artifact_id": check.artifact_id,
                "run_id": rerun_id,
                "digest": check.actual or "",
                "matched": check.matched,
                "checked_at": now,
            }
            for check in checks
            if check.actual is not None
        }
        with ws.write() as conn:
            if rows:
                conn.execute(schema.verifications.insert(), list(rows.values()))
            ws.record(
                conn,
                "run.reproduced",
                f"run:{run_id}",
                {
                    "run_id": run_id,
                    "rerun_id": rerun_id,
                    "matched": sorted(c.artifact_id for c in checks if c.matched),
                    "mismatched": sorted(c.artifact_id for c in checks if not c.matched),
                },
            )


def _cached_tasks(rows: Iterable[tuple[Any, ...]]) -> dict[str, list[CachedTask]]:
    """Lookup rows (newest task first) grouped into tasks by key, in that order."""
    found: dict[str, list[CachedTask]] = {}
    tasks: dict[str, CachedTask] = {}
    for (
        key,
        task_id,
        ended_at,
        run_id,
        logged_digest,
        record_digest,
        name,
        materializer,
        artifact_id,
        digest,
        size,
        kind,
        fmt,
        schema_json,
    ) in rows:
        task = tasks.get(task_id)
        if task is None:
            task = tasks[task_id] = CachedTask(
                task_id, run_id, ended_at, logged_digest, record_digest, {}
            )
            found.setdefault(key, []).append(task)
        task.outputs[name] = CachedOutput(
            artifact_id, digest, size, kind, fmt, materializer, json.loads(schema_json)
        )
    return found


def _written(conn: Connection, batch: TaskBatch) -> bool:
    """Whether ``batch`` was written already (a retried flush): its rows are all or none there."""
    if batch.tasks:
        table, first = _t, batch.tasks[0].id
    else:
        table, first = _a, batch.artifacts[0].id
    return conn.execute(sa.select(table.c.id).where(table.c.id == first)).first() is not None


def _remap_of(conn: Connection, batch: TaskBatch) -> dict[str, str]:
    """The remap a written ``batch`` got: the artifacts recorded for its outputs instead."""
    ours = {(row.task_id, row.name): row.artifact_id for row in batch.outputs if row.produced}
    if not ours:
        return {}
    remap: dict[str, str] = {}
    task_ids = sorted({task_id for task_id, _ in ours})
    for start in range(0, len(task_ids), _KEY_BATCH):
        query = sa.select(_o.c.task_id, _o.c.name, _o.c.artifact_id).where(
            _o.c.task_id.in_(task_ids[start : start + _KEY_BATCH])
        )
        for task_id, name, artifact_id in conn.execute(query):
            mine = ours.get((task_id, name))
            if mine is not None and mine != artifact_id:
                remap[mine] = artifact_id
    return remap


def _link_duplicates(conn: Connection, batch: TaskBatch) -> tuple[dict[str, str], dict[str, str]]:
    """Reuse what another run recorded meanwhile for the cache keys of the tasks that ran.

    Returns ``(remap, cached_from)``: our artifact id -> theirs, our task id -> their task.
    """
    produced = {row.cache_key: row.id for row in batch.tasks if row.status == "finished"}
    if not produced:
        return {}, {}
    theirs: dict[str, tuple[str, dict[str, tuple[str, str]]]] = {}
    keys = list(produced)
    for start in range(0, len(keys), _KEY_BATCH):
        query = _RECORDED.where(_t.c.cache_key.in_(keys[start : start + _KEY_BATCH]))
        for found in conn.execute(query):
            outputs = theirs.setdefault(found.cache_key, (found.id, {}))[1]
            outputs[found.name] = (found.artifact_id, found.digest)
    if not theirs:
        return {}, {}
    ours = {produced[key]: value for key, value in theirs.items()}
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
