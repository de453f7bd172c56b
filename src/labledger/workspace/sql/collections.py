"""The SQL collection store: named sets of runs, artifacts, pipelines and models, each in a
project (its name unique there).

``visible`` (the projects a caller may read) is applied in the queries: a collection of another
project is not found, and its run and artifact members of other projects are neither resolved
nor shown.
"""

from __future__ import annotations

import time
from collections import defaultdict
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from labledger._foundation.errors import ConflictError, NotFoundError, ValidationError
from labledger._foundation.ids import new_id
from labledger.stores.metadata import TARGET_KINDS, Collection, CollectionMember
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

    def _project(self, project_id: str | None) -> str | None:
        """``project_id``, or the default project's id (``None`` when it does not exist yet)."""
        return project_id if project_id is not None else self._workspace.find_project_id()

    def create(
        self, name: str, *, description: str, owner: str, project_id: str | None = None
    ) -> Collection:
        ws = self._workspace
        project = project_id if project_id is not None else ws.project_id()
        with ws.write() as conn:
            taken = sa.select(_c.c.id).where(_c.c.name == name, _c.c.project_id == project)
            if conn.execute(taken).first() is not None:
                raise ConflictError(
                    f"a collection named {name!r} exists already in this project",
                    hint="choose another name, or add to it with add_to_collection()",
                )
            collection = Collection(new_id(), name, description, owner, time.time(), [], project)
            conn.execute(
                _c.insert(),
                {
                    "id": collection.id,
                    "name": name,
                    "description": description,
                    "owner": owner,
                    "created_at": collection.created_at,
                    "project_id": project,
                },
            )
            ws.record(
                conn,
                "collection.created",
                f"collection:{collection.id}",
                {
                    "collection_id": collection.id,
                    "name": name,
                    "owner": owner,
                    "project_id": project,
                },
            )
        return collection

    def add_members(
        self,
        name: str,
        members: Sequence[MemberRef],
        *,
        project_id: str | None = None,
        visible: Sequence[str] | None = None,
    ) -> Collection:
        ws = self._workspace
        project = self._project(project_id)
        with ws.write() as conn:
            row, wanted, present = _membership(conn, name, project, members, visible)
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
            return _collection(conn, row, visible)

    def remove_members(
        self,
        name: str,
        members: Sequence[MemberRef],
        *,
        project_id: str | None = None,
        visible: Sequence[str] | None = None,
    ) -> Collection:
        ws = self._workspace
        project = self._project(project_id)
        with ws.write() as conn:
            row, wanted, present = _membership(conn, name, project, members, visible)
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
            return _collection(conn, row, visible)

    def get(
        self,
        name: str,
        *,
        project_id: str | None = None,
        visible: Sequence[str] | None = None,
    ) -> Collection:
        project = self._project(project_id)
        with self._workspace.read() as conn:
            return _collection(conn, _row(conn, name, project, visible), visible)

    def list_page(
        self,
        *,
        page_token: str | None = None,
        max_results: int = 100,
        project_id: str | None = None,
        visible: Sequence[str] | None = None,
    ) -> Page[Collection]:
        size = max(1, min(max_results, MAX_PAGE_SIZE))
        query = sa.select(_c).order_by(_c.c.name, _c.c.project_id).limit(size + 1)
        if project_id is not None:
            query = query.where(_c.c.project_id == project_id)
        if visible is not None:
            query = query.where(_c.c.project_id.in_(list(visible)))
        if page_token is not None:
            query = query.where(_after(page_token))
        with self._workspace.read() as conn:
            rows = conn.execute(query).all()
            more = len(rows) > size
            rows = rows[:size]
            members = _members(conn, [row.id for row in rows], visible)
        items = [_of(row, members.get(row.id, [])) for row in rows]
        last = rows[-1] if rows else None
        return Page(items, encode_token([last.name, last.project_id]) if more and last else None)

    def containing(
        self, kind: str, member_id: str, *, visible: Sequence[str] | None = None
    ) -> list[str]:
        query = (
            sa.select(_c.c.name)
            .select_from(_m.join(_c, _c.c.id == _m.c.collection_id))
            .where(_m.c.member_kind == kind, _m.c.member_id == member_id)
            .order_by(_c.c.name)
        )
        if visible is not None:
            query = query.where(_c.c.project_id.in_(list(visible)))
        with self._workspace.read() as conn:
            return list(conn.execute(query).scalars())

    def delete(self, name: str, *, project_id: str | None = None) -> None:
        ws = self._workspace
        project = self._project(project_id)
        with ws.write() as conn:
            row = _row(conn, name, project, None)
            count = conn.execute(sa.delete(_m).where(_m.c.collection_id == row.id)).rowcount
            conn.execute(sa.delete(_c).where(_c.c.id == row.id))
            ws.record(
                conn,
                "collection.deleted",
                f"collection:{row.id}",
                {"collection_id": row.id, "name": name, "members": count},
            )


def _after(page_token: str) -> sa.ColumnElement[bool]:
    """Rows after the page's last ``(name, project id)``; a bare name is the token of a catalog
    from before collections had projects."""
    after = decode_token(page_token)
    if isinstance(after, str):
        return _c.c.name > after
    if (
        not isinstance(after, list)
        or len(after) != 2
        or not all(isinstance(part, str) for part in after)
    ):
        raise ValidationError(
            "the page token is not one this workspace gave out",
            hint="start again from the first page, without a page token",
        )
    name, project = after
    return sa.or_(_c.c.name > name, sa.and_(_c.c.name == name, _c.c.project_id > project))


def _row(
    conn: Connection, name: str, project_id: str | None, visible: Sequence[str] | None
) -> Row[Any]:
    row = None
    if project_id is not None and (visible is None or project_id in visible):
        row = conn.execute(
            sa.select(_c).where(_c.c.name == name, _c.c.project_id == project_id)
        ).first()
    if row is None:
        raise NotFoundError(
            f"no collection named {name!r}", hint="list them with `labledger collections list`"
        )
    return row


def _members(
    conn: Connection, ids: list[str], visible: Sequence[str] | None
) -> dict[str, list[CollectionMember]]:
    rows = conn.execute(
        sa.select(_m)
        .where(_m.c.collection_id.in_(ids))
        .order_by(_m.c.added_at, _m.c.member_kind, _m.c.member_id)
    ).all()
    found_rows = titles(conn, [(row.member_kind, row.member_id) for row in rows])
    readable = None if visible is None else set(visible)
    found: dict[str, list[CollectionMember]] = defaultdict(list)
    for row in rows:
        key = (row.member_kind, row.member_id)
        target = found_rows.get(key)
        hidden = target is None or target[1] not in (readable or ())
        if readable is not None and row.member_kind in TARGET_KINDS and hidden:
            continue  # a run or artifact the reader may not see is not shown
        found[row.collection_id].append(
            CollectionMember(
                row.member_kind,
                row.member_id,
                None if target is None else target[0],
                row.added_at,
            )
        )
    return found


def _of(row: Row[Any], members: list[CollectionMember]) -> Collection:
    return Collection(
        row.id, row.name, row.description, row.owner, row.created_at, members, row.project_id
    )


def _collection(conn: Connection, row: Row[Any], visible: Sequence[str] | None) -> Collection:
    return _of(row, _members(conn, [row.id], visible).get(row.id, []))


def _membership(
    conn: Connection,
    name: str,
    project_id: str | None,
    members: Sequence[MemberRef],
    visible: Sequence[str] | None,
) -> tuple[Row[Any], list[tuple[str, str]], set[tuple[str, str]]]:
    """The collection's row, the members asked for (resolved, in order) and those it holds."""
    row = _row(conn, name, project_id, visible)
    wanted = list(dict.fromkeys(resolve_member(conn, member, among=visible) for member in members))
    present = {
        (kind, id_)
        for kind, id_ in conn.execute(
            sa.select(_m.c.member_kind, _m.c.member_id).where(_m.c.collection_id == row.id)
        )
    }
    return row, wanted, present
