"""The read connection lineage queries run on, with PostgreSQL told to follow the indexes.

PostgreSQL plans a recursive query once, from a guess at its size; for a set of seed ids the guess
is large, and it then hash-joins every level against a whole edge table, rebuilding the hash each
time: minutes for a chain a thousand steps deep, where index lookups take milliseconds. Lineage
only ever follows a few edges per node, so for its own transaction it turns hash and merge joins
(and JIT compilation, which such guesses also trigger) off. SQLite needs nothing.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator

    from sqlalchemy import Connection

    from labledger.workspace.workspace import Workspace

__all__ = ["lineage_reader"]

_POSTGRES_SETTINGS = (
    "SET LOCAL enable_hashjoin = off",
    "SET LOCAL enable_mergejoin = off",
    "SET LOCAL jit = off",
)


@contextlib.contextmanager
def lineage_reader(workspace: Workspace) -> Iterator[Connection]:
    """A read connection for lineage queries; settings end with its transaction."""
    with workspace.read() as conn:
        if conn.dialect.name == "postgresql":
            for statement in _POSTGRES_SETTINGS:
                conn.exec_driver_sql(statement)
        yield conn
