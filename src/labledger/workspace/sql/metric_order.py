"""A page of runs sorted by one metric, read from the ``latest_metrics (key, value)`` index.

The general search sorts by a correlated subquery per run (nulls last), which reads the sorted
metric of every run the filter lets through before the first row comes back: about 100 ms at
100,000 runs. Sorting by one metric (``metrics.auc DESC``, the usual "best runs first") is read
from the index instead, in the same order:

1. The metric's best runs, a few more than a page, are read from the index (each database stops
   there, sorting only runs of equal value by id), and the filter keeps those it matches. A run
   that is not among them sorts after all of them, so when the kept ones fill the page, that is
   the page. If not, ten times as many are read, when the filter kept enough of the first ones
   (1 in 20) for that to fill it.
2. When the index has no more runs with a value, the page goes on with the runs without one (no
   value, or NaN, which is stored as NULL), newest id first, as the general search sorts them.
3. When neither fills the page (a filter that matches few of the best runs), the general search
   reads it, slower than before by the bounded walks (a few milliseconds at 100,000 runs).

Page tokens are the general search's (the sort value, ``None`` past the valued runs, and the id),
so either way resumes the other.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from labledger.workspace import schema
from labledger.workspace.sql.run_filters import query_conditions

if TYPE_CHECKING:
    from collections.abc import Sequence

    from sqlalchemy import Connection, Row

    from labledger.stores.runs import RunQuery

__all__ = ["metric_sort_key", "metric_sorted_rows"]

# Runs read from the index at most for one page: their ids go to the database as one list, which
# SQLite takes up to 32,766 of. A page of the server's most (1,000) needs 20,020; a store caller's
# larger page goes to the general search.
_MOST_CANDIDATES = 30_000
_runs = schema.runs
# An alias: a filter on metrics has subqueries of ``latest_metrics`` of its own, which must not
# be taken for (correlated with) the one the page is sorted by.
_latest = schema.latest_metrics.alias("sorted_by")


def metric_sort_key(query: RunQuery) -> tuple[str, bool] | None:
    """``(key, descending)`` when ``query`` sorts by one metric alone, else ``None``."""
    if len(query.order_by) != 1 or query.order_by[0].target != "metrics":
        return None
    return query.order_by[0].key, query.order_by[0].descending


def metric_sorted_rows(
    conn: Connection,
    query: RunQuery,
    sorting: tuple[str, bool],
    after: tuple[Any, str] | None,
    limit: int,
) -> list[tuple[Row[Any], float | None]] | None:
    """``limit`` ``runs`` rows that ``query`` matches, each with its value of the metric, in
    the query's order, after the run with sort value and id ``after`` when given (fewer on the
    last page); ``None`` when the index's best runs do not hold them (the general search reads
    that page)."""
    key, descending = sorting
    if after is not None and after[0] is None:  # past the runs with a value
        return [(row, None) for row in _without_value(conn, query, key, after[1], limit)]
    value = _latest.c.value
    best = sa.select(_latest.c.run_id, value).where(_latest.c.key == key, value.is_not(None))
    if after is not None:
        last_value, last_id = after
        beyond = value < last_value if descending else value > last_value
        best = best.where(sa.or_(beyond, sa.and_(value == last_value, _latest.c.run_id < last_id)))
    best = best.order_by(value.desc() if descending else value.asc(), _latest.c.run_id.desc())
    for walk in (w for w in (2 * limit, 20 * limit) if w <= _MOST_CANDIDATES):
        candidates = conn.execute(best.limit(walk)).all()
        kept = _matching(conn, query, candidates)
        if len(kept) >= limit:
            return kept[:limit]
        if len(candidates) < walk:  # no more runs with a value: those without one follow
            return kept + [
                (row, None) for row in _without_value(conn, query, key, None, limit - len(kept))
            ]
        if len(kept) * 10 < limit:
            break  # the filter keeps under 1 in 20 of the best: ten times as many would not do
    return None


def _matching(
    conn: Connection, query: RunQuery, candidates: Sequence[Row[Any, Any]]
) -> list[tuple[Row[Any], float | None]]:
    """The ``runs`` rows of the ``(run_id, value)`` ``candidates`` that ``query`` matches, in
    the candidates' order, each with its value."""
    if not candidates:
        return []
    values = {run_id: value for run_id, value in candidates}
    rows = conn.execute(
        sa.select(_runs).where(_runs.c.id.in_(list(values)), *query_conditions(query))
    ).all()
    rank = {run_id: i for i, (run_id, _) in enumerate(candidates)}
    return [(row, values[row.id]) for row in sorted(rows, key=lambda row: rank[row.id])]


def _without_value(
    conn: Connection, query: RunQuery, key: str, before: str | None, limit: int
) -> list[Row[Any]]:
    """Up to ``limit`` runs that ``query`` matches with no value of metric ``key`` (or NaN),
    newest id first, older than ``before`` when given."""
    has_value = sa.exists().where(
        _latest.c.run_id == _runs.c.id, _latest.c.key == key, _latest.c.value.is_not(None)
    )
    statement = sa.select(_runs).where(~has_value, *query_conditions(query))
    if before is not None:
        statement = statement.where(_runs.c.id < before)
    return list(conn.execute(statement.order_by(_runs.c.id.desc()).limit(limit)).all())
