"""``/api/v1/collections``: the ``CollectionStore`` over HTTP.

A collection's name may hold any printable character, ``/`` included: clients percent-encode it
and the routes take the rest of the path as the name.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from labledger._foundation.errors import ValidationError
from labledger.metadata.collections import checked_name
from labledger.server.pagination import Page, PageQuery, page_query
from labledger.server.permissions import ProjectContext, in_workspace
from labledger.stores.identity import Role
from labledger.stores.metadata import Collection
from labledger.stores.wire import MemberRefIn, member_ref
from labledger.workspace.attribution import acting_for

if TYPE_CHECKING:
    from labledger.stores.metadata import CollectionStore

__all__ = ["MembersIn", "NewCollectionIn", "router"]

router = APIRouter(prefix="/api/v1/collections", tags=["collections"])
Reader = Annotated[ProjectContext, in_workspace(Role.VIEWER)]
Writer = Annotated[ProjectContext, in_workspace(Role.EDITOR)]
Pages = Annotated[PageQuery, Depends(page_query)]


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


@router.post("", response_model=Collection, status_code=201)
def create(request: Request, ctx: Writer, body: NewCollectionIn) -> Collection:
    """Create an empty collection, looked after by the signed-in user or by another user of the
    server (400 for a name that is no user's)."""
    owner = body.owner or ctx.user.name
    if owner != ctx.user.name:
        found = request.app.state.workspace.stores.identity.get_users([owner]).get(owner)
        if found is None or found.name != owner:
            raise ValidationError(
                f"the owner {owner!r} is no user of this server",
                hint="name a user (see `labledger users list`), or leave the owner out to own it",
            )
    name = checked_name(body.name)
    with acting_for(ctx.user.name):
        return _store(request).create(name, description=body.description, owner=owner)


@router.get("", response_model=Page[Collection])
def list_page(request: Request, _: Reader, page: Pages) -> Page[Collection]:
    """Collections with their members, by name, a page at a time."""
    found = _store(request).list_page(page_token=page.page_token, max_results=page.max_results)
    return Page[Collection](items=found.items, next_page_token=found.next_token)


@router.post("/{name:path}/members", response_model=Collection)
def add_members(request: Request, ctx: Writer, name: str, body: MembersIn) -> Collection:
    """Add members (those already in it are skipped); the collection after."""
    members = [member_ref(m) for m in body.members]
    with acting_for(ctx.user.name):
        return _store(request).add_members(name, members)


@router.post("/{name:path}/members/remove", response_model=Collection)
def remove_members(request: Request, ctx: Writer, name: str, body: MembersIn) -> Collection:
    """Remove members (those not in it are ignored); the collection after."""
    members = [member_ref(m) for m in body.members]
    with acting_for(ctx.user.name):
        return _store(request).remove_members(name, members)


@router.get("/{name:path}", response_model=Collection)
def get(request: Request, _: Reader, name: str) -> Collection:
    """One collection with its members."""
    return _store(request).get(name)


@router.delete("/{name:path}", status_code=204)
def delete(request: Request, ctx: Writer, name: str) -> Response:
    """Delete a collection (its members themselves stay)."""
    with acting_for(ctx.user.name):
        _store(request).delete(name)
    return Response(status_code=204)
