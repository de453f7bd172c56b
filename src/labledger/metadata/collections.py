"""Collections: curated, named sets of runs, artifacts, pipelines and models.

A collection belongs to a project (``default`` unless named, as a run does), and its name is
unique there. Members are given by id (a run or artifact, found by looking the id up) or as
``(kind, id)``. Runs and artifacts must exist; pipelines and models are stored as given.
Creating, deleting and changing the members of a collection are ledger entries.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from labledger._foundation.errors import NotFoundError, ValidationError
from labledger.stores.metadata import Collection, CollectionMember
from labledger.stores.pages import MAX_PAGE_SIZE
from labledger.workspace.current import get_workspace

if TYPE_CHECKING:
    from labledger.stores.metadata import MemberRef
    from labledger.workspace.workspace import Workspace

__all__ = [
    "Collection",
    "CollectionMember",
    "add_to_collection",
    "checked_name",
    "create_collection",
    "delete_collection",
    "get_collection",
    "list_collections",
    "remove_from_collection",
]

_MAX_NAME = 200
_DEFAULT = "default"


def checked_name(name: object) -> str:
    """``name`` if it is a valid collection name.

    Raises:
        ValidationError: It is not 1-200 printable characters without surrounding spaces.
    """
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


def _project_id(ws: Workspace, project: str, name: str) -> str | None:
    """The id of an existing ``project`` (``None`` for the default project, which the store
    finds itself).

    Raises:
        NotFoundError: There is no such project (so no such collection either).
    """
    if project == _DEFAULT:
        return None
    found = ws.find_project_id(project)
    if found is None:
        raise NotFoundError(
            f"no collection named {name!r} in project {project!r}",
            hint="list them with `labledger collections list`",
        )
    return found


def create_collection(
    name: str,
    description: str = "",
    owner: str | None = None,
    *,
    project: str = _DEFAULT,
    workspace: Workspace | None = None,
) -> Collection:
    """Create an empty collection.

    Args:
        name: A name of 1-200 printable characters, unique within its project.
        description: What it gathers and why.
        owner: Who looks after it; defaults to the workspace's actor.
        project: The project it belongs to (made on first use where the workspace is opened
            directly; against a server it must exist and you need editor there).
        workspace: Defaults to the current workspace.

    Raises:
        ValidationError: The name is invalid or taken in the project.
    """
    ws = workspace or get_workspace()
    checked_name(name)
    if not isinstance(description, str):
        raise ValidationError("a collection's description must be text")
    project_id = None if project == _DEFAULT else ws.project_id(project)
    return ws.stores.collections.create(
        name, description=description, owner=owner or ws.actor, project_id=project_id
    )


def add_to_collection(
    name: str, *members: MemberRef, project: str = _DEFAULT, workspace: Workspace | None = None
) -> Collection:
    """Add runs, artifacts, pipelines or models to a collection; members already in it are skipped.

    Args:
        name: The collection.
        *members: Run or artifact ids, or ``(kind, id)`` pairs (kinds: run, artifact, pipeline,
            model).
        project: The collection's project.
        workspace: Defaults to the current workspace.

    Returns:
        The collection after the change.

    Raises:
        NotFoundError: The collection, or a run or artifact, does not exist.
    """
    ws = workspace or get_workspace()
    project_id = _project_id(ws, project, name)
    return ws.stores.collections.add_members(name, members, project_id=project_id)


def remove_from_collection(
    name: str, *members: MemberRef, project: str = _DEFAULT, workspace: Workspace | None = None
) -> Collection:
    """Remove members from a collection of ``project``; those not in it are ignored.

    Raises:
        NotFoundError: The collection, or a run or artifact, does not exist.
    """
    ws = workspace or get_workspace()
    project_id = _project_id(ws, project, name)
    return ws.stores.collections.remove_members(name, members, project_id=project_id)


def get_collection(
    name: str, *, project: str = _DEFAULT, workspace: Workspace | None = None
) -> Collection:
    """One collection of ``project`` with its members.

    Raises:
        NotFoundError: No collection has this name there.
    """
    ws = workspace or get_workspace()
    return ws.stores.collections.get(name, project_id=_project_id(ws, project, name))


def list_collections(
    *, project: str | None = None, workspace: Workspace | None = None
) -> list[Collection]:
    """Every collection with its members, by name: of ``project`` when given, else of every
    project (against a server, of every project you read)."""
    ws = workspace or get_workspace()
    project_id = None
    if project is not None:
        project_id = ws.find_project_id(project)
        if project_id is None:
            return []  # no such project: nothing to list, and reading creates nothing
    store = ws.stores.collections
    found: list[Collection] = []
    token: str | None = None
    while True:
        page = store.list_page(page_token=token, max_results=MAX_PAGE_SIZE, project_id=project_id)
        found.extend(page.items)
        if page.next_token is None:
            return found
        token = page.next_token


def delete_collection(
    name: str, *, project: str = _DEFAULT, workspace: Workspace | None = None
) -> None:
    """Delete a collection of ``project`` (its members themselves stay).

    Raises:
        NotFoundError: No collection has this name there.
    """
    ws = workspace or get_workspace()
    ws.stores.collections.delete(name, project_id=_project_id(ws, project, name))
