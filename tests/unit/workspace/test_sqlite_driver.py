"""Driver-level SQL for SQLite, built from the schema's tables."""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING

import pytest

from labledger.workspace import schema
from labledger.workspace.sqlite_driver import (
    driver_connection,
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
