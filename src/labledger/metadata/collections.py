"""Collections: curated, named sets of runs, artifacts, pipelines and models.

Members are given by id (a run or artifact, found by looking the id up) or as ``(kind, id)``.
Runs and artifacts must exist; pipelines and models are stored as given. Creating, deleting and
changing the members of a collection are ledger entries.
"""

from __future__ import annotations

import time
from collections import defaultdict
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from labledger._foundation.errors import ConflictError, NotFoundError, ValidationError
from labledger._foundation.ids import new_id
from labledger.stores.metadata import Collection, CollectionMember
from labledger.workspace import schema
from labledger.workspace.current import get_workspace
from labledger.workspace.sql.targets import resolve_member, titles

if TYPE_CHECKING:
    from collections.abc import Sequence

    from sqlalchemy import Connection, Row

    from labledger.stores.metadata import MemberRef
    from labledger.workspace.workspace import Workspace

__all__ = [
    "Collection",
    "CollectionMember",
    "add_to_collection",
    "create_collection",
    "delete_collection",
    "get_collection",
    "list_collections",
    "remove_from_collection",
]

_MAX_NAME = 200


def _checked_name(name: object) -> str:
    if not isinstance(name, str) or not name.strip() or len(name) > _MAX_NAME:
        raise ValidationError(
            f"collection name {name!r} is invalid", hint=f"use 1-{_MAX_NAME} characters"
        )
    if name != name.strip() or any(not ch.isprintable() for ch in name):
        raise ValidationError(
            f"collection name {name!r} has surrounding spaces or control characters",
            hint="use printable characters without leading or trailing spaces",
        )
    return name


def _row(conn: Connection, name: str) -> Row[Any]:
    table = schema.collections
    row = conn.execute(sa.select(table).where(table.c.name == name)).first()
    if row is None:
        raise NotFoundError(
            f"no collection named {name!r}", hint="list them with `labledger collections list`"
        )
    return row


def _members(conn: Connection, ids: list[str]) -> dict[str, list[CollectionMember]]:
    table = schema.collection_members
    rows = conn.execute(
        sa.select(table)
        .where(table.c.collection_id.in_(ids))
        .order_by(table.c.added_at, table.c.member_kind, table.c.member_id)
    ).all()
    names = titles(conn, [(row.member_kind, row.member_id) for row in rows])
    found: dict[str, list[CollectionMember]] = defaultdict(list)
    for row in rows:
        key = (row.member_kind, row.member_id)
        found[row.collection_id].append(
            CollectionMember(row.member_kind, row.member_id, names.get(key), row.added_at)
        )
    return found


def _collection(conn: Connection, row: Row[Any]) -> Collection:
    members = _members(conn, [row.id]).get(row.id, [])
    return Collection(row.id, row.name, row.description, row.owner, row.created_at, members)


def create_collection(
    name: str,
    description: str = "",
    owner: str | None = None,
    *,
    workspace: Workspace | None = None,
) -> Collection:
    """Create an empty collection.

    Args:
        name: A unique name of 1-200 printable characters.
        description: What it gathers and why.
        owner: Who looks after it; defaults to the workspace's actor.
        workspace: Defaults to the current workspace.

    Raises:
        ValidationError: The name is invalid or taken.
    """
    ws = workspace or get_workspace()
    _checked_name(name)
    if not isinstance(description, str):
        raise ValidationError("a collection's description must be text")
    owner = owner or ws.actor
    table = schema.collections
    with ws.write() as conn:
        if conn.execute(sa.select(table.c.id).where(table.c.name == name)).first() is not None:
            raise ConflictError(
                f"a collection named {name!r} exists already",
                hint="choose another name, or add to it with add_to_collection()",
            )
        collection = Collection(new_id(), name, description, owner, time.time(), [])
        conn.execute(
            table.insert(),
            {
                "id": collection.id,
                "name": name,
                "description": description,
                "owner": owner,
                "created_at": collection.created_at,
            },
        )
        ws.record(
            conn,
            "collection.created",
            f"collection:{collection.id}",
            {"collection_id": collection.id, "name": name, "owner": owner},
        )
    return collection


def add_to_collection(
    name: str, *members: MemberRef, workspace: Workspace | None = None
) -> Collection:
    """Add runs, artifacts, pipelines or models to a collection; members already in it are skipped.

    Args:
        name: The collection.
        *members: Run or artifact ids, or ``(kind, id)`` pairs (kinds: run, artifact, pipeline,
            model).
        workspace: Defaults to the current workspace.

    Returns:
        The collection after the change.

    Raises:
        NotFoundError: The collection, or a run or artifact, does not exist.
    """
    ws = workspace or get_workspace()
    table = schema.collection_members
    with ws.write() as conn:
        row, wanted, present = _membership(conn, name, members)
        new = [member for member in wanted if member not in present]
        if new:
            now = time.time()
            conn.execute(
                table.insert(),
                [
                    {"collection_id": row.id, "member_kind": k, "member_id": i, "added_at": now}
                    for k, i in new
                ],
            )
            ws.record(
                conn,
                "collection.members_added",
                f"collection:{row.id}",
                {"collection_id": row.id, "name": name, "members": [list(m) for m in new]},
            )
        return _collection(conn, row)


def _membership(
    conn: Connection, name: str, members: Sequence[MemberRef]
) -> tuple[Row[Any], list[tuple[str, str]], set[tuple[str, str]]]:
    """The collection's row, the members asked for (resolved, in order) and those it holds."""
    row = _row(conn, name)
    wanted = list(dict.fromkeys(resolve_member(conn, member) for member in members))
    present = {(m.kind, m.id) for m in _members(conn, [row.id]).get(row.id, [])}
    return row, wanted, present


def remove_from_collection(
    name: str, *members: MemberRef, workspace: Workspace | None = None
) -> Collection:
    """Remove members from a collection; those not in it are ignored.

    Raises:
        NotFoundError: The collection, or a run or artifact, does not exist.
    """
    ws = workspace or get_workspace()
    table = schema.collection_members
    with ws.write() as conn:
        row, wanted, present = _membership(conn, name, members)
        gone = [member for member in wanted if member in present]
        for kind, id_ in gone:
            conn.execute(
                sa.delete(table).where(
                    table.c.collection_id == row.id,
                    table.c.member_kind == kind,
                    table.c.member_id == id_,
                )
            )
        if gone:
            ws.record(
                conn,
                "collection.members_removed",
                f"collection:{row.id}",
                {"collection_id": row.id, "name": name, "members": [list(m) for m in gone]},
            )
        return _collection(conn, row)


def get_collection(name: str, *, workspace: Workspace | None = None) -> Collection:
    """One collection with its members.

    Raises:
        NotFoundError: No collection has this name.
    """
    ws = workspace or get_workspace()
    with ws.read() as conn:
        return _collection(conn, _row(conn, name))


def list_collections(*, workspace: Workspace | None = None) -> list[Collection]:
    """Every collection with its members, by name."""
    ws = workspace or get_workspace()
    table = schema.collections
    with ws.read() as conn:
        rows = conn.execute(sa.select(table).order_by(table.c.name)).all()
        members: dict[str, list[CollectionMember]] = {}
        for start in range(0, len(rows), 500):
            members.update(_members(conn, [row.id for row in rows[start : start + 500]]))
    return [
        Collection(r.id, r.name, r.description, r.owner, r.created_at, members.get(r.id, []))
        for r in rows
    ]


def delete_collection(name: str, *, workspace: Workspace | None = None) -> None:
    """Delete a collection (its members themselves stay).

    Raises:
        NotFoundError: No collection has this name.
    """
    ws = workspace or get_workspace()
    with ws.write() as conn:
        row = _row(conn, name)
        count = conn.execute(
            sa.delete(schema.collection_members).where(
                schema.collection_members.c.collection_id == row.id
            )
        ).rowcount
        conn.execute(sa.delete(schema.collections).where(schema.collections.c.id == row.id))
        ws.record(
            conn,
            "collection.deleted",
            f"collection:{row.id}",
            {"collection_id": row.id, "name": name, "members": count},
        )
