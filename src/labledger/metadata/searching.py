"""Search runs and artifacts by text, by metadata field conditions, or both.

Text goes through the database's own full-text index: FTS5 (porter stemming, bm25 ranking with
the title weighted ten times the body) on SQLite, and ``websearch_to_tsquery('english', ...)``
against the weighted tsvector column, ranked by ``ts_rank``, on PostgreSQL. User text is never
parsed as query syntax on SQLite: every word, or every ``"quoted phrase"``, becomes a quoted FTS5
string, so punctuation cannot cause a syntax error. Field conditions become ``EXISTS`` clauses
(see :mod:`labledger.metadata.conditions`).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from labledger._foundation.errors import ValidationError
from labledger.metadata.conditions import compile_where, parse_conditions
from labledger.stores.metadata import SearchHit
from labledger.workspace import schema
from labledger.workspace.current import get_workspace
from labledger.workspace.search_index import reindex_all

if TYPE_CHECKING:
    from collections.abc import Sequence

    from sqlalchemy import Connection

    from labledger.metadata.conditions import WhereSpec
    from labledger.workspace.workspace import Workspace

__all__ = ["SearchHit", "fts5_query", "reindex", "search"]

_PHRASE = re.compile(r'"([^"]*)"|(\S+)')
_KINDS = ("run", "artifact")
_MAX_LIMIT = 1000
_TITLE_WEIGHT = 10.0
_HEADLINE = "StartSel=[, StopSel=], MaxWords=20, MinWords=5, MaxFragments=1"


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


def search(
    text: str | None = None,
    *,
    where: WhereSpec = None,
    kinds: Sequence[str] = _KINDS,
    limit: int = 50,
    workspace: Workspace | None = None,
) -> list[SearchHit]:
    """Find runs and artifacts by full text, metadata field conditions, or both.

    Args:
        text: Words to find in names, params, tags, column names and metadata values; every
            word must match (on PostgreSQL, web-search syntax: ``"phrase"``, ``or``, ``-word``).
        where: Field conditions, as ``{"concentration_um": (">", 10), "cell_line": "HeLa"}``
            or in the query dialect of run filters, ``'concentration_um > 10 and (cell_line =
            HeLa or viability)'``, where a word or phrase that is not compared must be in the text.
        kinds: Which kinds to return: ``run``, ``artifact`` or both.
        limit: At most this many hits (1-1000).
        workspace: Defaults to the current workspace.

    Returns:
        Hits, best first for text searches and newest first otherwise.

    Raises:
        FilterSyntaxError: ``where`` text does not parse.
        NotFoundError: A condition names an undefined field.
        ValidationError: A condition's value does not fit its field, or an argument is invalid.
    """
    chosen = _checked_kinds(kinds)
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= _MAX_LIMIT:
        raise ValidationError(f"limit {limit!r} is invalid", hint=f"use 1-{_MAX_LIMIT}")
    conditions = parse_conditions(where)
    ws = workspace or get_workspace()
    docs = schema.search_documents
    with ws.read() as conn:
        filters: list[sa.ColumnElement[bool]] = [docs.c.target_kind.in_(chosen)]
        condition = compile_where(conn, conditions, docs.c.target_kind, docs.c.target_id)
        if condition is not None:
            filters.append(condition)
        if text is not None and text.strip():
            parts = _text_columns(conn, text)
            if parts is None:
                return []
            source, matches, snippet, score = parts
            query = (
                sa.select(docs.c.target_kind, docs.c.target_id, docs.c.title, snippet, score)
                .select_from(source)
                .where(*matches, *filters)
                .order_by(score.desc(), docs.c.target_id.desc())
            )
        else:
            query = (
                sa.select(
                    docs.c.target_kind,
                    docs.c.target_id,
                    docs.c.title,
                    sa.literal(""),
                    sa.literal(0.0),
                )
                .where(*filters)
                .order_by(docs.c.target_id.desc())
            )
        rows = conn.execute(query.limit(limit)).all()
    return [SearchHit(row[0], row[1], row[2], row[3] or "", float(row[4] or 0.0)) for row in rows]


def _checked_kinds(kinds: Sequence[str]) -> list[str]:
    chosen = [kinds] if isinstance(kinds, str) else list(kinds)
    unknown = [k for k in chosen if k not in _KINDS]
    if unknown or not chosen:
        raise ValidationError(
            f"cannot search kinds {unknown or chosen!r}", hint="use run, artifact or both"
        )
    return chosen


def reindex(*, workspace: Workspace | None = None) -> int:
    """Rebuild the search documents of every run and artifact; returns how many were indexed.

    Documents are kept current as metadata changes; run this after an upgrade or an import.
    """
    ws = workspace or get_workspace()
    with ws.write() as conn:
        return reindex_all(conn)
