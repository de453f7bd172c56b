"""``/api/v1`` routes for users' signing keys: the Ed25519 public keys they sign entries with.

- ``/api/v1/me/keys``: the signed-in user registers, lists and revokes their own keys.
- ``/api/v1/keys``: administrators list and revoke anyone's.

Registering and revoking write ``user.key_added`` / ``user.key_revoked`` ledger entries naming the
user as ``by``; ``verify`` learns users' keys from those entries (see ``key_history``).
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from labledger.server.pagination import Page, PageQuery, page_query, paginate
from labledger.server.permissions import admin_only, signed_in
from labledger.stores.identity import User  # noqa: TC001 - FastAPI reads annotations at run time

if TYPE_CHECKING:
    from labledger.identity import IdentityService
    from labledger.stores.identity import UserKey

__all__ = ["KeyOut", "NewKeyIn", "router"]

router = APIRouter(prefix="/api/v1", tags=["keys"])
Pages = Annotated[PageQuery, Depends(page_query)]


class NewKeyIn(BaseModel):
    """A public key to register: 64 hex digits, an ``ssh-ed25519`` line, or PEM."""

    model_config = ConfigDict(extra="forbid")

    public_key: str = Field(min_length=1, max_length=2000)
    name: str = Field(default="", max_length=200)


class KeyOut(BaseModel):
    """A registered key; ``id`` is the public key in hex, the ``key_id`` of what it signs."""

    id: str
    user: str
    name: str
    created_at: float
    revoked_at: float | None

    @classmethod
    def of(cls, key: UserKey) -> KeyOut:
        return cls(
            id=key.id,
            user=key.user,
            name=key.name,
            created_at=key.created_at,
            revoked_at=key.revoked_at,
        )


def _service(request: Request) -> IdentityService:
    service: IdentityService = request.app.state.identity
    return service


def _page(keys: list[UserKey], page: PageQuery) -> Page[KeyOut]:
    ordered = sorted(keys, key=lambda k: k.id)
    items, token = paginate(ordered, key=lambda k: k.id, page=page)
    return Page[KeyOut](items=[KeyOut.of(k) for k in items], next_page_token=token)


@router.post("/me/keys", response_model=KeyOut, status_code=201)
def add_key(body: NewKeyIn, request: Request, user: Annotated[User, signed_in()]) -> KeyOut:
    """Register a public key of the signed-in user (registering it again returns it)."""
    key = _service(request).add_key(user.name, body.public_key, name=body.name, by=user.name)
    return KeyOut.of(key)


@router.get("/me/keys", response_model=Page[KeyOut])
def my_keys(request: Request, user: Annotated[User, signed_in()], page: Pages) -> Page[KeyOut]:
    """The signed-in user's keys, by id, revoked ones included."""
    return _page(_service(request).list_keys(user.name), page)


@router.delete("/me/keys/{key_id}", response_model=KeyOut)
def revoke_my_key(key_id: str, request: Request, user: Annotated[User, signed_in()]) -> KeyOut:
    """Revoke one of the signed-in user's keys: it signs nothing valid from now on."""
    # As the owner, even for an administrator: other users' keys are under /api/v1/keys.
    owner = dataclasses.replace(user, is_admin=False)
    return KeyOut.of(_service(request).revoke_key(key_id, actor=owner))


@router.get("/keys", response_model=Page[KeyOut])
def all_keys(
    request: Request,
    _admin: Annotated[User, admin_only()],
    page: Pages,
    user: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
) -> Page[KeyOut]:
    """Every user's keys, or ``user``'s (administrators only), by id."""
    return _page(_service(request).list_keys(user), page)


@router.delete("/keys/{key_id}", response_model=KeyOut)
def revoke_any_key(key_id: str, request: Request, admin: Annotated[User, admin_only()]) -> KeyOut:
    """Revoke anyone's key (administrators only)."""
    return KeyOut.of(_service(request).revoke_key(key_id, actor=admin))
