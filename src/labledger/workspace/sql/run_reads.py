"""Reading runs back from the catalog: runs by reference, searches and metric histories, in pages.

A search's page token names the sort values and the id of the page's last run, so the next page
starts right after it whatever runs were created meanwhile; a metric history's token names the
last point's ``(key, step, timestamp, seq)``.
"""

from __future__ import annotations

import math
import operator
from collections import defaultdict
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from labledger._foundation.errors import NotFoundError, ValidationError
from labledger.stores.pages import KeyPart, Page, decode_key, encode_token
from labledger.stores.runs import MetricPoint, Run, RunLiveness
from labledger.workspace import schema
from labledger.workspace.lookup import find_by_id
from labledger.workspace.sql.metric_order import metric_sort_key, metric_sorted_rows
from labledger.workspace.sql.run_filters import query_conditions, sort_columns
from labledger.workspace.sqlite_driver import driver_connection

if TYPE_CHECKING:
    from collections.abc import Sequence

    from sqlalchemy import Connection, Row

    from labledger.stores.runs import RunQuery

__all__ = ["find_runs", "hydrate", "metric_page", "run_page", "running_runs"]

_runs, _metrics = schema.runs, schema.metrics
_CHUNK = 500


def _sqlite_of(table: sa.Table) -> str:
    """``SELECT run_id, key, value`` of ``table`` for an ``IN`` list (``{}``: its marks)."""
    return (
        f'SELECT "run_id", "key", "value" FROM "{table.name}" '  # noqa: S608 - schema names only
        'WHERE "run_id" IN ({})'
    )


# Read for every page of runs listed, so SQLite gets them from the driver (see sqlite_driver).
_SQLITE_PARAMS = _sqlite_of(schema.params)
_SQLITE_LATEST = _sqlite_of(schema.latest_metrics)
_SQLITE_TAGS = _sqlite_of(schema.tags)
_METRIC_ORDER = (_metrics.c.key, _metrics.c.step, _metrics.c.timestamp, _metrics.c.seq)


# PostgreSQL: a page's params, latest metrics and tags in one statement and one round trip (each
# costs the server a wait on the network and, under load, on the GIL), with one array parameter:
# the same text whatever the page's size, prepared once by the driver.
_POSTGRES_KEYED = sa.text(
    'SELECT 0, run_id, "key", value, NULL FROM params WHERE run_id = ANY(CAST(:ids AS VARCHAR[])) '
    'UNION ALL SELECT 1, run_id, "key", NULL, value FROM latest_metrics '
    "WHERE run_id = ANY(CAST(:ids AS VARCHAR[])) "
    'UNION ALL SELECT 2, run_id, "key", value, NULL FROM tags '
    "WHERE run_id = ANY(CAST(:ids AS VARCHAR[]))"
)


def _nan(value: float | None) -> float:
    return math.nan if value is None else value


def _page_size(max_results: int) -> int:
    if not isinstance(max_results, int) or isinstance(max_results, bool) or max_results < 1:
        raise ValidationError(f"max_results must be a positive int, got {max_results!r}")
    return max_results


_Keyed = dict[str, dict[str, Any]]  # run id -> key -> value


def _keyed_rows(conn: Connection, ids: Sequence[str]) -> tuple[_Keyed, _Keyed, _Keyed]:
    """The params, latest metrics and tags of the runs ``ids``, each by run id and key."""
    params: dict[str, dict[str, str]] = defaultdict(dict)
    metrics: dict[str, dict[str, float]] = defaultdict(dict)
    tags: dict[str, dict[str, str]] = defaultdict(dict)
    p, lm, t = schema.params, schema.latest_metrics, schema.tags
    db = driver_connection(conn)
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        if db is not None:  # SQLite: plain tuples from the driver, fetched at once
            marks = ",".join("?" * len(chunk))
            for run_id, key, value in db.execute(_SQLITE_PARAMS.format(marks), chunk):
                params[run_id][key] = value
            for run_id, key, value in db.execute(_SQLITE_LATEST.format(marks), chunk):
                metrics[run_id][key] = _nan(value)
            for run_id, key, value in db.execute(_SQLITE_TAGS.format(marks), chunk):
                tags[run_id][key] = value
            continue
        if conn.dialect.name == "postgresql":  # fetched at once, not row by row
            for part, run_id, key, text, number in conn.execute(
                _POSTGRES_KEYED, {"ids": chunk}
            ).all():
                if part == 1:
                    metrics[run_id][key] = _nan(number)
                else:
                    (params if part == 0 else tags)[run_id][key] = text
            continue
        for r in conn.execute(
            sa.select(p.c.run_id, p.c.key, p.c.value).where(p.c.run_id.in_(chunk))
        ):
            params[r.run_id][r.key] = r.value
        for r in conn.execute(
            sa.select(lm.c.run_id, lm.c.key, lm.c.value).where(lm.c.run_id.in_(chunk))
        ):
            metrics[r.run_id][r.key] = _nan(r.value)
        for r in conn.execute(
            sa.select(t.c.run_id, t.c.key, t.c.value).where(t.c.run_id.in_(chunk))
        ):
            tags[r.run_id][r.key] = r.value
    return params, metrics, tags


def hydrate(conn: Connection, rows: Sequence[Row[Any]]) -> list[Run]:
    """``Run``s of ``runs`` rows, with their params, latest metrics and tags."""
    params, metrics, tags = _keyed_rows(conn, [row.id for row in rows])
    # Rows by position: a Row's attributes are looked up by name, one call each, which costs more
    # than building the Run.
    fields = _hydrated_getter(rows[0]._fields) if rows else None
    made = []
    for row in rows:
        (
            run_id,
            name,
            status,
            kind,
            user,
            host,
            started_at,
            ended_at,
            environment_digest,
            git_commit,
            git_dirty,
            record_digest,
            error,
            heartbeat_at,
            project_id,
            pid,
        ) = fields(row)  # type: ignore[misc]
        running = status == "running"
        made.append(
            Run(
                id=run_id,
                name=name,
                status=status,
                kind=kind,
                user=user,
                host=host,
                started_at=started_at,
                ended_at=ended_at,
                params=dict(sorted(params[run_id].items())),
                metrics=dict(sorted(metrics[run_id].items())),
                tags=dict(sorted(tags[run_id].items())),
                environment_digest=environment_digest,
                git_commit=git_commit,
                git_dirty=git_dirty,
                record_digest=record_digest,
                error=error,
                heartbeat_at=heartbeat_at if running else None,
                project_id=project_id,
                pid=pid if running else None,
            )
        )
    return made


_HYDRATED = (
    "id",
    "name",
    "status",
    "kind",
    "user",
    "host",
    "started_at",
    "ended_at",
    "environment_digest",
    "git_commit",
    "git_dirty",
    "record_digest",
    "error",
    "heartbeat_at",
    "project_id",
    "pid",
)


def _hydrated_getter(names: Sequence[str]) -> Any:
    """A getter of ``_HYDRATED``'s values, in that order, from rows whose columns are ``names``."""
    at = {name: i for i, name in enumerate(names)}
    return operator.itemgetter(*(at[name] for name in _HYDRATED))


def find_runs(
    conn: Connection, refs: Sequence[str], *, among: Sequence[str] | None = None
) -> list[Run]:
    """The runs ``refs`` name (ids or unique id prefixes), in order; of the projects ``among``
    only, when given.

    Raises:
        NotFoundError: A reference names no run.
        AmbiguousReferenceError: A prefix names several runs.
    """
    rows = []
    for ref in refs:
        row = find_by_id(conn, _runs, ref, what="run", among=among)
        if row is None:
            raise NotFoundError(
                f"no run with id {ref!r}",
                hint="list runs with `labledger runs list`; a unique prefix of the id also works",
            )
        rows.append(row)
    return hydrate(conn, rows)


def _after(
    columns: Sequence[tuple[sa.ColumnElement[Any], bool]], values: Sequence[Any], last_id: str
) -> sa.ColumnElement[bool]:
    """Rows after the one with sort ``values`` and id ``last_id`` in the order ``columns``
    give (each sorts nulls last), then by id descending."""
    later: list[sa.ColumnElement[bool]] = []
    same: list[sa.ColumnElement[bool]] = []
    for (column, descending), value in zip(columns, values, strict=True):
        if value is not None:
            beyond = column < value if descending else column > value
            later.append(sa.and_(*same, sa.or_(beyond, column.is_(None))))
            same.append(column == value)
        else:
            same.append(column.is_(None))  # nothing sorts after a missing value but another
    later.append(sa.and_(*same, _runs.c.id < last_id))
    return sa.or_(*later)


def run_page(
    conn: Connection, query: RunQuery, page_token: str | None, max_results: int
) -> Page[Run]:
    """One page of a run search (see ``RunStore.search_runs``)."""
    size = _page_size(max_results)
    sorting = metric_sort_key(query)
    if sorting is not None:  # sorted by one metric: read from its index
        after = None
        if page_token is not None:
            last_value, last_id = decode_key(page_token, ["sortable", "text"])
            after = (last_value, last_id)
        sorted_rows = metric_sorted_rows(conn, query, sorting, after, size + 1)
        if sorted_rows is not None:
            rows = [row for row, _ in sorted_rows]
            return _page_of(conn, rows, [[value] for _, value in sorted_rows], size)
    columns = sort_columns(query.order_by)
    labelled = [column.label(f"sort_{i}") for i, (column, _) in enumerate(columns)]
    statement = sa.select(_runs, *labelled).where(*query_conditions(query))
    if page_token is not None:
        parts: list[KeyPart] = ["sortable"] * len(columns)
        token = decode_key(page_token, [*parts, "text"])
        statement = statement.where(_after(columns, token[:-1], token[-1]))
    order = [
        (column.desc() if descending else column.asc()).nulls_last()
        for column, descending in columns
    ]
    found = conn.execute(statement.order_by(*order, _runs.c.id.desc()).limit(size + 1)).all()
    sorts = [[row._mapping[f"sort_{i}"] for i in range(len(columns))] for row in found]
    return _page_of(conn, found, sorts, size)


def _page_of(
    conn: Connection, rows: Sequence[Row[Any]], sorts: Sequence[Sequence[Any]], size: int
) -> Page[Run]:
    """The page of the first ``size`` of ``rows`` (read one beyond, to know whether more follow),
    whose token names the last one's sort values (``sorts``, one list a row) and id."""
    next_token = None
    if len(rows) > size:
        rows = rows[:size]
        next_token = encode_token([*sorts[size - 1], rows[-1].id])
    return Page(hydrate(conn, rows), next_token)


def metric_page(
    conn: Connection,
    run_id: str,
    keys: Sequence[str] | None,
    page_token: str | None,
    max_results: int,
) -> Page[MetricPoint]:
    """One page of a run's metric values (see ``RunStore.metric_history``)."""
    size = _page_size(max_results)
    if conn.execute(sa.select(_runs.c.id).where(_runs.c.id == run_id)).first() is None:
        raise NotFoundError(
            f"no run with id {run_id!r}",
            hint="list runs with `labledger runs list`",
        )
    statement = sa.select(
        _metrics.c.key, _metrics.c.value, _metrics.c.step, _metrics.c.timestamp, _metrics.c.seq
    ).where(_metrics.c.run_id == run_id)
    if keys is not None:
        statement = statement.where(_metrics.c.key.in_(list(keys)))
    if page_token is not None:
        token = decode_key(page_token, ["text", "int", "number", "int"])
        statement = statement.where(sa.tuple_(*_METRIC_ORDER) > sa.tuple_(*token))
    rows = conn.execute(statement.order_by(*_METRIC_ORDER).limit(size + 1)).all()
    next_token = None
    if len(rows) > size:
        rows = rows[:size]
        last = rows[-1]
        next_token = encode_token([last.key, last.step, last.timestamp, last.seq])
    return Page([MetricPoint(r.key, _nan(r.value), r.step, r.timestamp) for r in rows], next_token)


def running_runs(conn: Connection, run_ids: Sequence[str] | None) -> list[RunLiveness]:
    """The ``running`` runs (of ``run_ids`` when given) and what judges their lease."""
    statement = sa.select(
        _runs.c.id, _runs.c.host, _runs.c.pid, _runs.c.heartbeat_at, _runs.c.project_id
    ).where(_runs.c.status == "running")
    if run_ids is None:
        return [RunLiveness(*row) for row in conn.execute(statement)]
    found: list[RunLiveness] = []
    ids = list(run_ids)
    for start in range(0, len(ids), _CHUNK):
        chunk = statement.where(_runs.c.id.in_(ids[start : start + _CHUNK]))
        found += [RunLiveness(*row) for row in conn.execute(chunk)]
    return found
