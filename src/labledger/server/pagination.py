"""Cursor pagination for list routes: ``{"items": [...], "next_page_token": str | null}``.

Routes take ``page_token`` and ``max_results`` query parameters (``PageQuery``) and cut a list
sorted by a unique key with ``paginate``. The token is opaque to clients: the last key served,
encoded, so a page stays correct when rows are added before it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel

from labledger._foundation.errors import ValidationError
from labledger.stores.pages import decode_token, encode_token

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

__all__ = ["MAX_RESULTS", "Page", "PageQuery", "page_query", "paginate"]

T = TypeVar("T")
MAX_RESULTS = 1000
_DEFAULT_RESULTS = 100


class Page(BaseModel, Generic[T]):
    """One page of a list."""

    items: list[T]
    next_page_token: str | None


@dataclass(frozen=True, slots=True)
class PageQuery:
    """Where a page starts and how long it may be."""

    page_token: str | None = None
    max_results: int = _DEFAULT_RESULTS


def page_query(
    page_token: Annotated[
        str | None, Query(description="The next_page_token of the previous page.")
    ] = None,
    max_results: Annotated[
        int, Query(ge=1, le=MAX_RESULTS, description="The most items to return.")
    ] = _DEFAULT_RESULTS,
) -> PageQuery:
    """The page parameters of a list route (a FastAPI dependency)."""
    return PageQuery(page_token, max_results)


def _encode(key: str) -> str:
    return encode_token({"after": key})


def _decode(token: str) -> str:
    after = decode_token(token)
    if not isinstance(after, dict) or not isinstance(after.get("after"), str):
        raise ValidationError(
            "invalid page_token", hint="pass the next_page_token of the previous page as it is"
        )
    return str(after["after"])


def paginate(
    items: Sequence[T], *, key: Callable[[T], str], page: PageQuery
) -> tuple[list[T], str | None]:
    """The items after ``page.page_token`` (at most ``page.max_results``) and the next token.

    ``items`` must be sorted by ``key``, which must be unique.
    """
    start = 0
    if page.page_token:
        after = _decode(page.page_token)
        start = next((i for i, item in enumerate(items) if key(item) > after), len(items))
    chunk = list(items[start : start + page.max_results])
    more = start + page.max_results < len(items)
    return chunk, (_encode(key(chunk[-1])) if more and chunk else None)
