"""Driver-level statements on an SQLite catalog, for the writes on the tracking hot path.

SQLAlchemy's execution path costs about 30 us a statement, more than SQLite takes to run most of
them, and starting and ending a run takes a dozen. On SQLite those statements go to the sqlite3
connection that holds the caller's transaction, so they commit or roll back with everything else in
it; on PostgreSQL the callers keep their SQLAlchemy statements.

The SQL text is built once from the table definitions in ``schema``, so a misspelt column fails at
import, not on a user's first run.
"""

from __future__ import annotations

import functools
import itertools
import sqlite3
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from sqlalchemy import Connection, Table

__all__ = [
    "driver_connection",
    "insert_many",
    "insert_many_of",
    "insert_sql",
    "select_sql",
    "update_sql",
    "upsert_sql",
]

# The most rows one multi-row INSERT carries (fewer when SQLite allows fewer parameters), and the
# step its sizes come in: a statement carries a multiple of _ROW_STEP rows, or a power of two
# below it, so at most 32 + 5 texts are ever prepared and 1,000 rows go in two statements.
_MOST_ROWS = 1024
_ROW_STEP = 32


def driver_connection(conn: Connection) -> sqlite3.Connection | None:
    """The sqlite3 connection under ``conn``, or ``None`` when the catalog is not SQLite."""
    if conn.dialect.name != "sqlite":
        return None
    return conn.connection.driver_connection


# The statements below are assembled from table and column names declared in ``schema``, never from
# user input, and every value is a bound ``?`` parameter.


def _names(table: Table, columns: Sequence[str]) -> list[str]:
    # Looking each column up rejects a name the table does not have.
    return [f'"{table.c[name].name}"' for name in columns]


def insert_sql(
    table: Table, columns: Sequence[str], *, ignore: bool = False, keys: Sequence[str] = ()
) -> str:
    """``INSERT`` of ``columns`` with ``?`` placeholders.

    Args:
        table: The table.
        columns: The columns given, in the placeholders' order.
        ignore: Skip a row whose key exists instead of failing.
        keys: With ``ignore``, the unique columns that make a row a duplicate (any key when empty).
    """
    names = _names(table, columns)
    placeholders = ", ".join(["?"] * len(names))
    sql = f'INSERT INTO "{table.name}" ({", ".join(names)}) VALUES ({placeholders})'  # noqa: S608
    if not ignore:
        return sql
    target = f" ({', '.join(_names(table, keys))})" if keys else ""
    return f"{sql} ON CONFLICT{target} DO NOTHING"


def upsert_sql(
    table: Table, columns: Sequence[str], keys: Sequence[str], *, newer: Sequence[str] = ()
) -> str:
    """``INSERT`` of ``columns`` that replaces the other columns of a row whose ``keys`` exist.

    With ``newer``, the row is replaced only when the new values of those columns, compared in
    order, are greater than the stored ones.
    """
    updates = [name for name in columns if name not in keys]
    assignments = ", ".join(f"{name} = excluded.{name}" for name in _names(table, updates))
    sql = (
        f"{insert_sql(table, columns)} ON CONFLICT ({', '.join(_names(table, keys))}) "
        f"DO UPDATE SET {assignments}"
    )
    if newer:
        names = _names(table, newer)
        stored = ", ".join(f'"{table.name}".{name}' for name in names)
        given = ", ".join(f"excluded.{name}" for name in names)
        sql += f" WHERE ({given}) > ({stored})"
    return sql


def insert_many(db: sqlite3.Connection, sql: str, rows: Sequence[Sequence[Any]]) -> int:
    """Run ``sql``, a single-row ``insert_sql`` or ``upsert_sql``, for every row of ``rows`` in a
    few statements (an upsert's rows must not share a key: one statement would write them all).

    ``executemany`` runs the statement once a row, and the driver lets go of the GIL around each
    run: in a busy server every one of those may wait for another thread's turn (5 ms by
    default), so a batch of 1,000 rows can take seconds, holding the write transaction all the
    while. Here each statement carries up to 1,024 rows in its ``VALUES`` list, in a few sizes
    (so the driver's statement cache holds every text), and SQLite runs it in one step: the GIL
    is let go a few times a batch. Alone, it is faster too.

    Returns:
        The rows inserted (a row an ``ON CONFLICT ... DO NOTHING`` skipped is not counted).
    """
    if not rows:
        return 0
    most = _most_rows(db.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER), len(rows[0]))
    inserted = 0
    for part in _parts(len(rows), most):
        values = list(itertools.chain.from_iterable(rows[part]))
        inserted += db.execute(_many_rows_sql(sql, part.stop - part.start), values).rowcount
    return inserted


def insert_many_of(
    db: sqlite3.Connection, sql: str, owner: Any, rows: Sequence[Sequence[Any]]
) -> int:
    """``insert_many`` of rows that all begin with ``owner`` (a run's id), given without it.

    The statement binds ``owner`` once (``?1``, named again in every row), and the rest of the
    values are the rows laid end to end: no row is copied to put its owner in front (at a million
    rows a second, copying them was a tenth of a busy server's time).

    Returns:
        The rows inserted.
    """
    if not rows:
        return 0
    most = _most_rows(db.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) - 1, len(rows[0]))
    inserted = 0
    for part in _parts(len(rows), most):
        values = [owner, *itertools.chain.from_iterable(rows[part])]
        inserted += db.execute(_owned_rows_sql(sql, part.stop - part.start), values).rowcount
    return inserted


def _parts(total: int, most: int) -> Iterator[slice]:
    """Slices of ``total`` rows for statements of at most ``most`` rows each: a multiple of
    ``_ROW_STEP`` rows, or a power of two below it (the few sizes whose texts are cached)."""
    done = 0
    while done < total:
        count = min(total - done, most)
        count = count - count % _ROW_STEP if count >= _ROW_STEP else 1 << (count.bit_length() - 1)
        yield slice(done, done + count)
        done += count


@functools.lru_cache(maxsize=128)
def _owned_rows_sql(sql: str, count: int) -> str:
    """``sql`` with ``count`` rows whose first value is the one parameter ``?1``: SQLite numbers
    each plain ``?`` one above the highest number given so far, so the rest run on from 2."""
    head, rest = sql.split(" VALUES (", 1)
    marks, tail = rest.split(")", 1)
    first, _, others = marks.partition(",")
    if first.strip() != "?":
        raise ValueError(f"not a single-row insert of ? parameters: {sql}")
    row = f"(?1,{others})"
    return f"{head} VALUES {', '.join([row] * count)}{tail}"


def _most_rows(variables: int, width: int) -> int:
    fit = min(_MOST_ROWS, max(1, variables // max(1, width)))
    return fit - fit % _ROW_STEP if fit >= _ROW_STEP else 1 << (fit.bit_length() - 1)


@functools.lru_cache(maxsize=128)
def _many_rows_sql(sql: str, count: int) -> str:
    """``sql`` (one ``VALUES (?, ...)`` row) with ``count`` rows of placeholders."""
    head, rest = sql.split(" VALUES (", 1)
    marks, tail = rest.split(")", 1)
    return f"{head} VALUES {', '.join([f'({marks})'] * count)}{tail}"


def select_sql(table: Table, columns: Sequence[str], where: Sequence[str]) -> str:
    """``SELECT`` of ``columns`` from rows whose ``where`` columns equal ``?`` placeholders."""
    condition = " AND ".join(f"{name} = ?" for name in _names(table, where))
    return f'SELECT {", ".join(_names(table, columns))} FROM "{table.name}" WHERE {condition}'  # noqa: S608


def update_sql(table: Table, columns: Sequence[str], where: Sequence[str]) -> str:
    """``UPDATE`` of ``columns`` in rows whose ``where`` columns equal the placeholders after them."""
    assignments = ", ".join(f"{name} = ?" for name in _names(table, columns))
    condition = " AND ".join(f"{name} = ?" for name in _names(table, where))
    return f'UPDATE "{table.name}" SET {assignments} WHERE {condition}'  # noqa: S608
