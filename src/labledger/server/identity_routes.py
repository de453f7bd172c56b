"""``/api/v1`` routes for identity: who am I, tokens, users, projects and their members.

Each route parses, authorises (its one declared permission), calls the identity service and
renders; nothing else.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Depends, Request, Response

from labledger._foundation.errors import ValidationError
from labledger.server.models import (
    IssuedTokenOut,
    MembershipOut,
    NewProjectIn,
    NewTokenIn,
    NewUserIn,
    ProjectOut,
    RoleIn,
    TokenOut,
    UserOut,
)
from labledger.server.pagination import Page, PageQuery, page_query, paginate
from labledger.server.permissions import (
    ProjectContext,
    admin_only,
    request_token,
    requires,
    signed_in,
)
from labledger.stores.identity import Role, User

if TYPE_CHECKING:
    from labledger.identity import IdentityService
    from labledger.server.access import AccessCache

__all__ = ["router"]

router = APIRouter(prefix="/api/v1")

_DAY_S = 86_400.0
Pages = Annotated[PageQuery, Depends(page_query)]


def _service(request: Request) -> IdentityService:
    service: IdentityService = request.app.state.identity
    return service


def _forget_access(request: Request) -> None:
    """This process changed a token or a role: stop trusting what it remembers of them."""
    access: AccessCache = request.app.state.access
    access.forget()


@router.get("/me", response_model=UserOut, tags=["identity"])
def me(user: Annotated[User, signed_in()]) -> UserOut:
    """The signed-in user."""
    return UserOut.of(user)


@router.post("/tokens", response_model=IssuedTokenOut, status_code=201, tags=["identity"])
def create_token(
    body: NewTokenIn, request: Request, user: Annotated[User, signed_in()]
) -> IssuedTokenOut:
    """Make an API token for the signed-in user; the secret is in this response only.

    A token made with a token expires no later than it, and is revoked with it: a token that
    leaked cannot be turned into one that lasts longer or survives its revocation.
    """
    lifetime = None if body.expires_in_days is None else body.expires_in_days * _DAY_S
    secret = request_token(request)
    parent = _service(request).token_of(secret) if secret is not None else None
    left = _service(request).lifetime_left(parent) if parent is not None else None
    if left is not None:
        lifetime = left if lifetime is None else min(lifetime, left)
    issued = _service(request).issue_token(
        user.name,
        body.name,
        by=user.name,
        expires_in_s=lifetime,
        made_with=None if parent is None else parent.id,
    )
    return IssuedTokenOut(token=TokenOut.of(issued.token), secret=issued.secret)


@router.get("/tokens", response_model=Page[TokenOut], tags=["identity"])
def list_tokens(
    request: Request, user: Annotated[User, signed_in()], page: Pages
) -> Page[TokenOut]:
    """The signed-in user's tokens (never their secrets)."""
    tokens = sorted(_service(request).list_tokens(user.name), key=lambda t: t.id)
    items, token = paginate(tokens, key=lambda t: t.id, page=page)
    return Page[TokenOut](items=[TokenOut.of(t) for t in items], next_page_token=token)


@router.delete("/tokens/{token_id}", response_model=TokenOut, tags=["identity"])
def revoke_token(token_id: str, request: Request, user: Annotated[User, signed_in()]) -> TokenOut:
    """Revoke one of the signed-in user's tokens (an admin may revoke anyone's)."""
    revoked = _service(request).revoke_token(token_id, actor=user)
    _forget_access(request)
    return TokenOut.of(revoked)


@router.post("/users", response_model=UserOut, status_code=201, tags=["admin"])
def create_user(body: NewUserIn, request: Request, admin: Annotated[User, admin_only()]) -> UserOut:
    """Create a user (administrators only).

    The server's own actor is refused as a name: the server records its writes as that actor,
    so such a user's entries could not be told from the server's.
    """
    server_actor = request.app.state.workspace.actor
    if body.name.casefold() == str(server_actor).casefold():
        raise ValidationError(
            f"the user name {body.name!r} is the server's own actor, which signs its entries",
            hint="pick another name for the user",
        )
    user = _service(request).create_user(
        body.name,
        by=admin.name,
        display_name=body.display_name,
        password=body.password,
        is_admin=body.is_admin,
    )
    _forget_access(request)  # single-user mode, if on, ends with the first user
    return UserOut.of(user)


@router.get("/users", response_model=Page[UserOut], tags=["admin"])
def list_users(
    request: Request, admin: Annotated[User, admin_only()], page: Pages
) -> Page[UserOut]:
    """Every user, by name (administrators only)."""
    items, token = paginate(_service(request).list_users(), key=lambda u: u.name, page=page)
    return Page[UserOut](items=[UserOut.of(u) for u in items], next_page_token=token)


@router.get("/users/{user}", response_model=UserOut, tags=["admin"])
def get_user(user: str, request: Request, _admin: Annotated[User, admin_only()]) -> UserOut:
    """One user, by name or id (administrators only)."""
    return UserOut.of(_service(request).get_user(user))


@router.get("/projects", response_model=Page[ProjectOut], tags=["projects"])
def list_projects(
    request: Request, user: Annotated[User, signed_in()], page: Pages
) -> Page[ProjectOut]:
    """The projects the signed-in user may see, with their role in each."""
    projects = _service(request).visible_projects(user)
    items, token = paginate(projects, key=lambda p: p.name, page=page)
    return Page[ProjectOut](items=[ProjectOut.of(p) for p in items], next_page_token=token)


@router.post("/projects", response_model=ProjectOut, status_code=201, tags=["projects"])
def create_project(
    body: NewProjectIn, request: Request, admin: Annotated[User, admin_only()]
) -> ProjectOut:
    """Create a project (administrators only); nobody has a role in it until one is granted."""
    project = _service(request).create_project(body.name, actor=admin, description=body.description)
    _forget_access(request)
    return ProjectOut.of(project)


@router.get("/projects/{project}/members", response_model=Page[MembershipOut], tags=["projects"])
def list_members(
    request: Request, ctx: Annotated[ProjectContext, requires(Role.VIEWER)], page: Pages
) -> Page[MembershipOut]:
    """A project's members and their roles."""
    members = _service(request).members(ctx.project, actor=ctx.user)
    items, token = paginate(members, key=lambda m: m.user, page=page)
    return Page[MembershipOut](items=[MembershipOut.of(m) for m in items], next_page_token=token)


@router.put("/projects/{project}/members/{user}", response_model=MembershipOut, tags=["projects"])
def set_member(
    user: str,
    body: RoleIn,
    request: Request,
    ctx: Annotated[ProjectContext, requires(Role.ADMIN)],
) -> MembershipOut:
    """Give a user a role in the project (project admins only)."""
    member = _service(request).grant(ctx.project, user, body.role, actor=ctx.user)
    _forget_access(request)
    return MembershipOut.of(member)


@router.delete("/projects/{project}/members/{user}", status_code=204, tags=["projects"])
def remove_member(
    user: str, request: Request, ctx: Annotated[ProjectContext, requires(Role.ADMIN)]
) -> Response:
    """Take a user out of the project (project admins only)."""
    _service(request).revoke_role(ctx.project, user, actor=ctx.user)
    _forget_access(request)
    return Response(status_code=204)
