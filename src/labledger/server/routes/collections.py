"""``/api/v1/collections``: the ``CollectionStore`` over HTTP.

A collection's name may hold any printable character, ``/`` included: clients percent-encode it
and the routes take the rest of the path as the name. Its project is the query's ``project_id``
(the project ``default`` when left out); a name is unique within its project.

Who sees what: a viewer of a collection's project reads it, an editor creates, changes and
deletes it; a collection of a project the user is no member of is not found (404), as one that
does not exist. A member added must be a run or artifact the user reads, and a collection shows
only the run and artifact members the user reads.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from labledger._foundation.errors import NotFoundError, ValidationError
from labledger.identity.service import no_role_error
from labledger.metadata.collections import checked_name
from labledger.server.pagination import Page, PageQuery, page_query
from labledger.server.permissions import ProjectScope, in_projects
from labledger.server.routes.readable import narrowed, readable_projects
from labledger.stores.identity import Role
from labledger.stores.metadata import Collection
from labledger.stores.wire import MemberRefIn, member_ref
from labledger.workspace.attribution import acting_for

if TYPE_CHECKING:
    from labledger.stores.metadata import CollectionStore

__all__ = ["MembersIn", "NewCollectionIn", "router"]

router = APIRouter(prefix="/api/v1/collections", tags=["collections"])
Reader = Annotated[ProjectScope, in_projects(Role.VIEWER)]
Writer = Annotated[ProjectScope, in_projects(Role.EDITOR)]
Pages = Annotated[PageQuery, Depends(page_query)]
ProjectId = Annotated[
    str | None,
    Query(
        min_length=1,
        max_length=64,
        description="The collection's project (its id); the project default when left out.",
    ),
]
Visible = Annotated[
    list[str] | None,
    Query(max_length=10_000, description="Only members of these projects (of those you read)."),
]


def _store(request: Request) -> CollectionStore:
    return request.app.state.workspace.stores.collections  # type: ignore[no-any-return]


class NewCollectionIn(BaseModel):
    """A collection to create (its name is checked again here, as the Python API checks it)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=100_000)
    owner: str | None = Field(
        default=None,
        max_length=200,
        description="Who looks after it: a user of the server; the signed-in user if null.",
    )


class MembersIn(BaseModel):
    """Members to add or remove."""

    model_config = ConfigDict(extra="forbid")

    members: list[MemberRefIn] = Field(max_length=100_000)


def _project(request: Request, scope: ProjectScope, project_id: str | None, name: str) -> str:
    """The id of the collection's project, after checking the route's role there: 404 (as for a
    collection that does not exist) when the user is no member, 403 when their role is lower."""
    project = (
        project_id if project_id is not None else request.app.state.workspace.find_project_id()
    )
    if project_id is None and (project is None or scope.role(project) is None):
        # Every workspace has the default project, so saying what is missing reveals nothing.
        raise no_role_error(scope.user.name, "default")
    if project is None or scope.role(project) is None:
        raise NotFoundError(
            f"no collection named {name!r}", hint="list them with `labledger collections list`"
        )
    scope.require(project, what=f"collection {name!r}")
    return str(project)


@router.post("", response_model=Collection, status_code=201)
def create(
    request: Request, scope: Writer, body: NewCollectionIn, project_id: ProjectId = None
) -> Collection:
    """Create an empty collection in a project the user writes to, looked after by the
    signed-in user or by another user of the server (400 for a name that is no user's)."""
    name = checked_name(body.name)
    project = _project(request, scope, project_id, name)
    owner = body.owner or scope.user.name
    if owner != scope.user.name:
        found = request.app.state.workspace.stores.identity.get_users([owner]).get(owner)
        if found is None or found.name != owner:
            raise ValidationError(
                f"the owner {owner!r} is no user of this server",
                hint="name a user (see `labledger users list`), or leave the owner out to own it",
            )
    with acting_for(scope.user.name):
        return _store(request).create(
            name, description=body.description, owner=owner, project_id=project
        )


@router.get("", response_model=Page[Collection])
def list_page(
    request: Request,
    scope: Reader,
    page: Pages,
    project_id: Annotated[
        str | None,
        Query(min_length=1, max_length=64, description="Only this project's (its id)."),
    ] = None,
    visible: Visible = None,
) -> Page[Collection]:
    """Collections of the projects the user reads (of ``project_id`` when given), with the
    members the user reads, by name, a page at a time."""
    readable = readable_projects(scope)
    if project_id is not None and scope.role(project_id) is None:
        raise NotFoundError(
            f"no project with id {project_id!r}", hint="see `labledger projects list`"
        )
    found = _store(request).list_page(
        page_token=page.page_token,
        max_results=page.max_results,
        project_id=project_id,
        visible=narrowed(readable, visible),
    )
    return Page[Collection](items=found.items, next_page_token=found.next_token)


@router.post("/{name:path}/members", response_model=Collection)
def add_members(
    request: Request,
    scope: Writer,
    name: str,
    body: MembersIn,
    project_id: ProjectId = None,
    visible: Visible = None,
) -> Collection:
    """Add members, runs and artifacts the user reads (those already in it are skipped); the
    collection after."""
    project = _project(request, scope, project_id, name)
    members = [member_ref(m) for m in body.members]
    with acting_for(scope.user.name):
        return _store(request).add_members(
            name, members, project_id=project, visible=narrowed(readable_projects(scope), visible)
        )


@router.post("/{name:path}/members/remove", response_model=Collection)
def remove_members(
    request: Request,
    scope: Writer,
    name: str,
    body: MembersIn,
    project_id: ProjectId = None,
    visible: Visible = None,
) -> Collection:
    """Remove members (those not in it are ignored); the collection after."""
    project = _project(request, scope, project_id, name)
    members = [member_ref(m) for m in body.members]
    with acting_for(scope.user.name):
        return _store(request).remove_members(
            name, members, project_id=project, visible=narrowed(readable_projects(scope), visible)
        )


@router.get("/{name:path}", response_model=Collection)
def get(
    request: Request,
    scope: Reader,
    name: str,
    project_id: ProjectId = None,
    visible: Visible = None,
) -> Collection:
    """One collection with the members the user reads."""
    project = _project(request, scope, project_id, name)
    return _store(request).get(
        name, project_id=project, visible=narrowed(readable_projects(scope), visible)
    )


@router.delete("/{name:path}", status_code=204)
def delete(request: Request, scope: Writer, name: str, project_id: ProjectId = None) -> Response:
    """Delete a collection (its members themselves stay)."""
    project = _project(request, scope, project_id, name)
    with acting_for(scope.user.name):
        _store(request).delete(name, project_id=project)
    return Response(status_code=204)
