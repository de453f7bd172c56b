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
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ColumnElement

from labledger.workspace import schema
from labledger.workspace.sqlite_driver import driver_connection, upsert_sql

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from sqlalchemy import Connection

__all__ = [
    "DocumentMatch",
    "index_finished_run",
    "index_new_artifacts",
    "index_run",
    "refresh_document",
    "reindex_all",
]


def _number_text(value: float) -> str:
    return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)


# Statements are built once: runs are indexed as they end, on the tracking hot path.
_VALUES, _FIELDS, _DOCS = schema.metadata_values, schema.metadata_fields, schema.search_documents
_METADATA = (
    sa.select(_FIELDS.c.name, _FIELDS.c.unit, _VALUES.c.value_num, _VALUES.c.value_text)
    .select_from(_VALUES.join(_FIELDS, _VALUES.c.field_id == _FIELDS.c.id))
    .where(_VALUES.c.target_kind == sa.bindparam("kind"), _VALUES.c.target_id == sa.bindparam("id"))
    .order_by(_FIELDS.c.name)
)
_KEYED = {
    table.name: sa.select(table.c.key, table.c.value)
    .where(table.c.run_id == sa.bindparam("id"))
    .order_by(table.c.key)
    for table in (schema.params, schema.tags)
}
_RUN = sa.select(schema.runs.c.name, schema.runs.c.kind).where(
    schema.runs.c.id == sa.bindparam("id")
)
_EXISTING = sa.select(_DOCS.c.id, _DOCS.c.title, _DOCS.c.body).where(
    _DOCS.c.target_kind == sa.bindparam("kind"), _DOCS.c.target_id == sa.bindparam("id")
)
_UPSERTS: dict[str, Any] = {}
_SQLITE_METADATA = (
    "SELECT f.name, f.unit, v.value_num, v.value_text FROM metadata_values AS v "
    "JOIN metadata_fields AS f ON v.field_id = f.id "
    "WHERE v.target_kind = ? AND v.target_id = ? ORDER BY f.name"
)
_SQLITE_UPSERT = upsert_sql(
    _DOCS, ("target_kind", "target_id", "title", "body"), ("target_kind", "target_id")
)


def _metadata_line(
    name: str, unit: str | None, value_num: float | None, value_text: str | None
) -> str | None:
    if value_text is not None:
        shown = value_text
    elif value_num is not None:
        shown = _number_text(value_num)
    else:
        return None
    return f"{name} {shown} {unit}" if unit else f"{name} {shown}"


def _metadata_lines(conn: Connection, kind: str, id_: str) -> list[str]:
    db = driver_connection(conn)
    rows = (
        db.execute(_SQLITE_METADATA, (kind, id_))
        if db is not None
        else conn.execute(_METADATA, {"kind": kind, "id": id_})
    )
    return [line for line in (_metadata_line(*row) for row in rows) if line is not None]


def _keyed_lines(conn: Connection, table: sa.Table, run_id: str) -> list[str]:
    return [f"{row.key} {row.value}" for row in conn.execute(_KEYED[table.name], {"id": run_id})]


def _run_document(conn: Connection, run_id: str) -> tuple[str, str] | None:
    row = conn.execute(_RUN, {"id": run_id}).first()
    if row is None:
        return None
    lines = [] if row.kind == "run" else [row.kind]
    lines += _keyed_lines(conn, schema.params, run_id)
    lines += _keyed_lines(conn, schema.tags, run_id)
    lines += _metadata_lines(conn, "run", run_id)
    return row.name, "; ".join(lines)


def index_finished_run(
    conn: Connection,
    run_id: str,
    *,
    name: str,
    kind: str,
    params: Mapping[str, str],
    tags: Mapping[str, str],
) -> None:
    """Index a run from what its writer holds in memory; only its metadata is read back.

    Builds the same document as ``index_run``, with two statements instead of six.
    """
    lines = [] if kind == "run" else [kind]
    lines += [f"{key} {params[key]}" for key in sorted(params)]
    lines += [f"{key} {tags[key]}" for key in sorted(tags)]
    lines += _metadata_lines(conn, "run", run_id)
    document = ("run", run_id, name, "; ".join(lines))
    db = driver_connection(conn)
    if db is not None:
        db.execute(_SQLITE_UPSERT, document)
    else:
        conn.execute(
            _upsert(conn.dialect.name),
            dict(zip(("target_kind", "target_id", "title", "body"), document, strict=True)),
        )


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


def _upsert(dialect: str) -> Any:
    statement = _UPSERTS.get(dialect)
    if statement is None:
        if dialect == "sqlite":
            from sqlalchemy.dialects import sqlite

            insert: Any = sqlite.insert(_DOCS)
        else:
            from sqlalchemy.dialects import postgresql

            insert = postgresql.insert(_DOCS)
        statement = insert.on_conflict_do_update(
            index_elements=["target_kind", "target_id"],
            set_={"title": insert.excluded.title, "body": insert.excluded.body},
        )
        _UPSERTS[dialect] = statement
    return statement


def refresh_document(conn: Connection, kind: str, target_id: str) -> None:
    """(Re)build the search document of a run or artifact inside the caller's transaction.

    A target that no longer exists loses its document.
    """
    builder = _run_document if kind == "run" else _artifact_document
    document = builder(conn, target_id)
    existing = conn.execute(_EXISTING, {"kind": kind, "id": target_id}).first()
    if document is None:
        if existing is not None:
            conn.execute(sa.delete(_DOCS).where(_DOCS.c.id == existing.id))
        return
    title, body = document
    if existing is None:
        # An upsert, so two writers indexing the same new target cannot collide.
        conn.execute(
            _upsert(conn.dialect.name),
            {"target_kind": kind, "target_id": target_id, "title": title, "body": body},
        )
    elif (existing.title, existing.body) != (title, body):
        conn.execute(
            sa.update(_DOCS).where(_DOCS.c.id == existing.id).values(title=title, body=body)
        )


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


def index_new_artifacts(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
    """Index artifacts just inserted (no metadata yet) from their rows, in one batch.

    The document is the one ``refresh_document`` builds for an artifact without metadata, made
    from the rows the caller holds instead of reading each artifact back.
    """
    documents = []
    for row in rows:
        columns: list[Any] = json.loads(row["schema_json"] or "{}").get("fields", [])
        names = [str(c.get("name", "")) for c in columns if isinstance(c, dict)]
        body = "; ".join([f"{row['kind']} {row['format']}", *filter(None, names)])
        documents.append(("artifact", row["id"], row["name"], body))
    if not documents:
        return
    db = driver_connection(conn)
    if db is not None:
        db.executemany(_SQLITE_UPSERT, documents)
    else:
        keys = ("target_kind", "target_id", "title", "body")
        conn.execute(
            _upsert(conn.dialect.name), [dict(zip(keys, doc, strict=True)) for doc in documents]
        )


class DocumentMatch(ColumnElement[bool]):
    """True for the ``search_documents`` rows whose text holds a word or phrase.

    Rendered per database: an FTS5 ``MATCH`` of the quoted phrase on SQLite (so no character of it
    acts as query syntax), ``websearch_to_tsquery`` of the quoted phrase on PostgreSQL. Words are
    stemmed as in text search.
    """

    inherit_cache = False
    type = sa.Boolean()

    def __init__(self, phrase: str) -> None:
        self.phrase = phrase


@compiles(DocumentMatch)
def _match_on_sqlite(element: DocumentMatch, compiler: Any, **kw: Any) -> str:
    fts = sa.table("search_fts", sa.column("rowid"))
    quoted = '"' + element.phrase.replace('"', '""') + '"'
    matching = sa.select(fts.c.rowid).where(sa.literal_column("search_fts").match(quoted))
    condition = schema.search_documents.c.id.in_(matching.correlate(None))
    return str(compiler.process(condition, **kw))


@compiles(DocumentMatch, "postgresql")
def _match_on_postgresql(element: DocumentMatch, compiler: Any, **kw: Any) -> str:
    quoted = '"' + element.phrase.replace('"', " ") + '"'
    query = sa.func.websearch_to_tsquery(sa.literal_column("'english'::regconfig"), quoted)
    condition = sa.literal_column("search_documents.tsv").bool_op("@@")(query)
    return str(compiler.process(condition, **kw))
