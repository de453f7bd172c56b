"""The SQL collection store: named sets of runs, artifacts, pipelines and models."""

from __future__ import annotations

import time
from collections import defaultdict
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from labledger._foundation.errors import ConflictError, NotFoundError, ValidationError
from labledger._foundation.ids import new_id
from labledger.stores.metadata import Collection, CollectionMember
from labledger.stores.pages import MAX_PAGE_SIZE, Page, decode_token, encode_token
from labledger.workspace import schema
from labledger.workspace.sql.targets import resolve_member, titles

if TYPE_CHECKING:
    from collections.abc import Sequence

    from sqlalchemy import Connection, Row

    from labledger.stores.metadata import MemberRef
    from labledger.workspace.workspace import Workspace

__all__ = ["SqlCollectionStore"]

_c, _m = schema.collections, schema.collection_members


class SqlCollectionStore:
    """``CollectionStore`` over a workspace's catalog."""

    def __init__(self, workspace: Workspace) -> None:
        self._workspace = workspace

    def create(self, name: str, *, description: str, owner: str) -> Collection:
        ws = self._workspace
        with ws.write() as conn:
            if conn.execute(sa.select(_c.c.id).where(_c.c.name == name)).first() is not None:
                raise ConflictError(
                    f"a collection named {name!r} exists already",
                    hint="choose another name, or add to it with add_to_collection()",
                )
            collection = Collection(new_id(), name, description, owner, time.time(), [])
            conn.execute(
                _c.insert(),
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

    def add_members(self, name: str, members: Sequence[MemberRef]) -> Collection:
        ws = self._workspace
        with ws.write() as conn:
            row, wanted, present = _membership(conn, name, members)
            new = [member for member in wanted if member not in present]
            if new:
                now = time.time()
                conn.execute(
                    _m.insert(),
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

    def remove_members(self, name: str, members: Sequence[MemberRef]) -> Collection:
        ws = self._workspace
        with ws.write() as conn:
            row, wanted, present = _membership(conn, name, members)
            gone = [member for member in wanted if member in present]
            for kind, id_ in gone:
                conn.execute(
                    sa.delete(_m).where(
                        _m.c.collection_id == row.id,
                        _m.c.member_kind == kind,
                        _m.c.member_id == id_,
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

    def get(self, name: str) -> Collection:
        with self._workspace.read() as conn:
            return _collection(conn, _row(conn, name))

    def list_page(
        self, *, page_token: str | None = None, max_results: int = 100
    ) -> Page[Collection]:
        size = max(1, min(max_results, MAX_PAGE_SIZE))
        query = sa.select(_c).order_by(_c.c.name).limit(size + 1)
        if page_token is not None:
            after = decode_token(page_token)
            if not isinstance(after, str):
                raise ValidationError(
                    "the page token is not one this workspace gave out",
                    hint="start again from the first page, without a page token",
                )
            query = query.where(_c.c.name > after)
        with self._workspace.read() as conn:
            rows = conn.execute(query).all()
            more = len(rows) > size
            rows = rows[:size]
            members = _members(conn, [row.id for row in rows])
        items = [
            Collection(r.id, r.name, r.description, r.owner, r.created_at, members.get(r.id, []))
            for r in rows
        ]
        return Page(items, encode_token(rows[-1].name) if more else None)

    def containing(self, kind: str, member_id: str) -> list[str]:
        query = (
            sa.select(_c.c.name)
            .select_from(_m.join(_c, _c.c.id == _m.c.collection_id))
            .where(_m.c.member_kind == kind, _m.c.member_id == member_id)
            .order_by(_c.c.name)
        )
        with self._workspace.read() as conn:
            return list(conn.execute(query).scalars())

    def delete(self, name: str) -> None:
        ws = self._workspace
        with ws.write() as conn:
            row = _row(conn, name)
            count = conn.execute(sa.delete(_m).where(_m.c.collection_id == row.id)).rowcount
            conn.execute(sa.delete(_c).where(_c.c.id == row.id))
            ws.record(
                conn,
                "collection.deleted",
                f"collection:{row.id}",
                {"collection_id": row.id, "name": name, "members": count},
            )


def _row(conn: Connection, name: str) -> Row[Any]:
    row = conn.execute(sa.select(_c).where(_c.c.name == name)).first()
    if row is None:
        raise NotFoundError(
            f"no collection named {name!r}", hint="list them with `labledger collections list`"
        )
    return row


def _members(conn: Connection, ids: list[str]) -> dict[str, list[CollectionMember]]:
    rows = conn.execute(
        sa.select(_m)
        .where(_m.c.collection_id.in_(ids))
        .order_by(_m.c.added_at, _m.c.member_kind, _m.c.member_id)
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


def _membership(
    conn: Connection, name: str, members: Sequence[MemberRef]
) -> tuple[Row[Any], list[tuple[str, str]], set[tuple[str, str]]]:
    """The collection's row, the members asked for (resolved, in order) and those it holds."""
    row = _row(conn, name)
    wanted = list(dict.fromkeys(resolve_member(conn, member) for member in members))
    present = {(m.kind, m.id) for m in _members(conn, [row.id]).get(row.id, [])}
    return row, wanted, present
