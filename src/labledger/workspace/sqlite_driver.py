"""Driver-level statements on an SQLite catalog, for the writes on the tracking hot path.

SQLAlchemy's execution path costs about 30 us a statement, more than SQLite takes to run most of
them, and starting and ending a run takes a dozen. On SQLite those statements go to the sqlite3
connection that holds the caller's transaction, so they commit or roll back with everything else in
it; on PostgreSQL the callers keep their SQLAlchemy statements.

The SQL text is built once from the table definitions in ``schema``, so a misspelt column fails at
import, not on a user's first run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import sqlite3
    from collections.abc import Sequence

    from sqlalchemy import Connection, Table

__all__ = ["driver_connection", "insert_sql", "select_sql", "update_sql", "upsert_sql"]


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


def select_sql(table: Table, columns: Sequence[str], where: Sequence[str]) -> str:
    """``SELECT`` of ``columns`` from rows whose ``where`` columns equal ``?`` placeholders."""
    condition = " AND ".join(f"{name} = ?" for name in _names(table, where))
    return f'SELECT {", ".join(_names(table, columns))} FROM "{table.name}" WHERE {condition}'  # noqa: S608


def update_sql(table: Table, columns: Sequence[str], where: Sequence[str]) -> str:
    """``UPDATE`` of ``columns`` in rows whose ``where`` columns equal the placeholders after them."""
    assignments = ", ".join(f"{name} = ?" for name in _names(table, columns))
    condition = " AND ".join(f"{name} = ?" for name in _names(table, where))
    return f'UPDATE "{table.name}" SET {assignments} WHERE {condition}'  # noqa: S608
