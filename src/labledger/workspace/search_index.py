"""Search documents: the text of a run or artifact that full-text search reads.

One ``search_documents`` row per target, titled by its name. A run's body holds its params, tags
and metadata as ``key value`` lines; an artifact's holds its kind, format, column names and
metadata. SQLite keeps the FTS5 index in step through triggers; PostgreSQL recomputes its
generated tsvector column, so writing the row is all a caller does.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from labledger.workspace import schema

if TYPE_CHECKING:
    from sqlalchemy import Connection

__all__ = ["index_run", "refresh_document", "reindex_all"]


def _number_text(value: float) -> str:
    return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)


def _metadata_lines(conn: Connection, kind: str, id_: str) -> list[str]:
    values, fields = schema.metadata_values, schema.metadata_fields
    query = (
        sa.select(fields.c.name, fields.c.unit, values.c.value_num, values.c.value_text)
        .select_from(values.join(fields, values.c.field_id == fields.c.id))
        .where(values.c.target_kind == kind, values.c.target_id == id_)
        .order_by(fields.c.name)
    )
    lines = []
    for row in conn.execute(query):
        if row.value_text is not None:
            shown = row.value_text
        elif row.value_num is not None:
            shown = _number_text(row.value_num)
        else:
            continue
        unit = f" {row.unit}" if row.unit else ""
        lines.append(f"{row.name} {shown}{unit}")
    return lines


def _keyed_lines(conn: Connection, table: sa.Table, run_id: str) -> list[str]:
    query = sa.select(table.c.key, table.c.value).where(table.c.run_id == run_id)
    return [f"{row.key} {row.value}" for row in conn.execute(query.order_by(table.c.key))]


def _run_document(conn: Connection, run_id: str) -> tuple[str, str] | None:
    runs = schema.runs
    row = conn.execute(sa.select(runs.c.name, runs.c.kind).where(runs.c.id == run_id)).first()
    if row is None:
        return None
    lines = [] if row.kind == "run" else [row.kind]
    lines += _keyed_lines(conn, schema.params, run_id)
    lines += _keyed_lines(conn, schema.tags, run_id)
    lines += _metadata_lines(conn, "run", run_id)
    return row.name, "; ".join(lines)


def _artifact_document(conn: Connection, artifact_id: str) -> tuple[str, str] | None:
    table = schema.artifacts
    row = conn.execute(
        sa.select(table.c.name, table.c.kind, table.c.format, table.c.schema_json).where(
            table.c.id == artifact_id
        )
    ).first()
    if row is None:
        return None
    columns: list[Any] = json.loads(row.schema_json or "{}").get("fields", [])
    names = [str(c.get("name", "")) for c in columns if isinstance(c, dict)]
    lines = [f"{row.kind} {row.format}", *filter(None, names)]
    lines += _metadata_lines(conn, "artifact", artifact_id)
    return row.name, "; ".join(lines)


def refresh_document(conn: Connection, kind: str, target_id: str) -> None:
    """(Re)build the search document of a run or artifact inside the caller's transaction.

    A target that no longer exists loses its document.
    """
    builder = _run_document if kind == "run" else _artifact_document
    document = builder(conn, target_id)
    docs = schema.search_documents
    where = (docs.c.target_kind == kind, docs.c.target_id == target_id)
    existing = conn.execute(sa.select(docs.c.id, docs.c.title, docs.c.body).where(*where)).first()
    if document is None:
        if existing is not None:
            conn.execute(sa.delete(docs).where(docs.c.id == existing.id))
        return
    title, body = document
    if existing is None:
        # An upsert, so two writers indexing the same new target cannot collide.
        statement: Any
        if conn.dialect.name == "sqlite":
            from sqlalchemy.dialects import sqlite

            statement = sqlite.insert(docs)
        else:
            from sqlalchemy.dialects import postgresql

            statement = postgresql.insert(docs)
        statement = statement.values(target_kind=kind, target_id=target_id, title=title, body=body)
        conn.execute(
            statement.on_conflict_do_update(
                index_elements=["target_kind", "target_id"],
                set_={"title": statement.excluded.title, "body": statement.excluded.body},
            )
        )
    elif (existing.title, existing.body) != (title, body):
        conn.execute(sa.update(docs).where(docs.c.id == existing.id).values(title=title, body=body))


def index_run(conn: Connection, run_id: str) -> None:
    """(Re)build a run's search document: its name, params, tags and metadata."""
    refresh_document(conn, "run", run_id)


def reindex_all(conn: Connection) -> int:
    """Rebuild the documents of every run and artifact; returns how many targets were indexed."""
    count = 0
    for kind, table in (("run", schema.runs), ("artifact", schema.artifacts)):
        for (target_id,) in conn.execute(sa.select(table.c.id)).all():
            refresh_document(conn, kind, target_id)
            count += 1
    return count
