"""Reading lineage: the ancestors or descendants of an artifact, and the graph of one run."""

from __future__ import annotations

from typing import TYPE_CHECKING

from labledger._foundation.errors import ValidationError
from labledger.workspace.current import get_workspace

if TYPE_CHECKING:
    from labledger.lineage.types import Direction, LineageGraph
    from labledger.workspace.workspace import Workspace

__all__ = ["ancestors", "descendants", "run_lineage"]

_MAX_DEPTH = 1_000_000


def ancestors(
    artifact_ref: str, *, depth: int | None = None, workspace: Workspace | None = None
) -> LineageGraph:
    """What an artifact was made from: its producing task, that task's inputs, and so on up.

    Only the task that produced an artifact is followed, never the cached tasks that reused it.

    Args:
        artifact_ref: An artifact id, unique id prefix, name (the newest of that name) or digest.
        depth: Walk at most this many steps (``1``: the producing task and its inputs);
            ``None`` walks to the sources.
        workspace: Defaults to the current workspace.

    Raises:
        NotFoundError: No artifact matches ``artifact_ref``.
        ValidationError: ``depth`` is negative, or an id prefix is ambiguous.
    """
    return _walk_from(artifact_ref, "up", depth, workspace)


def descendants(
    artifact_ref: str, *, depth: int | None = None, workspace: Workspace | None = None
) -> LineageGraph:
    """What was made from an artifact: every task that read it, their outputs, and so on down.

    Cached tasks that read it are included, with their output edges marked ``cached``.

    Args:
        artifact_ref: An artifact id, unique id prefix, name (the newest of that name) or digest.
        depth: Walk at most this many steps (``1``: the tasks that read it and their outputs);
            ``None`` walks to the leaves.
        workspace: Defaults to the current workspace.

    Raises:
        NotFoundError: No artifact matches ``artifact_ref``.
        ValidationError: ``depth`` is negative, or an id prefix is ambiguous.
    """
    return _walk_from(artifact_ref, "down", depth, workspace)


def run_lineage(run_id: str, *, workspace: Workspace | None = None) -> LineageGraph:
    """One run's graph: its tasks, every artifact they read or wrote, and the artifacts it logged.

    Args:
        run_id: A run id or a unique prefix of 8 or more characters.
        workspace: Defaults to the current workspace.

    Raises:
        NotFoundError: No run matches ``run_id``.
    """
    ws = workspace or get_workspace()
    return ws.stores.lineage.walk(run_id, "run")


def _walk_from(
    ref: str, direction: Direction, depth: int | None, workspace: Workspace | None
) -> LineageGraph:
    if depth is not None and depth < 0:
        raise ValidationError(f"depth {depth} is negative", hint="pass 0 or more, or no depth")
    if depth is not None and depth > _MAX_DEPTH:
        raise ValidationError(
            f"depth {depth} is more than {_MAX_DEPTH:,}", hint="pass no depth to walk all the way"
        )
    ws = workspace or get_workspace()
    return ws.stores.lineage.walk(ref, direction, depth)
