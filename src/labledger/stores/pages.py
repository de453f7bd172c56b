"""``Page``: one page of a list, and the token that fetches the next.

Every list a store offers is paged by a cursor: the token is opaque to callers, stable under
concurrent inserts (it names the last key returned, not an offset), and ``None`` on the last page.
"""

from __future__ import annotations

import base64
import json
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar

from labledger._foundation.errors import ValidationError

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = [
    "DEFAULT_PAGE_SIZE",
    "MAX_PAGE_SIZE",
    "KeyPart",
    "Page",
    "decode_key",
    "decode_token",
    "encode_token",
]

T = TypeVar("T")
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """Items of one page, and the token of the next page (``None`` after the last)."""

    items: list[T]
    next_token: str | None = None


def encode_token(key: Any) -> str:
    """The page token that resumes after ``key`` (JSON values only)."""
    raw = json.dumps(key, separators=(",", ":")).encode("utf-8")
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_token(token: str) -> Any:
    """The key a page token resumes after.

    Raises:
        ValidationError: The token was not made by ``encode_token``.
    """
    try:
        if not isinstance(token, str) or len(token) > 2048:
            raise ValueError(token)
        padded = token + "=" * (-len(token) % 4)
        return json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (ValueError, UnicodeError):
        raise ValidationError(
            "the page token is not one this workspace gave out",
            hint="start again from the first page, without a page token",
        ) from None


KeyPart = Literal["text", "int", "number", "sortable"]


def decode_key(token: str, parts: Sequence[KeyPart]) -> list[Any]:
    """The key a page token of a store's list resumes after: a list of one value per part, each
    of its kind (``text``; ``int`` within 64 bits; ``number``, an int or a float, not NaN;
    ``sortable``, any of those or ``None``), as the store's query compares them.

    Raises:
        ValidationError: The token was not made by ``encode_token`` for such a key (a value a
            query could not compare, such as an object or a 100-digit integer, included).
    """
    key = decode_token(token)
    if not (isinstance(key, list) and len(key) == len(parts)):
        raise _not_ours()
    for value, part in zip(key, parts, strict=True):
        if not _is(value, part):
            raise _not_ours()
    return key


def _is(value: Any, part: KeyPart) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, str):
        return part in ("text", "sortable")
    if isinstance(value, int):
        return part != "text" and -(2**63) <= value < 2**63
    if isinstance(value, float):  # infinities are values a query compares; NaN is none
        return part in ("number", "sortable") and not math.isnan(value)
    return value is None and part == "sortable"


def _not_ours() -> ValidationError:
    return ValidationError(
        "the page token is not one this workspace gave out for this list",
        hint="start again from the first page, without a page token",
    )
