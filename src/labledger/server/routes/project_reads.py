"""Which projects a request may read, for routes whose records belong to projects by their own
row (artifacts) or by their run (pipeline tasks, lineage).

A workspace administrator reads every project (``None``: the store keeps to none). Anyone else
reads the projects where they hold a role; what lies in other projects is answered exactly as
what does not exist. Blobs belong to no project (they are shared by content): reading one needs a
role in some project, writing one an editor's role in some project (see docs/server.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from labledger._foundation.errors import PermissionDeniedError
from labledger.identity.service import higher_role_hint, no_role_error
from labledger.server.routes.run_access import project_of

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from fastapi import Request

    from labledger.server.permissions import ProjectScope

__all__ = ["readable_projects", "readable_runs", "require_some_project"]


def readable_projects(
    scope: ProjectScope, asked: Sequence[str] | None = None
) -> tuple[str, ...] | None:
    """The project ids a read keeps to: those the user reads, narrowed to ``asked`` when given;
    ``None`` for an administrator asking for every project.

    A project asked for that the user does not read is left out, as one that does not exist.
    """
    if scope.user.is_admin:
        return None if asked is None else tuple(sorted(set(asked)))
    readable = scope.readable_now()
    if asked is None:
        return readable
    wanted = set(asked)
    return tuple(project for project in readable if project in wanted)


def require_some_project(scope: ProjectScope) -> None:
    """Check that the user holds the route's role in at least one project (for a route over
    what no single project owns: blobs).

    Raises:
        NotFoundError: The user is a member of no project (said as for the default project).
        PermissionDeniedError: They are, but with a lesser role in each.
    """
    if scope.user.is_admin:
        return
    readable = scope.readable_now()
    if not readable:
        raise no_role_error(scope.user.name, "default")
    if any(scope.allowed(project) for project in readable):
        return
    raise PermissionDeniedError(
        f"{scope.user.name} is no {scope.needed.value} in any project",
        hint=higher_role_hint(scope.user.name, scope.needed.value),
    )


def readable_runs(request: Request, scope: ProjectScope, run_ids: Iterable[str]) -> set[str]:
    """Those of ``run_ids`` (full ids) that exist in a project the user may read."""
    found: set[str] = set()
    for run_id in set(run_ids):
        exists, project = project_of(request, run_id)
        if exists and scope.role(project) is not None:
            found.add(run_id)
    return found
