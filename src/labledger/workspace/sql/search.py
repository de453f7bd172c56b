"""Metadata search in SQL: full text through the database's own index, field conditions as
``EXISTS`` clauses.

Text goes through FTS5 (porter stemming, bm25 ranking with the title weighted ten times the body)
on SQLite, and ``websearch_to_tsquery('english', ...)`` against the weighted tsvector column,
ranked by ``ts_rank``, on PostgreSQL. User text is never parsed as query syntax on SQLite: every
word, or every ``"quoted phrase"``, becomes a quoted FTS5 string, so punctuation cannot cause a
syntax error. Conditions arrive bound to their fields by the service (names are field names,
values as stored); each compiles to an ``EXISTS`` over ``metadata_values`` with bound parameters.
"""

from __future__ import annotations

import operator
import re
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from labledger._foundation import query_syntax as qs
from labledger.stores.metadata import SearchHit, unknown_field
from labledger.workspace import schema
from labledger.workspace.search_index import DocumentMatch
from labledger.workspace.sql.metadata import load_fields

if TYPE_CHECKING:
    from collections.abc import Callable

    from sqlalchemy import Connection

    from labledger.stores.metadata import SearchQuery

__all__ = ["compile_where", "fts5_query", "run_search"]

_PHRASE = re.compile(r'"([^"]*)"|(\S+)')
_TITLE_WEIGHT = 10.0
# One excerpt around the hits (fragment mode, MaxFragments, ends a fragment at its last hit and so
# leaves out the value after a matched field name).
_HEADLINE = "StartSel=[, StopSel=], MaxWords=20, MinWords=5"
_ORDERING: dict[str, Callable[[Any, Any], Any]] = {
    "=": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le, ">": operator.gt,
    ">=": operator.ge,
}  # fmt: skip


def fts5_query(text: str) -> str | None:
    """An FTS5 query that requires every word or ``"quoted phrase"`` of ``text``.

    Each one is written as an FTS5 string with its quotes doubled, so no character of the user's
    text acts as query syntax. Words without a letter or digit are dropped; ``None`` when nothing
    is left to search for.
    """
    phrases = []
    for match in _PHRASE.finditer(text):
        phrase = match.group(1) if match.group(1) is not None else match.group(2)
        if any(ch.isalnum() for ch in phrase):
            phrases.append('"' + phrase.replace('"', '""') + '"')
    return " ".join(phrases) or None


def _text_columns(conn: Connection, text: str) -> tuple[Any, list[Any], Any, Any] | None:
    """(FROM clause, conditions, snippet, score) of a text search, or None if it has no words."""
    docs = schema.search_documents
    if fts5_query(text) is None:
        return None
    if conn.dialect.name == "sqlite":
        fts = sa.table("search_fts", sa.column("rowid"))
        whole: sa.ColumnElement[Any] = sa.literal_column("search_fts")
        source = fts.join(docs, docs.c.id == fts.c.rowid)
        rank = sa.func.bm25(whole, _TITLE_WEIGHT, 1.0)
        snippet = sa.func.snippet(whole, -1, "[", "]", "...", 16)
        return source, [whole.match(fts5_query(text))], snippet, -rank
    query = sa.func.websearch_to_tsquery(sa.literal_column("'english'::regconfig"), text)
    vector: sa.ColumnElement[Any] = sa.literal_column("search_documents.tsv")
    # Over the title too, as SQLite's snippet is: a hit in the name alone still shows where.
    snippet = sa.func.ts_headline(
        sa.literal_column("'english'::regconfig"),
        docs.c.title + sa.literal("; ") + docs.c.body,
        query,
        _HEADLINE,
    )
    return docs, [vector.bool_op("@@")(query)], snippet, sa.func.ts_rank(vector, query)


def run_search(conn: Connection, query: SearchQuery) -> list[SearchHit]:
    """The hits of a search, best first for text searches and newest first otherwise.

    Raises:
        NotFoundError: A condition names a field that is not defined.
    """
    docs = schema.search_documents
    filters: list[sa.ColumnElement[bool]] = [docs.c.target_kind.in_(list(query.kinds))]
    if query.project_ids is not None:
        filters.append(_in_projects(docs.c.target_kind, docs.c.target_id, query.project_ids))
    condition = compile_where(conn, query.where, docs.c.target_kind, docs.c.target_id)
    if condition is not None:
        filters.append(condition)
    if query.text is not None and query.text.strip():
        parts = _text_columns(conn, query.text)
        if parts is None:
            return []
        source, matches, snippet, score = parts
        statement = (
            sa.select(docs.c.target_kind, docs.c.target_id, docs.c.title, snippet, score)
            .select_from(source)
            .where(*matches, *filters)
            .order_by(score.desc(), docs.c.target_id.desc())
        )
    else:
        statement = (
            sa.select(
                docs.c.target_kind, docs.c.target_id, docs.c.title, sa.literal(""), sa.literal(0.0)
            )
            .where(*filters)
            .order_by(docs.c.target_id.desc())
        )
    rows = conn.execute(statement.limit(query.limit)).all()
    return [SearchHit(row[0], row[1], row[2], row[3] or "", float(row[4] or 0.0)) for row in rows]


def _in_projects(
    kind_column: sa.ColumnElement[str],
    id_column: sa.ColumnElement[str],
    project_ids: tuple[str, ...],
) -> sa.ColumnElement[bool]:
    """Documents of runs and artifacts of ``project_ids``: a filter of the query itself, so a
    page holds ``limit`` hits whenever there are that many."""
    ids = list(project_ids)
    runs, artifacts = schema.runs, schema.artifacts
    return sa.or_(
        sa.and_(
            kind_column == "run",
            id_column.in_(sa.select(runs.c.id).where(runs.c.project_id.in_(ids))),
        ),
        sa.and_(
            kind_column == "artifact",
            id_column.in_(sa.select(artifacts.c.id).where(artifacts.c.project_id.in_(ids))),
        ),
    )


def compile_where(
    conn: Connection,
    node: qs.QueryNode | None,
    kind_column: sa.ColumnElement[str],
    id_column: sa.ColumnElement[str],
) -> sa.ColumnElement[bool] | None:
    """One condition for a query over ``search_documents``: each field condition an ``EXISTS``
    correlated with the target kind and id columns, each text term a match of the document.

    ``node`` is bound: names are defined fields, values are stored values (numbers for number
    and date fields, text otherwise) and every operator suits its field.
    """
    if node is None:
        return None
    qs.require_few_terms(node, "search")
    fields = load_fields(conn, sorted({c.name for c in qs.conditions_of(node)}))
    values = schema.metadata_values

    def build(item: qs.QueryNode) -> sa.ColumnElement[bool]:
        if isinstance(item, qs.And):
            return sa.and_(*map(build, item.operands))
        if isinstance(item, qs.Or):
            return sa.or_(*map(build, item.operands))
        if isinstance(item, qs.Not):
            return sa.not_(build(item.operand))
        if isinstance(item, qs.TextTerm):
            return DocumentMatch(item.text)
        field = fields.get(item.name)
        if field is None:
            raise unknown_field(item.name)
        exists = sa.exists().where(
            values.c.field_id == field.id,
            values.c.target_kind == kind_column,
            values.c.target_id == id_column,
        )
        if item.op in ("is null", "is not null"):
            return sa.not_(exists) if item.op == "is null" else exists
        numeric = field.type in ("number", "date")
        return exists.where(_compare(values.c.value_num if numeric else values.c.value_text, item))

    return build(node)


def _compare(column: sa.ColumnElement[Any], item: qs.Condition) -> sa.ColumnElement[bool]:
    op, value = item.op, item.value
    if isinstance(value, tuple):
        return column.in_(list(value)) if op == "in" else column.not_in(list(value))
    if "like" in op:
        matched = (column.ilike if "ilike" in op else column.like)(str(value), escape="\\")
        return sa.not_(matched) if op.startswith("not ") else matched
    result: sa.ColumnElement[bool] = _ORDERING[op](column, value)
    return result
