"""Search runs and artifacts by text, by metadata field conditions, or both.

Text goes through the database's own full-text index (see the store); field conditions are
parsed and checked against their fields here (see :mod:`labledger.metadata.conditions`), then
answered by the store.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from labledger._foundation.errors import ValidationError
from labledger.metadata.conditions import bind_conditions, field_names, parse_conditions
from labledger.stores.metadata import SearchHit, SearchQuery
from labledger.workspace.current import get_workspace

if TYPE_CHECKING:
    from collections.abc import Sequence

    from labledger.metadata.conditions import WhereSpec
    from labledger.workspace.workspace import Workspace

__all__ = ["SearchHit", "reindex", "search"]

_KINDS = ("run", "artifact")
_MAX_LIMIT = 1000


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
    store = ws.stores.metadata
    bound = bind_conditions(conditions, store.get_fields(field_names(conditions)))
    if text is not None:
        # A NUL can never be part of a word (and databases refuse it in text): it separates.
        text = text.replace("\x00", " ")
    return store.search(SearchQuery(text, bound, tuple(chosen), limit))


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
    return ws.stores.metadata.reindex()
