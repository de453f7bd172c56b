"""Finding catalog rows by full id or by a unique id prefix, as git finds commits."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from labledger._foundation.errors import ValidationError

if TYPE_CHECKING:
    from sqlalchemy import Connection, Row, Table

__all__ = ["MIN_PREFIX", "find_by_id"]

MIN_PREFIX = 8
_ID_LENGTH = 36


def find_by_id(conn: Connection, table: Table, ref: str, *, what: str) -> Row[Any] | None:
    """The row whose id is ``ref`` or starts with it; ``None`` when nothing matches.

    Raises:
        ValidationError: The prefix matches several rows.
    """
    row = conn.execute(select(table).where(table.c.id == ref)).first()
    if row is not None or not MIN_PREFIX <= len(ref) < _ID_LENGTH:
        return row
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
