"""``Page``: one page of a list, and the token that fetches the next.

Every list a store offers is paged by a cursor: the token is opaque to callers, stable under
concurrent inserts (it names the last key returned, not an offset), and ``None`` on the last page.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from labledger._foundation.errors import ValidationError

__all__ = ["DEFAULT_PAGE_SIZE", "MAX_PAGE_SIZE", "Page", "decode_token", "encode_token"]

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
