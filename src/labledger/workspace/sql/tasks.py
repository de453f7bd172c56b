"""The SQL task store: pipeline runs, task rows in batches, cache lookups by key.

On SQLite the two hot paths go to the sqlite3 driver: cache lookups run on one autocommit driver
connection kept between calls (a lookup is a single indexed query; a pool checkout and a
transaction around it would cost more), and a flush of task rows is written with ``executemany``
(``task_batches``). Both statements are built from ``schema`` (the lookup is the portable query,
compiled once for SQLite), so the two paths cannot drift apart.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import time
from typing import TYPE_CHECKING, Any, cast

import sqlalchemy as sa
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.exc import DataError, IntegrityError

from labledger._foundation.errors import ConflictError, NotFoundError, ValidationError
from labledger.stores.tasks import (
    CACHE_INDEX_LIMIT,
    CachedOutput,
    CachedTask,
    CacheIndex,
    PipelineRunRecord,
)
from labledger.workspace import schema
from labledger.workspace.sql.task_batches import record_batch
from labledger.workspace.sql.task_reads import TaskReads

if TYPE_CHECKING:
    from collections.abc import Collection, Iterable, Iterator, Sequence

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
_BY_FINGERPRINT = _LOOKUP.where(_t.c.fingerprint == sa.bindparam("fingerprint"))
_INDEX_ROWS = 20_000  # rows one cache_index call returns at most, over all its fingerprints


@contextlib.contextmanager
def _unknown_references(what: str) -> Iterator[None]:
    """Refuse a write whose rows name runs or artifacts the catalog does not hold (its foreign
    keys), as a ``NotFoundError``, and one whose value does not fit its column (a seed past a
    PostgreSQL integer) as a ``ValidationError``, rather than the driver's error."""
    try:
        yield
    except (IntegrityError, sqlite3.IntegrityError) as exc:
        raise NotFoundError(
            f"{what} names a run or artifact that does not exist",
            hint="check the ids; nothing was written",
        ) from exc
    except DataError as exc:
        raise ValidationError(
            f"a value of {what} does not fit the catalog", hint="nothing was written"
        ) from exc


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
        with _unknown_references(f"the pipeline record of run {record.run_id}"), ws.write() as conn:
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

    def cache_index(
        self,
        fingerprints: Sequence[str],
        *,
        run_id: str | None = None,
        limit: int = CACHE_INDEX_LIMIT,
        projects: Sequence[str] | None = None,
    ) -> CacheIndex:
        statement = _BY_FINGERPRINT
        if projects is not None:
            statement = statement.where(_r.c.project_id.in_(list(projects)))
        rows: list[tuple[Any, ...]] = []
        truncated: list[str] = []
        left = _INDEX_ROWS
        with self._workspace.read() as conn:
            for fingerprint in dict.fromkeys(fingerprints):
                cap = max(0, min(limit, left))
                found = conn.execute(
                    statement.limit(cap + 1), {"fingerprint": fingerprint, "run_id": run_id or ""}
                ).all()
                if len(found) > cap:
                    truncated.append(fingerprint)
                    continue
                rows.extend(tuple(row) for row in found)
                left -= len(found)
        return CacheIndex(_cached_tasks(rows), tuple(truncated))

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
        try:
            held: tuple[int, Any, sqlite3.Connection] | None = self._idle.pop()
        except IndexError:  # none kept, or another thread has it
            held = None
        if held is None or held[0] != os.getpid():  # a forked child opens its own
            held = self._new_reader()
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

    def _new_reader(self) -> tuple[int, Any, sqlite3.Connection]:
        """``(pid, pooled connection, its sqlite3 connection)``, in autocommit mode: each query
        sees every commit made so far."""
        raw = self._workspace.catalog.reader.raw_connection()
        return (os.getpid(), raw, cast("sqlite3.Connection", raw.driver_connection))

    def close(self) -> None:
        """Return the connection kept for lookups to its pool."""
        while self._idle:
            pid, raw, _ = self._idle.pop()
            if pid == os.getpid():
                raw.close()

    # -- recording ---------------------------------------------------------------------------

    def record_tasks(
        self, batch: TaskBatch, *, projects: Collection[str] | None = None
    ) -> dict[str, str]:
        return record_batch(self._workspace, batch, projects=projects)

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
        with _unknown_references(f"the reproduction of run {run_id}"), ws.write() as conn:
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
