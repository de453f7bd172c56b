"""Who a write is done for, when a server writes on a signed-in user's behalf.

The server's workspace actor writes every ledger entry; while a request runs inside
``acting_for(user)``, each entry it writes also names that user in its payload as ``by`` (as the
identity entries do), so every write is attributed to the person who asked for it.
"""

from __future__ import annotations

import contextlib
from contextvars import ContextVar
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ["acting_for", "requesting_user"]

_requesting_user: ContextVar[str | None] = ContextVar("labledger_requesting_user", default=None)


@contextlib.contextmanager
def acting_for(user: str) -> Iterator[None]:
    """Attribute the ledger entries written inside the block to ``user``."""
    token = _requesting_user.set(user)
    try:
        yield
    finally:
        _requesting_user.reset(token)


def requesting_user() -> str | None:
    """The user writes are done for (``acting_for``), or ``None`` outside any request."""
    return _requesting_user.get()
