"""Finding what metadata and collections point at: a run or an artifact, by id or ``(kind, id)``.

The SQL half of target references; the reference types live in ``labledger.stores.metadata``.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

import sqlalchemy as sa

from labledger._foundation.errors import NotFoundError, ValidationError
from labledger.stores.metadata import MEMBER_KINDS, TARGET_KINDS, MemberRef, TargetKind, TargetRef
from labledger.workspace import schema
from labledger.workspace.lookup import find_artifact, find_by_id

if TYPE_CHECKING:
    from collections.abc import Sequence

    from sqlalchemy import Connection

__all__ = ["resolve_member", "resolve_target", "titles"]


_TABLES = {"run": schema.runs, "artifact": schema.artifacts}
# An artifact is also named by its name or digest, both longer than an id.
_MAX_REF = 400
_HINT = "list runs with `labledger runs list` and artifacts with `labledger artifacts list`"


def _find(
    conn: Connection, kinds: tuple[str, ...], ref: str, among: Sequence[str] | None
) -> tuple[str, str] | None:
    """The one (kind, id) among ``kinds`` that ``ref`` names (of the projects ``among`` only,
    when given).

    ``ref`` is an id or a unique id prefix; an artifact is also found by name or digest, through
    the same lookup as ``labledger artifacts show``.
    """
    found: list[tuple[str, str]] = []
    for kind in kinds:
        row = find_by_id(conn, _TABLES[kind], ref, what=kind, among=among)
        if row is not None:
            found.append((kind, row.id))
    if len(found) > 1:
        raise ValidationError(
            f"id prefix {ref!r} matches more than one run or artifact",
            hint="give more characters of the id",
        )
    if not found and "artifact" in kinds:
        with contextlib.suppress(NotFoundError):
            found.append(("artifact", find_artifact(conn, ref, projects=among).id))
    return found[0] if found else None


def _check_id(id_: object) -> str:
    if not isinstance(id_, str) or not id_ or len(id_) > _MAX_REF:
        raise ValidationError(
            f"{id_!r} is not a run or artifact id, name or digest",
            hint="pass an id string or a (kind, id) tuple",
        )
    return id_


def resolve_target(
    conn: Connection, target: TargetRef, *, among: Sequence[str] | None = None
) -> tuple[TargetKind, str]:
    """The kind and id of a run or artifact, given its id or a unique prefix of 8+ characters;
    of the projects ``among`` only, when given (a run or artifact of another project is then
    not found, exactly as one that does not exist).

    Raises:
        NotFoundError: No run or artifact has the id.
        ValidationError: The reference is malformed or names another kind.
    """
    if isinstance(target, tuple):
        if len(target) != 2 or target[0] not in TARGET_KINDS:
            raise ValidationError(
                f"target {target!r} is not ('run', id) or ('artifact', id)",
                hint="metadata attaches to runs and artifacts only",
            )
        id_ = _check_id(target[1])
        found = _find(conn, (target[0],), id_, among)
        if found is None:
            raise NotFoundError(f"no {target[0]} with id {id_!r}", hint=_HINT)
    else:
        found = _find(conn, TARGET_KINDS, _check_id(target), among)
        if found is None:
            raise NotFoundError(
                f"no run or artifact with id {target!r} (nor an artifact of that name or digest)",
                hint=_HINT,
            )
    return ("run" if found[0] == "run" else "artifact"), found[1]


def resolve_member(
    conn: Connection, member: MemberRef, *, among: Sequence[str] | None = None
) -> tuple[str, str]:
    """The kind and id of a collection member; runs and artifacts must exist (in the projects
    ``among``, when given).

    Pipelines and models are stored as given, for the registries that will own them.
    """
    if isinstance(member, tuple) and len(member) == 2 and member[0] in ("pipeline", "model"):
        return member[0], _check_id(member[1])
    if isinstance(member, tuple) and (len(member) != 2 or member[0] not in TARGET_KINDS):
        raise ValidationError(
            f"collection member {member!r} is not a (kind, id) pair",
            hint=f"kinds are {', '.join(MEMBER_KINDS)}",
        )
    return resolve_target(conn, member, among=among)


def titles(
    conn: Connection, members: list[tuple[str, str]]
) -> dict[tuple[str, str], tuple[str, str]]:
    """Names and project ids of the runs and artifacts among ``members`` that exist."""
    found: dict[tuple[str, str], tuple[str, str]] = {}
    for kind, table in _TABLES.items():
        ids = [id_ for member_kind, id_ in members if member_kind == kind]
        for start in range(0, len(ids), 500):
            query = sa.select(table.c.id, table.c.name, table.c.project_id).where(
                table.c.id.in_(ids[start : start + 500])
            )
            found.update(
                {(kind, row.id): (row.name, row.project_id) for row in conn.execute(query)}
            )
    return found
