"""Finding catalog rows by full id or by a unique id prefix, as git finds commits.

Artifacts are also found by name (the newest of that name), by digest or by a digest prefix of 8
hex characters or more (as tables show digests): ``find_artifact``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy import func, select

from labledger._foundation.display import short_ids
from labledger._foundation.errors import AmbiguousReferenceError, NotFoundError
from labledger.workspace import schema

if TYPE_CHECKING:
    from collections.abc import Collection, Iterable, Sequence

    from sqlalchemy import ColumnElement, Connection, Row, Table

__all__ = ["MIN_PREFIX", "find_artifact", "find_by_id", "neighbour_ids", "unique_prefixes"]

MIN_PREFIX = 8
"""The fewest characters of an id that ids are shown with."""
# Shorter prefixes are still looked up (a unique one works, an ambiguous one says so), as git does.
_SHORTEST_PREFIX = 4
_ID_LENGTH = 36
_ID_CHARACTERS = frozenset("0123456789abcdef-")


def _among(table: Table, among: Sequence[str] | None) -> list[ColumnElement[bool]]:
    """The condition that keeps to rows of the projects ``among`` (none when ``None``)."""
    return [] if among is None else [table.c.project_id.in_(list(among))]


def find_by_id(
    conn: Connection,
    table: Table,
    ref: str,
    *,
    what: str,
    among: Sequence[str] | None = None,
) -> Row[Any] | None:
    """The row whose id is ``ref`` or starts with it; ``None`` when nothing matches.

    With ``among`` (project ids; ``table`` has a ``project_id``), only rows of those projects
    count: a row of another project is neither found nor makes a prefix ambiguous.

    Raises:
        ValidationError: The prefix matches several rows, or is too short to be sure of.
    """
    scoped = _among(table, among)
    row = conn.execute(select(table).where(table.c.id == ref, *scoped)).first()
    if row is not None or not _SHORTEST_PREFIX <= len(ref) < _ID_LENGTH:
        return row
    if not _ID_CHARACTERS.issuperset(ref.lower()):
        # Not an id prefix (a name, say): skip the prefix search, which scans the table.
        return None
    matching = sa.and_(table.c.id.startswith(ref, autoescape=True), *scoped)
    matches = conn.execute(select(table).where(matching).order_by(table.c.id).limit(2)).all()
    if len(matches) > 1:
        count = conn.execute(select(func.count()).select_from(table).where(matching)).scalar_one()
        raise AmbiguousReferenceError(
            f"{what} id prefix {ref!r} is ambiguous: {count} {what}s start with it",
            hint=f"type more characters of the id (the ids shown by `labledger {what}s list` "
            "are long enough), or the whole id",
        )
    return matches[0] if matches else None


def neighbour_ids(conn: Connection, table: Table, ids: Iterable[str]) -> set[str]:
    """The ids next to each of ``ids`` in ``table``'s id order, which a short prefix must not match.

    Two indexed look-ups per id: a prefix that differs from both neighbours differs from every id.
    """
    found: set[str] = set()
    for id_ in set(ids):
        for query in (
            select(func.max(table.c.id)).where(table.c.id < id_),
            select(func.min(table.c.id)).where(table.c.id > id_),
        ):
            neighbour = conn.execute(query).scalar()
            if neighbour is not None:
                found.add(neighbour)
    return found


def unique_prefixes(
    conn: Connection, ids: Iterable[str], tables: Sequence[Table], *, minimum: int = MIN_PREFIX
) -> dict[str, str]:
    """The shortest prefix of each id (``minimum`` characters or more) that names one row.

    A prefix is unique among ``ids`` and among every id in ``tables``, so it can be typed back
    to any command that looks ids up there.
    """
    ids = list(ids)
    among: set[str] = set()
    for table in tables:
        among |= neighbour_ids(conn, table, ids)
    return short_ids(ids, minimum, among=among)


def find_artifact(
    conn: Connection, ref: str, *, projects: Collection[str] | None = None
) -> Row[Any]:
    """The artifact row ``ref`` names: an id, a unique id prefix, a name (the newest), a digest,
    or a digest prefix (8+ hex characters, ``blake3:`` or not; the newest artifact of it).

    With ``projects`` (project ids), only artifacts of those projects are looked at: one of
    another project is not found, exactly as if it did not exist.

    Raises:
        NotFoundError: Nothing matches.
        ValidationError: An id prefix matches several artifacts, or a digest prefix several
            digests.
    """
    table = schema.artifacts
    among = None if projects is None else sorted(set(projects))
    scoped = _among(table, among)
    row = find_by_id(conn, table, ref, what="artifact", among=among)
    if row is None:
        row = conn.execute(
            select(table)
            .where(table.c.name == ref, *scoped)
            .order_by(table.c.created_at.desc())
            .limit(1)
        ).first()
    if row is None and ref.startswith("blake3:"):
        row = conn.execute(select(table).where(table.c.digest == ref, *scoped).limit(1)).first()
    if row is None:
        row = _by_digest_prefix(conn, ref.removeprefix("blake3:"), scoped)
    if row is None:
        raise NotFoundError(
            f"no artifact with id, id prefix, name, digest or digest prefix {ref!r}",
            hint="list them with `labledger artifacts list`",
        )
    return row


_HEX = frozenset("0123456789abcdef")
_SHORTEST_DIGEST_PREFIX = 8


def _by_digest_prefix(
    conn: Connection, hex_prefix: str, scoped: list[ColumnElement[bool]]
) -> Row[Any] | None:
    """The newest artifact whose digest starts with ``hex_prefix`` (the 12 characters tables
    show, say); ``None`` when none does or it is no digest prefix.

    Raises:
        ValidationError: Artifacts of several digests start with it.
    """
    if not _SHORTEST_DIGEST_PREFIX <= len(hex_prefix) < 64 or not _HEX.issuperset(hex_prefix):
        return None
    table = schema.artifacts
    low = f"blake3:{hex_prefix}"
    # A range on the digest index: every digest starting with ``low`` sorts below ``low + "g"``.
    matching = sa.and_(table.c.digest >= low, table.c.digest < low + "g", *scoped)
    digests = (
        conn.execute(
            select(table.c.digest).where(matching).distinct().order_by(table.c.digest).limit(2)
        )
        .scalars()
        .all()
    )
    if len(digests) > 1:
        raise AmbiguousReferenceError(
            f"digest prefix {hex_prefix!r} is ambiguous: artifacts of several digests start "
            "with it",
            hint="type more characters of the digest, or the artifact's id or name",
        )
    if not digests:
        return None
    return conn.execute(
        select(table)
        .where(table.c.digest == digests[0], *scoped)
        .order_by(table.c.created_at.desc())
        .limit(1)
    ).first()
