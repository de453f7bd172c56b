"""Finding catalog rows by full id or by a unique id prefix, as git finds commits.

Artifacts are also found by name (the newest of that name) or by digest: ``find_artifact``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from labledger._foundation.errors import NotFoundError, ValidationError
from labledger.workspace import schema

if TYPE_CHECKING:
    from sqlalchemy import Connection, Row, Table

__all__ = ["MIN_PREFIX", "find_artifact", "find_by_id"]

MIN_PREFIX = 8
_ID_LENGTH = 36
_ID_CHARACTERS = frozenset("0123456789abcdef-")


def find_by_id(conn: Connection, table: Table, ref: str, *, what: str) -> Row[Any] | None:
    """The row whose id is ``ref`` or starts with it; ``None`` when nothing matches.

    Raises:
        ValidationError: The prefix matches several rows.
    """
    row = conn.execute(select(table).where(table.c.id == ref)).first()
    if row is not None or not MIN_PREFIX <= len(ref) < _ID_LENGTH:
        return row
    if not _ID_CHARACTERS.issuperset(ref.lower()):
        # Not an id prefix (a name, say): skip the prefix search, which scans the table.
        return None
    matches = conn.execute(
        select(table)
        .where(table.c.id.startswith(ref, autoescape=True))
        .order_by(table.c.id)
        .limit(4)
    ).all()
    if len(matches) > 1:
        shown = ", ".join(m.id for m in matches[:3])
        raise ValidationError(
            f"{what} id prefix {ref!r} is ambiguous: it matches {shown}{', ...' if len(matches) > 3 else ''}",
            hint="type more characters of the id",
        )
    return matches[0] if matches else None


def find_artifact(conn: Connection, ref: str) -> Row[Any]:
    """The artifact row ``ref`` names: an id, a unique id prefix, a name (the newest) or a digest.

    Raises:
        NotFoundError: Nothing matches.
        ValidationError: An id prefix matches several artifacts.
    """
    table = schema.artifacts
    row = find_by_id(conn, table, ref, what="artifact")
    if row is None:
        row = conn.execute(
            select(table).where(table.c.name == ref).order_by(table.c.created_at.desc()).limit(1)
        ).first()
    if row is None and ref.startswith("blake3:"):
        row = conn.execute(select(table).where(table.c.digest == ref).limit(1)).first()
    if row is None:
        raise NotFoundError(
            f"no artifact with id, id prefix, name or digest {ref!r}",
            hint="list them with `labledger artifacts list`",
        )
    return row
