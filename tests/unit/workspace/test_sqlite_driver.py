"""Driver-level SQL for SQLite, built from the schema's tables."""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING

import pytest

from labledger.workspace import schema
from labledger.workspace.sqlite_driver import (
    driver_connection,
    insert_many,
    insert_many_of,
    insert_sql,
    select_sql,
    update_sql,
    upsert_sql,
)

if TYPE_CHECKING:
    from labledger.workspace.workspace import Workspace


def test_statements_name_the_schema_columns() -> None:
    assert insert_sql(schema.tags, ("run_id", "key", "value")) == (
        'INSERT INTO "tags" ("run_id", "key", "value") VALUES (?, ?, ?)'
    )
    assert insert_sql(schema.blobs, ("digest",), ignore=True).endswith("ON CONFLICT DO NOTHING")
    assert upsert_sql(schema.tags, ("run_id", "key", "value"), ("run_id", "key")).endswith(
        'ON CONFLICT ("run_id", "key") DO UPDATE SET "value" = excluded."value"'
    )
    assert select_sql(schema.tags, ("value",), ("run_id", "key")) == (
        'SELECT "value" FROM "tags" WHERE "run_id" = ? AND "key" = ?'
    )
    assert update_sql(schema.runs, ("status",), ("id",)) == (
        'UPDATE "runs" SET "status" = ? WHERE "id" = ?'
    )


@pytest.mark.parametrize(
    "build",
    [
        lambda: insert_sql(schema.tags, ("run_id", "colour")),
        lambda: upsert_sql(schema.tags, ("run_id", "key", "value"), ("run_id", "colour")),
        lambda: select_sql(schema.tags, ("colour",), ("run_id",)),
        lambda: update_sql(schema.runs, ("status",), ("colour",)),
    ],
)
def test_a_column_the_table_lacks_fails_when_built(build: object) -> None:
    with pytest.raises(KeyError, match="colour"):
        build()  # type: ignore[operator]


def test_statements_run_in_the_callers_transaction(workspace: Workspace) -> None:
    upsert = upsert_sql(schema.blobs, ("digest", "size", "created_at"), ("digest",))
    with pytest.raises(RuntimeError), workspace.write() as conn:
        driver = driver_connection(conn)
        assert isinstance(driver, sqlite3.Connection)
        driver.execute(upsert, ("blake3:" + "0" * 64, 1, 0.0))
        raise RuntimeError("roll back")
    with workspace.write() as conn:
        driver = driver_connection(conn)
        assert driver is not None
        driver.execute(upsert, ("blake3:" + "0" * 64, 1, 0.0))
        driver.execute(upsert, ("blake3:" + "0" * 64, 2, 0.0))
    with workspace.read() as conn:
        driver = driver_connection(conn)
        assert driver is not None
        rows = driver.execute(
            select_sql(schema.blobs, ("size",), ("digest",)), ("blake3:" + "0" * 64,)
        )
        assert rows.fetchall() == [(2,)]


def _metrics_table() -> sqlite3.Connection:
    db = sqlite3.connect(":memory:", isolation_level=None)
    db.execute(
        "CREATE TABLE metrics (id INTEGER PRIMARY KEY, run_id TEXT, key TEXT, value REAL, "
        "step INT, timestamp REAL, seq INT, UNIQUE (run_id, seq))"
    )
    return db


_COLUMNS = ("run_id", "key", "value", "step", "timestamp", "seq")


@pytest.mark.parametrize("count", [0, 1, 7, 255, 256, 257, 1000, 1537])
def test_insert_many_writes_the_rows_executemany_writes(count: int) -> None:
    sql = insert_sql(schema.metrics, _COLUMNS, ignore=True, keys=("run_id", "seq"))
    rows = [("r", f"k{i % 3}", i / 7 if i % 5 else None, i, 1.5 * i, i) for i in range(count)]
    many, each = _metrics_table(), _metrics_table()
    assert insert_many(many, sql, rows) == count
    each.executemany(sql, rows)
    read = "SELECT id, run_id, key, value, step, timestamp, seq FROM metrics ORDER BY id"
    assert many.execute(read).fetchall() == each.execute(read).fetchall()
    # Sent again with one new row: only that one is inserted, the rest are skipped.
    again = [*rows, ("r", "k0", 0.5, count, 0.0, count)]
    assert insert_many(many, sql, again) == 1
    assert many.execute("SELECT count(*) FROM metrics").fetchone() == (count + 1,)


@pytest.mark.parametrize("count", [0, 1, 7, 255, 256, 257, 1000, 1537])
def test_insert_many_of_an_owner_writes_the_rows_executemany_writes(count: int) -> None:
    sql = insert_sql(schema.metrics, _COLUMNS, ignore=True, keys=("run_id", "seq"))
    rows = [(f"k{i % 3}", i / 7 if i % 5 else None, i, 1.5 * i, i) for i in range(count)]
    owned, each = _metrics_table(), _metrics_table()
    assert insert_many_of(owned, sql, "run-1", rows) == count
    each.executemany(sql, [("run-1", *row) for row in rows])
    read = "SELECT id, run_id, key, value, step, timestamp, seq FROM metrics ORDER BY id"
    assert owned.execute(read).fetchall() == each.execute(read).fetchall()
    assert insert_many_of(owned, sql, "run-1", [*rows, ("k0", 0.5, count, 0.0, count)]) == 1
    assert insert_many_of(owned, sql, "run-2", rows[:3]) == min(3, count)  # another owner
    assert owned.execute("SELECT count(*) FROM metrics WHERE run_id = 'run-2'").fetchone() == (
        min(3, count),
    )


def test_insert_many_of_an_owner_keeps_under_the_parameter_limit() -> None:
    db = _metrics_table()
    db.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 100)  # the owner and 16 rows of 5 at most
    sql = insert_sql(schema.metrics, _COLUMNS)
    assert insert_many_of(db, sql, "r", [("k", 1.0, i, 0.0, i) for i in range(1000)]) == 1000
    assert db.execute("SELECT count(*), min(seq), max(seq) FROM metrics").fetchone() == (
        1000,
        0,
        999,
    )
    with pytest.raises(ValueError, match="single-row insert"):
        insert_many_of(db, sql.replace("(?,", "(1,", 1), "r", [("k", 1.0, 0, 0.0, 0)])


def test_insert_many_keeps_under_sqlites_parameter_limit() -> None:
    db = _metrics_table()
    db.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 100)  # 16 rows of 6 at most
    sql = insert_sql(schema.metrics, _COLUMNS)
    rows = [("r", "k", 1.0, i, 0.0, i) for i in range(1000)]
    assert insert_many(db, sql, rows) == 1000
    assert db.execute("SELECT count(*), min(seq), max(seq) FROM metrics").fetchone() == (
        1000,
        0,
        999,
    )


def test_insert_many_upserts_where_newer() -> None:
    db = sqlite3.connect(":memory:", isolation_level=None)
    db.execute(
        "CREATE TABLE latest_metrics (run_id TEXT, key TEXT, value REAL, step INT, "
        "timestamp REAL, seq INT, PRIMARY KEY (run_id, key))"
    )
    sql = upsert_sql(schema.latest_metrics, _COLUMNS, ("run_id", "key"), newer=("step", "seq"))
    insert_many(db, sql, [("r", "a", 1.0, 5, 0.0, 1), ("r", "b", 2.0, 5, 0.0, 2)])
    # "a" at a higher step replaces; "b" at a lower step does not.
    insert_many(db, sql, [("r", "a", 3.0, 6, 0.0, 3), ("r", "b", 4.0, 4, 0.0, 4)])
    rows = db.execute("SELECT key, value, step FROM latest_metrics ORDER BY key").fetchall()
    assert rows == [("a", 3.0, 6), ("b", 2.0, 5)]
