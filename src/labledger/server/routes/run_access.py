"""Which project a run belongs to, as the run routes authorise by it.

A run never changes project, so each server process remembers the answer (bounded); the first
request about a run reads it from the store. A run the user may not read is reported exactly as
one that does not exist.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from labledger._foundation.errors import NotFoundError, RunStateError, ValidationError

if TYPE_CHECKING:
    from collections.abc import Iterable

    from fastapi import Request

    from labledger.server.permissions import ProjectScope
    from labledger.stores.identity import Role, User
    from labledger.stores.runs import RunStore

__all__ = ["no_such_run", "project_of", "remember", "require_run", "require_runs_of", "run_store"]

_REMEMBERED = 100_000


def run_store(request: Request) -> RunStore:
    """The served workspace's run store."""
    return request.app.state.workspace.stores.runs  # type: ignore[no-any-return]


def no_such_run(ref: str) -> NotFoundError:
    """The error for a run that does not exist, or that the user may not see."""
    return NotFoundError(
        f"no run with id {ref!r}",
        hint="list runs with `labledger runs list`; a unique prefix of the id also works",
    )


def _known(request: Request) -> dict[str, str | None]:
    known: dict[str, str | None] | None = getattr(request.app.state, "run_projects", None)
    if known is None:
        known = request.app.state.run_projects = {}
    return known


def remember(request: Request, run_id: str, project_id: str | None) -> None:
    """Note the project of a run the route has read anyway."""
    known = _known(request)
    if len(known) >= _REMEMBERED:
        known.clear()
    known[run_id] = project_id


def project_of(request: Request, run_id: str) -> tuple[bool, str | None]:
    """``(exists, project id)`` of the run with the full id ``run_id``."""
    known = _known(request)
    if run_id in known:
        return True, known[run_id]
    try:
        found = run_store(request).get_runs([run_id])
    except (NotFoundError, ValidationError):
        return False, None
    if found[0].id != run_id:  # a prefix of another run's id: not this route's business
        return False, None
    remember(request, run_id, found[0].project_id)
    return True, found[0].project_id


def require_run(request: Request, scope: ProjectScope, run_id: str) -> None:
    """Check the route's role in the project of run ``run_id`` (a full id).

    Raises:
        NotFoundError: No such run, or the user is no member of its project.
        PermissionDeniedError: The user's role there is too low.
    """
    exists, project = project_of(request, run_id)
    if not exists or scope.role(project) is None:
        raise no_such_run(run_id)
    scope.require(project, what=f"run with id {run_id!r}")


def require_runs_of(
    request: Request, user: User, role: Role, run_ids: Iterable[str], *, running: bool = True
) -> None:
    """Check ``role`` in the project of each run of ``run_ids`` (full ids), for a route that
    records something into them (an artifact, a task, a pipeline record); with ``running``,
    each must still be running: a sealed record stays as sealed.

    Raises:
        NotFoundError: No such run, or the user is no member of its project.
        PermissionDeniedError: The user's role there is too low.
        RunStateError: A run has ended.
    """
    from labledger.server.permissions import scope_for

    wanted = list(dict.fromkeys(run_ids))
    if not wanted:
        return
    scope = scope_for(request, user, role)
    for run_id in wanted:
        require_run(request, scope, run_id)
    if not running:
        return
    live = {row.run_id for row in run_store(request).running(wanted)}
    for run_id in wanted:
        if run_id not in live:
            raise RunStateError(
                f"run {run_id} has ended; nothing more can be recorded into it",
                hint="start a new run; a sealed record stays as sealed",
            )
