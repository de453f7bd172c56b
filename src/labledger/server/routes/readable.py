"""Finding things among the projects a user reads, for routes whose data (a run, an artifact, a
collection) belongs to a project of its own.

The store does the finding, kept to the projects given (``None``: every project, for workspace
administrators), so something of a project the user is no member of is not found: the answer is
the store's own "no such ..." (404), exactly as for something that does not exist, and an id
prefix is unique among what the user reads. A write that finds its target only among projects
the user reads but does not write to is a 403.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar

from labledger._foundation.errors import NotFoundError
from labledger.identity.service import no_role_error
from labledger.stores.identity import Role

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from labledger.server.permissions import ProjectScope

__all__ = ["find_in_projects", "narrowed", "projects_allowing", "readable_projects"]

T = TypeVar("T")


def projects_allowing(scope: ProjectScope, role: Role) -> tuple[str, ...] | None:
    """The ids of the projects where the user holds ``role``, sorted; ``None`` (every project)
    for a workspace administrator."""
    if scope.user.is_admin:
        return None
    return tuple(sorted(p for p, held in scope.roles.items() if held.allows(role)))


def readable_projects(scope: ProjectScope) -> tuple[str, ...] | None:
    """The projects the user reads (``None``: every project, for administrators), read again
    from the catalog when there are none.

    Raises:
        NotFoundError: The user reads no project at all; the error says how to get a role.
    """
    if scope.user.is_admin:
        return None
    readable = scope.readable_now()
    if not readable:
        # Every workspace has the default project, so naming it reveals nothing.
        raise no_role_error(scope.user.name, "default")
    return readable


def narrowed(allowed: Sequence[str] | None, asked: Sequence[str] | None) -> tuple[str, ...] | None:
    """The projects both ``allowed`` (the user's) and ``asked`` (by the client) name; ``None``
    for every project."""
    if asked is None:
        return None if allowed is None else tuple(allowed)
    if allowed is None:
        return tuple(dict.fromkeys(asked))
    return tuple(p for p in dict.fromkeys(asked) if p in set(allowed))


def find_in_projects(
    scope: ProjectScope, find: Callable[[tuple[str, ...] | None], T], *, what: str
) -> T:
    """``find(projects)`` among the projects where the user holds the scope's role.

    A refusal is never made from remembered roles: when nothing is found, the user's roles are
    read again and the search repeated. When a write finds nothing where the user writes, but
    the thing is in a project they only read, the answer is 403 rather than 404.

    Raises:
        NotFoundError: Nothing the user reads matches (``find``'s own error).
        PermissionDeniedError: It is there, but the user's role in its project is too low
            (``<user> is viewer in <project>; this needs editor``).
    """
    current = scope
    try:
        return find(projects_allowing(current, current.needed))
    except NotFoundError as error:
        missing: NotFoundError = error
    if scope.reread is not None:
        current = scope.reread()
        try:
            return find(projects_allowing(current, current.needed))
        except NotFoundError as error:
            missing = error
    if current.needed is Role.VIEWER or current.user.is_admin:
        raise missing
    # Not where the user writes: is it in a project they only read? Then say so, naming it.
    allowing = set(projects_allowing(current, current.needed) or ())
    for project in sorted(set(current.roles) - allowing):
        try:
            find((project,))
        except NotFoundError:
            continue
        current.require(project, what=what)
    raise missing
