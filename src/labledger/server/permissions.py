"""Who is asking, and what each route allows: every route declares exactly one permission.

- ``public()``: anyone (health checks).
- ``signed_in()``: any user with a valid token (or the local user in single-user mode).
- ``admin_only()``: workspace administrators.
- ``requires(role)``: at least ``role`` in the route's ``{project}``; non-members get 404.
- ``in_projects(role)``: at least ``role`` in the project of what the route touches (a run), which
  the route finds first; the dependency gives a ``ProjectScope`` that checks it, and non-members
  get 404.

Each returns a FastAPI ``Depends`` whose callable carries its ``Permission``; ``route_permissions``
finds them again, so a test can insist that no route goes without one.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from labledger._foundation.errors import (
    AuthenticationError,
    NotFoundError,
    PermissionDeniedError,
)
from labledger.identity.service import higher_role_hint
from labledger.stores.identity import ProjectAccess, Role, User

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Mapping

    from fastapi.dependencies.models import Dependant
    from fastapi.routing import APIRoute
    from starlette.routing import BaseRoute

    from labledger.identity import IdentityService
    from labledger.server.access import AccessCache

__all__ = [
    "Permission",
    "ProjectContext",
    "ProjectScope",
    "admin_only",
    "api_routes",
    "in_projects",
    "public",
    "request_token",
    "requires",
    "route_permissions",
    "scope_for",
    "signed_in",
]


@dataclass(frozen=True, slots=True)
class Permission:
    """What a route needs: ``public``, ``user``, ``admin``, or ``project`` with a role."""

    kind: Literal["public", "user", "admin", "project"]
    role: Role | None = None

    def describe(self) -> str:
        """``public``, ``user``, ``admin`` or ``project:<role>``."""
        return f"project:{self.role.value}" if self.role is not None else self.kind


@dataclass(frozen=True, slots=True)
class ProjectContext:
    """An authorised request in a project: who, where, and the role they act with."""

    user: User
    project: str
    role: Role


@dataclass(frozen=True, slots=True)
class ProjectScope:
    """A signed-in user, the role a route needs, and the projects they act in (by project id).

    A route whose project is named by what it touches (a run's) asks ``require`` once it knows
    it; a search keeps to ``readable``. Roles may come from what the server process remembers
    (see ``access``); a refusal never does: before it says no, the scope reads the user's roles
    again (``reread``), so a project made or a role granted a moment ago is seen at once.
    """

    user: User
    needed: Role
    roles: Mapping[str, Role]
    names: Mapping[str, str]
    reread: Callable[[], ProjectScope] | None = field(default=None, compare=False, repr=False)
    _fresh: list[ProjectScope] = field(default_factory=list, compare=False, repr=False)

    def _current(self) -> ProjectScope | None:
        """The scope as the catalog has it now (read once), or ``None`` when this is it."""
        if self.reread is None:
            return None
        if not self._fresh:
            self._fresh.append(self.reread())
        return self._fresh[0]

    def role(self, project_id: str | None) -> Role | None:
        """The user's role in the project ``project_id``, or ``None`` when they are no member
        (a run of no project, from an old catalog, is for administrators)."""
        if project_id is None:
            return Role.ADMIN if self.user.is_admin else None
        found = self.roles.get(project_id)
        current = self._current() if found is None else None
        return found if current is None else current.role(project_id)

    def require(self, project_id: str | None, *, what: str) -> Role:
        """Check the needed role in ``project_id``.

        Raises:
            NotFoundError: The user is no member: ``what`` (e.g. ``run 'abc'``) is not found,
                exactly as if it did not exist.
            PermissionDeniedError: The user is a member with a lesser role.
        """
        role = self.role(project_id)
        if role is not None and role.allows(self.needed):
            return role
        current = self._current()
        if current is not None:
            return current.require(project_id, what=what)
        if role is None:
            raise NotFoundError(
                f"no {what}", hint="list runs with `labledger runs list`; ask for access if needed"
            )
        name = self.names.get(project_id or "", project_id)
        raise PermissionDeniedError(
            f"{self.user.name} is {role.value} in {name}; this needs {self.needed.value}",
            hint=higher_role_hint(self.user.name, self.needed.value, name),
        )

    def require_anywhere(self) -> None:
        """Check the user holds the needed role in some project: a route that writes where its
        body says refuses a user who may write nowhere, even when the body names nothing, as it
        would any body they sent.

        Raises:
            PermissionDeniedError: They hold it in no project.
        """
        if self.user.is_admin or any(r.allows(self.needed) for r in self.roles.values()):
            return
        current = self._current()
        if current is not None:
            current.require_anywhere()
            return
        held = sorted((self.names.get(p, p), r) for p, r in self.roles.items())
        where = ", ".join(f"{r.value} in {name}" for name, r in held) or "in no project"
        raise PermissionDeniedError(
            f"{self.user.name} is {where}; this needs {self.needed.value}",
            hint=higher_role_hint(
                self.user.name, self.needed.value, held[0][0] if len(held) == 1 else None
            ),
        )

    def allowed(self, project_id: str | None) -> bool:
        """Whether the user holds the needed role in ``project_id``."""
        role = self.role(project_id)
        if role is not None and role.allows(self.needed):
            return True
        current = self._current()
        return current is not None and current.allowed(project_id)

    def readable(self) -> tuple[str, ...]:
        """The ids of the projects the user may read, sorted."""
        return tuple(sorted(self.roles))

    def readable_now(self) -> tuple[str, ...]:
        """``readable``, read again from the catalog when it is empty (a role granted a moment
        ago counts at once)."""
        found = self.readable()
        current = self._current() if not found else None
        return found if current is None else current.readable()


def _service(request: Request) -> IdentityService:
    service: IdentityService = request.app.state.identity
    return service


def request_token(request: Request) -> str | None:
    """The bearer token the request signs in with, if it sends one."""
    return _bearer(request)


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, credentials = header.partition(" ")
    if scheme.lower() != "bearer" or not credentials.strip():
        raise AuthenticationError(
            "the Authorization header is not a bearer token",
            hint="send `Authorization: Bearer <token>`",
        )
    return credentials.strip()


def _loopback_name(netloc: str) -> bool:
    """Whether ``netloc`` (a Host header, or an Origin without its scheme) names this machine:
    ``localhost``, or a loopback address written as an address, with an optional port.

    Names that only start like one (``127.evil.example``, ``127.0.0.1.nip.io``) are not: a page
    can point such a name at 127.0.0.1 after it has loaded (DNS rebinding).
    """
    if "@" in netloc or "/" in netloc:
        return False
    host, port = netloc, ""
    if netloc.startswith("["):
        host, _, rest = netloc[1:].partition("]")
        port = rest.removeprefix(":") if rest.startswith(":") else rest
    elif netloc.count(":") == 1:
        host, port = netloc.split(":", 1)
    if port and not port.isdigit():
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _only_from_this_machine(request: Request) -> None:
    """Single-user mode signs nobody in, so it answers only requests addressed to this machine
    by name and not sent by a web page of another origin: a page that rebinds its name to
    127.0.0.1, or posts to it, gets nothing; nor does a page of another local server (another
    port of localhost). Only the server's own pages (same host and port) may call it."""
    origin = request.headers.get("origin")
    host = request.headers.get("host", "")
    origin_host = origin.split("://", 1)[-1] if origin else None
    if not _loopback_name(host) or (
        origin_host is not None and origin_host.lower() != host.lower()
    ):
        raise AuthenticationError(
            "this single-user server answers requests to 127.0.0.1 or localhost from this "
            "machine only, not from web pages of other sites",
            hint="call it as http://127.0.0.1:PORT, or create users and send an API token",
        )


def _access(request: Request) -> AccessCache:
    access: AccessCache = request.app.state.access
    return access


def _signed_in_as(request: Request, user: User) -> User:
    request.state.user = user
    request.state.user_name = user.name
    return user


def _known_user(request: Request) -> User | None:
    """The user a request signs in as, when this process knows it without reading the
    catalog; ``None`` when it must read it."""
    secret = _bearer(request)
    # Without a token (single-user mode), "no users yet" is read from the catalog every time.
    return _access(request).known_user(secret) if secret is not None else None


def _user(request: Request) -> User:
    cached = getattr(request.state, "user", None)
    if isinstance(cached, User):
        return cached
    secret = _bearer(request)
    if secret is not None:
        user = _access(request).user(secret)
    elif request.app.state.local_user is not None and not _access(request).has_users():
        _only_from_this_machine(request)
        user = request.app.state.local_user
    else:
        # Single-user mode ends for good once the workspace has users (they are never deleted,
        # only disabled): from then on, as after a restart, every request signs in.
        request.app.state.local_user = None
        raise AuthenticationError(
            "this server needs an API token",
            hint="send `Authorization: Bearer <token>`; make one with `labledger tokens create`",
        )
    return _signed_in_as(request, user)


class _Check:
    permission: Permission


class _Public(_Check):
    permission = Permission("public")

    def __call__(self) -> None:
        return None


class _SignedIn(_Check):
    permission = Permission("user")

    def __call__(self, request: Request) -> User:
        return _user(request)


class _Admin(_Check):
    permission = Permission("admin")

    def __call__(self, request: Request) -> User:
        user = _user(request)
        if not user.is_admin:
            raise PermissionDeniedError(
                "only workspace administrators may do this", hint="ask an administrator"
            )
        return user


class _InProject(_Check):
    def __init__(self, role: Role) -> None:
        self.permission = Permission("project", role)
        self.role = role

    def __call__(self, project: str, request: Request) -> ProjectContext:
        user = _user(request)
        role = _service(request).require(user, project, self.role)
        return ProjectContext(user, project, role)


class _InProjects(_Check):
    def __init__(self, role: Role) -> None:
        self.permission = Permission("project", role)
        self.role = role

    async def __call__(self, request: Request) -> ProjectScope:
        # A client that sends many requests a second is answered from what this process
        # remembers (see ``access``), without a trip to the thread pool; otherwise the catalog
        # is read in the pool, as a synchronous dependency would be.
        user = _known_user(request)
        visible = _access(request).known_projects(user) if user is not None else None
        if user is None or visible is None:
            return await run_in_threadpool(self._scope, request)
        access = _access(request)
        known = _signed_in_as(request, user)
        return self._of(known, visible, lambda: self._of(known, access.projects(known, fresh=True)))

    def _scope(self, request: Request) -> ProjectScope:
        user = _user(request)
        access = _access(request)
        if user is request.app.state.local_user:
            # Single-user mode reads "no users yet" every time, so it comes here every time:
            # its projects are remembered as a token user's are (a refusal re-reads them).
            known = access.projects(user)
            return self._of(user, known, lambda: self._of(user, access.projects(user, fresh=True)))
        return self._of(user, access.projects(user, fresh=True))

    def _of(
        self,
        user: User,
        visible: list[ProjectAccess],
        reread: Callable[[], ProjectScope] | None = None,
    ) -> ProjectScope:
        # An administrator is an administrator in every project, member or not.
        roles = {p.id: Role.ADMIN if user.is_admin else p.role for p in visible}
        return ProjectScope(
            user,
            self.role,
            {key: role for key, role in roles.items() if role is not None},
            {p.id: p.name for p in visible},
            reread,
        )


def scope_for(request: Request, user: User, role: Role) -> ProjectScope:
    """The projects ``user`` acts in needing ``role``, read fresh: for a route whose permission is
    the workspace's but whose data (a run) belongs to a project of its own."""
    return _InProjects(role)._of(user, _access(request).projects(user, fresh=True))


def public() -> Any:
    """Declare a route open to anyone."""
    return Depends(_Public())


def signed_in() -> Any:
    """Declare a route open to any signed-in user; the dependency gives the ``User``."""
    return Depends(_SignedIn())


def admin_only() -> Any:
    """Declare a route for workspace administrators; the dependency gives the ``User``."""
    return Depends(_Admin())


def requires(role: Role) -> Any:
    """Declare a project route needing ``role``; the dependency gives a ``ProjectContext``."""
    return Depends(_InProject(role))


def in_projects(role: Role) -> Any:
    """Declare a route needing ``role`` in the project of what it touches, which the route finds
    and checks with the ``ProjectScope`` the dependency gives."""
    return Depends(_InProjects(role))


def _walk(dependant: Dependant) -> list[Permission]:
    found: list[Permission] = []
    for sub in dependant.dependencies:
        if isinstance(sub.call, _Check):
            found.append(sub.call.permission)
        found.extend(_walk(sub))
    return found


def route_permissions(route: APIRoute) -> list[Permission]:
    """The permissions a route declares (exactly one on every route of this server)."""
    return _walk(route.dependant)


def api_routes(routes: Iterable[BaseRoute]) -> Iterator[APIRoute]:
    """Every API route in ``routes`` (an app's), looking inside included routers.

    Routers must carry their prefix themselves (``APIRouter(prefix=...)``), so each route's path is
    the one served.
    """
    from fastapi.routing import APIRoute

    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        included = getattr(route, "original_router", None)
        if included is not None:
            yield from api_routes(included.routes)
