"""The catalog rows of a run: written when it starts, as it logs, and when it is sealed.

Each function writes inside the caller's transaction. On SQLite the statements go to the driver (see
``labledger.workspace.sqlite_driver``): a run's start and end are a dozen statements, and through
SQLAlchemy's execution path each would cost more than SQLite takes to run it. PostgreSQL gets the
same rows through SQLAlchemy.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, update

from labledger._foundation.errors import RunStateError
from labledger.workspace import schema
from labledger.workspace.sqlite_driver import (
    driver_connection,
    insert_sql,
    update_sql,
    upsert_sql,
)

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from sqlalchemy import Connection

    from labledger.tracking.metric_buffer import MetricRow

__all__ = [
    "RUN_COLUMNS",
    "ParamRow",
    "TagRow",
    "finish_run",
    "insert_metrics",
    "insert_params",
    "insert_run",
    "touch_heartbeat",
    "upsert_latest_metrics",
]

RUN_COLUMNS = (
    "id",
    "project_id",
    "name",
    "kind",
    "status",
    "user",
    "host",
    "pid",
    "started_at",
    "ended_at",
    "heartbeat_at",
    "environment_digest",
    "git_commit",
    "git_dirty",
)
_PARAM_COLUMNS = ("run_id", "key", "value", "value_num")
_TAG_COLUMNS = ("run_id", "key", "value")
_METRIC_COLUMNS = ("run_id", "key", "value", "step", "timestamp")
_FINISH_COLUMNS = ("status", "ended_at", "heartbeat_at", "error", "record_digest")
# (run_id, key, value as text, value as a number when it reads as one)
ParamRow = tuple[str, str, str, float | None]
# (run_id, key, value)
TagRow = tuple[str, str, str]

# Built once: on the hot path, building a statement costs more than running it.
_INSERT_RUN = schema.runs.insert()
_INSERT_PARAMS = schema.params.insert()
_INSERT_TAGS = schema.tags.insert()
_INSERT_METRICS = schema.metrics.insert()
_RUN_ID: Any = bindparam("run_id_")
_UPDATE_RUN = update(schema.runs).where(schema.runs.c.id == _RUN_ID)

_SQLITE_INSERT_RUN = insert_sql(schema.runs, RUN_COLUMNS)
_SQLITE_INSERT_PARAMS = insert_sql(schema.params, _PARAM_COLUMNS)
_SQLITE_INSERT_TAGS = insert_sql(schema.tags, _TAG_COLUMNS)
_SQLITE_INSERT_METRICS = insert_sql(schema.metrics, _METRIC_COLUMNS)
_SQLITE_UPSERT_LATEST = upsert_sql(schema.latest_metrics, _METRIC_COLUMNS, ("run_id", "key"))
_SQLITE_FINISH = update_sql(schema.runs, _FINISH_COLUMNS, ("id",)) + " AND status = 'running'"
_FINISH_RUNNING = _UPDATE_RUN.where(schema.runs.c.status == "running")
_SQLITE_HEARTBEAT = update_sql(schema.runs, ("heartbeat_at",), ("id",))


def _dicts(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[dict[str, Any]]:
    return [dict(zip(columns, row, strict=True)) for row in rows]


def insert_run(
    conn: Connection,
    row: Mapping[str, Any],
    params: Sequence[ParamRow],
    tags: Sequence[TagRow],
) -> None:
    """Insert a new run's row (``RUN_COLUMNS``) with its first params and tags."""
    db = driver_connection(conn)
    if db is not None:
        db.execute(_SQLITE_INSERT_RUN, tuple(row[name] for name in RUN_COLUMNS))
        if params:
            db.executemany(_SQLITE_INSERT_PARAMS, params)
        if tags:
            db.executemany(_SQLITE_INSERT_TAGS, tags)
        return
    conn.execute(_INSERT_RUN, {name: row[name] for name in RUN_COLUMNS})
    if params:
        conn.execute(_INSERT_PARAMS, _dicts(_PARAM_COLUMNS, params))
    if tags:
        conn.execute(_INSERT_TAGS, _dicts(_TAG_COLUMNS, tags))


def insert_params(conn: Connection, params: Sequence[ParamRow]) -> None:
    """Insert param rows."""
    db = driver_connection(conn)
    if db is not None:
        db.executemany(_SQLITE_INSERT_PARAMS, params)
    else:
        conn.execute(_INSERT_PARAMS, _dicts(_PARAM_COLUMNS, params))


def insert_metrics(conn: Connection, run_id: str, rows: Sequence[MetricRow]) -> None:
    """Insert metric rows of ``run_id`` in order (their ids fix the order the record digests)."""
    db = driver_connection(conn)
    values = [(run_id, key, value, step, ts) for key, value, step, ts in rows]
    if db is not None:
        db.executemany(_SQLITE_INSERT_METRICS, values)
    else:
        conn.execute(_INSERT_METRICS, _dicts(_METRIC_COLUMNS, values))


def upsert_latest_metrics(conn: Connection, run_id: str, rows: Sequence[MetricRow]) -> None:
    """Make ``rows`` the latest values of their keys in ``run_id``."""
    if not rows:
        return
    values = [(run_id, key, value, step, ts) for key, value, step, ts in rows]
    db = driver_connection(conn)
    if db is not None:
        db.executemany(_SQLITE_UPSERT_LATEST, values)
        return
    conn.execute(_upsert_latest(conn.dialect.name), _dicts(_METRIC_COLUMNS, values))


@functools.cache
def _upsert_latest(dialect: str) -> Any:
    # Imported on first use: the dialect modules are not needed to start the CLI.
    if dialect == "sqlite":
        from sqlalchemy.dialects import sqlite

        insert: Any = sqlite.insert(schema.latest_metrics)
    else:
        from sqlalchemy.dialects import postgresql

        insert = postgresql.insert(schema.latest_metrics)
    return insert.on_conflict_do_update(
        index_elements=["run_id", "key"],
        set_={name: insert.excluded[name] for name in ("value", "step", "timestamp")},
    )


def finish_run(
    conn: Connection,
    run_id: str,
    *,
    status: str,
    ended_at: float,
    error: str | None,
    record_digest: str,
) -> None:
    """Mark a run ended with ``status`` and the digest of its sealed record.

    Raises:
        RunStateError: The run is no longer running (another process marked it crashed).
    """
    values = (status, ended_at, ended_at, error, record_digest)
    db = driver_connection(conn)
    if db is not None:
        changed = db.execute(_SQLITE_FINISH, (*values, run_id)).rowcount
    else:
        changed = conn.execute(
            _FINISH_RUNNING, {"run_id_": run_id, **dict(zip(_FINISH_COLUMNS, values, strict=True))}
        ).rowcount
    if changed != 1:
        raise RunStateError(
            f"run {run_id} is no longer running: another process marked it crashed (it stopped "
            "sending heartbeats), and its record was sealed as it stood then",
            hint="start a new run; what this run logged before it was marked crashed is kept",
        )


def touch_heartbeat(conn: Connection, run_id: str, now: float) -> None:
    """Record that the run's process is alive at ``now``."""
    db = driver_connection(conn)
    if db is not None:
        db.execute(_SQLITE_HEARTBEAT, (now, run_id))
    else:
        conn.execute(_UPDATE_RUN, {"run_id_": run_id, "heartbeat_at": now})
