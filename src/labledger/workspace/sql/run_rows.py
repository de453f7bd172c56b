"""The catalog rows of a run: written when it starts, as it logs, and when it is sealed.

Each function writes inside the caller's transaction (``SqlRunStore`` opens it). On SQLite the statements go to the driver (see
``labledger.workspace.sqlite_driver``): a run's start and end are a dozen statements, and through
SQLAlchemy's execution path each would cost more than SQLite takes to run it. PostgreSQL gets the
same rows through SQLAlchemy.

Every write a client may retry is idempotent, so a batch whose commit succeeded but whose reply was
lost (a dropped connection, a restarted database, later an HTTP timeout) can be sent again as it was:

- metrics: a row's natural key is ``(run_id, seq)``, the seq its run gave it when it was logged; a
  row whose key exists is skipped, and ``latest_metrics`` takes a value only when it is newer (a
  higher step, then a higher seq) than the one shown, so a late or repeated batch changes nothing.
  A batch that finds some of its seqs stored already is compared with what is stored: the same
  values again are a no-op, different ones a ``ConflictError`` (the transaction then writes
  nothing), so the latest values only ever move from rows as they are stored. The comparison is
  read only when the insert skipped a row: a batch of new rows costs nothing more.
- params: immutable; the same value again is a no-op, a different one a ``ConflictError``.
- tags: editable; written as upserts, so writing the same batch twice leaves the same rows.

So no table of applied batches is kept: a batch is named by its run and the seqs it holds
(``tracking.metric_buffer.batch_id``), and its rows themselves say whether it was applied.
"""

from __future__ import annotations

import functools
import itertools
import json
import math
import operator
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy import bindparam, select, tuple_, update

from labledger._foundation.errors import ConflictError, NotFoundError, RunStateError
from labledger.workspace import schema
from labledger.workspace.sqlite_driver import (
    driver_connection,
    insert_many,
    insert_many_of,
    insert_sql,
    update_sql,
    upsert_sql,
)

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from sqlalchemy import Connection

    from labledger.stores.runs import MetricRow

__all__ = [
    "RUN_COLUMNS",
    "ParamRow",
    "TagRow",
    "check_replayed_metrics",
    "finish_run",
    "in_seq_order",
    "insert_metric_groups",
    "insert_metrics",
    "insert_params",
    "insert_run",
    "latest_rows",
    "lock_run",
    "no_such_run",
    "require_running",
    "require_running_or_stored",
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
_METRIC_COLUMNS = ("run_id", "key", "value", "step", "timestamp", "seq")
# A metric row's natural key; the latest value is the one highest in (step, seq).
_METRIC_KEY = ("run_id", "seq")
_NEWER = ("step", "seq")
_FINISH_COLUMNS = ("status", "ended_at", "heartbeat_at", "error", "record_digest")
# (run_id, key, value as text, value as a number when it reads as one)
ParamRow = tuple[str, str, str, float | None]
# (run_id, key, value)
TagRow = tuple[str, str, str]

# Built once: on the hot path, building a statement costs more than running it.
_INSERT_RUN = schema.runs.insert()
_INSERT_PARAMS = schema.params.insert()
_INSERT_TAGS = schema.tags.insert()
_RUN_ID: Any = bindparam("run_id_")
_UPDATE_RUN = update(schema.runs).where(schema.runs.c.id == _RUN_ID)

_SQLITE_INSERT_RUN = insert_sql(schema.runs, RUN_COLUMNS)
_SQLITE_INSERT_PARAMS = insert_sql(schema.params, _PARAM_COLUMNS)
_SQLITE_INSERT_TAGS = insert_sql(schema.tags, _TAG_COLUMNS)
_SQLITE_INSERT_METRICS = insert_sql(schema.metrics, _METRIC_COLUMNS, ignore=True, keys=_METRIC_KEY)
_SQLITE_UPSERT_LATEST = upsert_sql(
    schema.latest_metrics, _METRIC_COLUMNS, ("run_id", "key"), newer=_NEWER
)
_SQLITE_IGNORE_PARAMS = insert_sql(
    schema.params, _PARAM_COLUMNS, ignore=True, keys=("run_id", "key")
)
_m = schema.metrics
_STORED_METRICS = select(_m.c.seq, _m.c.key, _m.c.value, _m.c.step, _m.c.timestamp).where(
    _m.c.run_id == bindparam("run_id"), _m.c.seq.between(bindparam("first"), bindparam("last"))
)
_STORED_PARAMS = select(schema.params.c.key, schema.params.c.value).where(
    schema.params.c.run_id == bindparam("run_id"),
    schema.params.c.key.in_(bindparam("keys", expanding=True)),
)
_SQLITE_FINISH = update_sql(schema.runs, _FINISH_COLUMNS, ("id",)) + " AND status = 'running'"
_UPDATE_RUNNING = _UPDATE_RUN.where(schema.runs.c.status == "running")
_SQLITE_STATUS = 'SELECT "status" FROM "runs" WHERE "id" = ?'
_SQLITE_RUNNING_AMONG = 'SELECT count(*) FROM "runs" WHERE "status" = \'running\' AND "id" IN ({})'
_SEQ = operator.itemgetter(4)
_STEP = operator.itemgetter(2)
_SQLITE_HEARTBEAT = update_sql(schema.runs, ("heartbeat_at",), ("id",)) + " AND status = 'running'"


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
    """Insert the params of one run; one logged already with the same value is left as it is.

    Raises:
        ConflictError: A param is logged already with another value (params are immutable).
    """
    if not params:
        return
    db = driver_connection(conn)
    if db is not None:
        cursor = db.executemany(_SQLITE_IGNORE_PARAMS, params)
        if cursor.rowcount == len(params):
            return  # every row is new: nothing to compare
    else:
        conn.execute(_ignore_params(conn.dialect.name), _dicts(_PARAM_COLUMNS, params))
    run_id = params[0][0]
    given = {key: value for _, key, value, _ in params}
    stored = conn.execute(_STORED_PARAMS, {"run_id": run_id, "keys": list(given)})
    for key, value in stored:
        if value != given[key]:
            raise ConflictError(
                f"param {key!r} of run {run_id} is logged already as {value!r}; params cannot "
                f"change, so {given[key]!r} was not recorded",
                hint="log the changed value under another key, or start a new run",
            )


def insert_metrics(conn: Connection, run_id: str, rows: Sequence[MetricRow]) -> bool:
    """Insert metric rows of ``run_id``, skipping any whose ``(run_id, seq)`` is stored already.

    Returns:
        Whether every row was inserted; when not, ``check_replayed_metrics`` says whether the
        skipped rows hold what is stored.
    """
    db = driver_connection(conn)
    if db is not None:
        return insert_many_of(db, _SQLITE_INSERT_METRICS, run_id, rows) == len(rows)
    bulk = _BULK_INSERT_METRICS.get(conn.dialect.name)
    if bulk is not None:
        return bulk(conn, run_id, rows) == len(rows)
    # A batched insert's rowcount is not known there (-1): the inserted rows' seqs come back.
    values = [(run_id, key, value, step, ts, seq) for key, value, step, ts, seq in rows]
    stored = conn.execute(_insert_metrics(conn.dialect.name), _dicts(_METRIC_COLUMNS, values))
    return len(stored.all()) == len(rows)


# PostgreSQL's bulk path: the batch travels as one JSON text, ``[[key, value, step, time, seq],
# ...]``, which PostgreSQL takes apart in its own process. The statement is the same short text
# for every batch (the driver prepares it once), and the rows are written out by the JSON encoder
# in C: as column arrays, the driver dumped each value in Python, about 3 ms of the server's CPU a
# batch of 1,000. Floats go as the shortest text that reads back as the same double.
_PG_INSERT_METRICS_JSON = sa.text(
    'INSERT INTO metrics (run_id, "key", value, step, "timestamp", seq) '
    "SELECT :run_id, e->>0, CAST(e->>1 AS DOUBLE PRECISION), CAST(e->>2 AS BIGINT), "
    "CAST(e->>3 AS DOUBLE PRECISION), CAST(e->>4 AS BIGINT) "
    "FROM json_array_elements(CAST(:rows AS JSON)) AS e "
    "ON CONFLICT (run_id, seq) DO NOTHING RETURNING seq"
)
# Values JSON cannot carry (infinities, a NaN given as a float) go as one array per column.
_PG_INSERT_METRICS = sa.text(
    'INSERT INTO metrics (run_id, "key", value, step, "timestamp", seq) '
    "SELECT :run_id, u.k, u.v, u.s, u.t, u.q FROM unnest("
    "CAST(:keys AS VARCHAR[]), CAST(:values AS DOUBLE PRECISION[]), CAST(:steps AS BIGINT[]), "
    "CAST(:times AS DOUBLE PRECISION[]), CAST(:seqs AS BIGINT[])) AS u(k, v, s, t, q) "
    "ON CONFLICT (run_id, seq) DO NOTHING RETURNING seq"
)


def _pg_insert_metrics(conn: Connection, run_id: str, rows: Sequence[MetricRow]) -> int:
    """Insert ``rows`` in one statement; the number of rows inserted."""
    try:
        text = json.dumps(rows, allow_nan=False, separators=(",", ":"))
    except (ValueError, TypeError):  # an infinite value, a number type JSON does not know
        return _pg_insert_metric_columns(conn, run_id, rows)
    return len(conn.execute(_PG_INSERT_METRICS_JSON, {"run_id": run_id, "rows": text}).all())


def _pg_insert_metric_columns(conn: Connection, run_id: str, rows: Sequence[MetricRow]) -> int:
    """``_pg_insert_metrics`` with one array parameter per column."""
    keys, values, steps, times, seqs = (list(column) for column in zip(*rows, strict=True))
    stored = conn.execute(
        _PG_INSERT_METRICS,
        {
            "run_id": run_id,
            "keys": keys,
            "values": values,
            "steps": steps,
            "times": times,
            "seqs": seqs,
        },
    )
    return len(stored.all())


_BULK_INSERT_METRICS = {"postgresql": _pg_insert_metrics}


def insert_metric_groups(
    conn: Connection, batches: Sequence[tuple[str, Sequence[MetricRow]]]
) -> bool:
    """Write the metric batches ``(run_id, rows)`` of several running runs as one: their rows in
    one insert, their latest values in one upsert (SQLite only, whose write transactions hold the
    whole catalog).

    Returns:
        ``True`` when written. ``False`` when any batch is not a plain insert of new rows into a
        running run (the run has ended or is unknown, or a seq is stored already): the caller
        rolls the transaction back and writes each batch on its own, where the batch that does not
        fit gets its own answer. So is anything but SQLite.
    """
    db = driver_connection(conn)
    if db is None:
        return False
    ids = sorted({run_id for run_id, _ in batches})
    marks = ", ".join("?" * len(ids))
    running = db.execute(_SQLITE_RUNNING_AMONG.format(marks), ids).fetchone()[0]
    if running != len(ids):
        return False
    for run_id, rows in batches:
        if insert_many_of(db, _SQLITE_INSERT_METRICS, run_id, rows) != len(rows):
            return False
    by_run: dict[str, list[Sequence[MetricRow]]] = {}
    for run_id, rows in batches:
        by_run.setdefault(run_id, []).append(rows)
    latest = []
    for run_id, parts in by_run.items():
        rows = parts[0] if len(parts) == 1 else in_seq_order(list(itertools.chain(*parts)))
        latest += [(run_id, *row) for row in latest_rows(rows)]
    insert_many(db, _SQLITE_UPSERT_LATEST, latest)  # one row a run and key
    return True


def in_seq_order(rows: Sequence[MetricRow]) -> Sequence[MetricRow]:
    """``rows`` sorted by seq (as they are, when they are already)."""
    seqs = [row[4] for row in rows]
    return rows if seqs == sorted(seqs) else sorted(rows, key=_SEQ)


def latest_rows(rows: Sequence[MetricRow]) -> list[MetricRow]:
    """Per key, the row of ``rows`` (sorted by seq) at the highest step, then the highest seq."""
    steps = list(map(_STEP, rows))
    if steps == sorted(steps):
        # Steps that never go down in seq order (the usual training loop): each key's last row.
        return list({row[0]: row for row in rows}.values())
    latest: dict[str, MetricRow] = {}
    for row in rows:
        best = latest.get(row[0])
        if best is None or row[2] >= best[2]:
            latest[row[0]] = row
    return list(latest.values())


def _same_number(value: float | None) -> float | None:
    # NULL stands for NaN in the table (see ``schema.metrics``), and NaN equals nothing.
    return None if value is None or math.isnan(value) else value


def check_replayed_metrics(conn: Connection, run_id: str, rows: Sequence[MetricRow]) -> None:
    """Check that ``rows``, some of them skipped by ``insert_metrics``, hold what ``run_id`` has
    stored under their seqs.

    Raises:
        ConflictError: A seq is stored with another key, value, step or timestamp (a batch sent
            again with other content, or two values logged under one seq).
    """
    seqs = [row[4] for row in rows]
    stored = {
        seq: (key, _same_number(value), step, ts)
        for seq, key, value, step, ts in conn.execute(
            _STORED_METRICS, {"run_id": run_id, "first": min(seqs), "last": max(seqs)}
        )
    }
    for key, value, step, ts, seq in rows:
        if stored.get(seq) != (key, _same_number(value), step, ts):
            raise ConflictError(
                f"metric seq {seq} of run {run_id} is stored already as {stored.get(seq)!r} "
                f"(key, value, step, timestamp), not {(key, value, step, ts)!r}; a batch sent "
                "again must hold what it held the first time, so nothing of this batch was "
                "recorded",
                hint="send the batch again exactly as it was first sent, or log new values "
                "under new seqs",
            )


def upsert_latest_metrics(conn: Connection, run_id: str, rows: Sequence[MetricRow]) -> None:
    """Show ``rows`` as the latest values of their keys in ``run_id`` where they are newer (a
    higher step, then a higher seq) than the values shown; at most one row per key."""
    if not rows:
        return
    # In key order: two batches of one run upserting the same keys in other orders would each
    # lock a row the other waits for (a deadlock on PostgreSQL); in one order, one waits.
    values = sorted((run_id, key, value, step, ts, seq) for key, value, step, ts, seq in rows)
    db = driver_connection(conn)
    if db is not None:
        insert_many(db, _SQLITE_UPSERT_LATEST, values)  # one key a row: one statement will do
        return
    conn.execute(_upsert_latest(conn.dialect.name), _dicts(_METRIC_COLUMNS, values))


def _dialect_insert(dialect: str, table: Any) -> Any:
    # Imported on first use: the dialect modules are not needed to start the CLI.
    if dialect == "sqlite":
        from sqlalchemy.dialects import sqlite

        return sqlite.insert(table)
    from sqlalchemy.dialects import postgresql

    return postgresql.insert(table)


@functools.cache
def _insert_metrics(dialect: str) -> Any:
    return (
        _dialect_insert(dialect, schema.metrics)
        .on_conflict_do_nothing(index_elements=list(_METRIC_KEY))
        .returning(schema.metrics.c.seq)
    )


@functools.cache
def _ignore_params(dialect: str) -> Any:
    return _dialect_insert(dialect, schema.params).on_conflict_do_nothing(
        index_elements=["run_id", "key"]
    )


@functools.cache
def _upsert_latest(dialect: str) -> Any:
    insert = _dialect_insert(dialect, schema.latest_metrics)
    shown = schema.latest_metrics.c
    return insert.on_conflict_do_update(
        index_elements=["run_id", "key"],
        set_={name: insert.excluded[name] for name in ("value", "step", "timestamp", "seq")},
        where=tuple_(*(insert.excluded[name] for name in _NEWER))
        > tuple_(*(shown[name] for name in _NEWER)),
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
            _UPDATE_RUNNING, {"run_id_": run_id, **dict(zip(_FINISH_COLUMNS, values, strict=True))}
        ).rowcount
    if changed != 1:
        raise RunStateError(
            f"run {run_id} is no longer running: another process marked it crashed (it stopped "
            "sending heartbeats), and its record was sealed as it stood then",
            hint="start a new run; what this run logged before it was marked crashed is kept",
        )


def lock_run(conn: Connection, run_id: str) -> None:
    """Lock ``run_id``'s row for the rest of the caller's write, before a seal reads what it
    digests: a batch in flight (``require_running``) commits first or sees the run ended. SQLite
    write transactions hold the whole catalog already.

    Raises:
        NotFoundError: The catalog has no such run (checked here: on PostgreSQL no foreign key
            keeps its metric rows from being written).
    """
    db = driver_connection(conn)
    if db is not None:
        found = db.execute(_SQLITE_STATUS, (run_id,)).fetchone()
    else:
        runs = schema.runs
        found = conn.execute(select(runs.c.id).where(runs.c.id == run_id).with_for_update()).first()
    if found is None:
        raise no_such_run(run_id)


def no_such_run(run_id: str) -> NotFoundError:
    """The error for a write to a run the catalog does not have."""
    return NotFoundError(
        f"no run with id {run_id}",
        hint="start a run with labledger.start_run(); list runs with `labledger runs list`",
    )


def require_running(conn: Connection, run_id: str) -> None:
    """Check, inside the caller's write, that ``run_id`` is still running: a sealed record stays
    as sealed, so a batch that lands after the run was finished or marked crashed (a late flush, a
    retry) writes nothing. A run the catalog lacks is left to the insert's own checks.

    Raises:
        RunStateError: The run has ended.
    """
    status = _locked_status(conn, run_id)
    if status is not None and status != "running":
        raise _ended(run_id, status)


def require_running_or_stored(
    conn: Connection,
    run_id: str,
    metrics: Sequence[MetricRow],
    params: Sequence[tuple[str, str, float | None]],
) -> bool:
    """``require_running`` for a batch of metrics and params, which may also be a batch sent
    again whose rows are all stored already (its first answer was lost): whether to write it.

    Raises:
        NotFoundError: The catalog has no such run.
        RunStateError: The run has ended and the batch holds a row it does not have.
        ConflictError: The run has ended and the batch holds other content under a stored seq
            (or another value of a stored param).
    """
    status = _locked_status(conn, run_id)
    if status is None:
        # Checked here, with the run's row locked: on PostgreSQL no foreign key checks it again.
        raise no_such_run(run_id)
    if status == "running":
        return True
    if metrics:
        seqs = [row[4] for row in metrics]
        found = conn.execute(
            _STORED_METRICS, {"run_id": run_id, "first": min(seqs), "last": max(seqs)}
        ).all()
        if not set(seqs) <= {row[0] for row in found}:
            raise _ended(run_id, status)
        check_replayed_metrics(conn, run_id, metrics)
    if params:
        stored = dict(
            conn.execute(_STORED_PARAMS, {"run_id": run_id, "keys": [p[0] for p in params]}).all()
        )
        if any(stored.get(key) != value for key, value, _ in params):
            raise _ended(run_id, status)
    return False


def _locked_status(conn: Connection, run_id: str) -> str | None:
    db = driver_connection(conn)
    if db is not None:
        # SQLite write transactions begin IMMEDIATE: no seal can be written until this commits.
        found = db.execute(_SQLITE_STATUS, (run_id,)).fetchone()
        status = None if found is None else found[0]
    else:
        # A shared lock on the run's row: a seal (which locks it first, see ``lock_run``) waits
        # for this batch to commit and then digests its rows, or this waits for the seal and
        # then sees the run ended.
        runs = schema.runs
        status = conn.execute(
            select(runs.c.status).where(runs.c.id == run_id).with_for_update(read=True)
        ).scalar()
    return None if status is None else str(status)


def _ended(run_id: str, status: str) -> RunStateError:
    return RunStateError(
        f"run {run_id} has ended ({status}); a sealed record stays as sealed, so only its "
        "tags can change",
        hint="start a new run with labledger.start_run()",
    )


def touch_heartbeat(conn: Connection, run_ids: Sequence[str], now: float) -> None:
    """Record that the runs' processes are alive at ``now``; runs no longer running are left as
    they are."""
    db = driver_connection(conn)
    if db is not None:
        db.executemany(_SQLITE_HEARTBEAT, [(now, run_id) for run_id in run_ids])
    else:
        conn.execute(
            _UPDATE_RUNNING, [{"run_id_": run_id, "heartbeat_at": now} for run_id in run_ids]
        )
