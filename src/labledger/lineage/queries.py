"""Reading lineage: the ancestors or descendants of an artifact, and the graph of one run."""

from __future__ import annotations

import operator
from typing import TYPE_CHECKING

from sqlalchemy import select

from labledger._foundation.errors import NotFoundError, ValidationError
from labledger.lineage.idsets import id_set
from labledger.lineage.reading import lineage_reader
from labledger.lineage.traversal import run_walk, walk
from labledger.lineage.types import LineageEdge, LineageGraph, LineageNode
from labledger.workspace import schema
from labledger.workspace.current import get_workspace
from labledger.workspace.lookup import find_artifact, find_by_id

if TYPE_CHECKING:
    from collections.abc import Iterable

    from sqlalchemy import Connection

    from labledger.lineage.traversal import Walk
    from labledger.lineage.types import Direction
    from labledger.workspace.workspace import Workspace

__all__ = ["ancestors", "descendants", "read_graph", "resolve_run", "run_lineage"]

_a, _t = schema.artifacts, schema.tasks
_first = operator.itemgetter(0)  # sorting rows by id; rows compare slowly as a whole


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
    with lineage_reader(ws) as conn:
        run = resolve_run(conn, run_id)
        logged = conn.execute(select(_a.c.id).where(_a.c.run_id == run)).scalars().all()
        return read_graph(conn, run_walk(run), root=run, direction="run", depth=None, loose=logged)


def resolve_run(conn: Connection, ref: str) -> str:
    """The id of the run ``ref`` names (an id or a unique prefix).

    Raises:
        NotFoundError: No run matches.
    """
    row = find_by_id(conn, schema.runs, ref, what="run")
    if row is None:
        raise NotFoundError(f"no run with id {ref!r}", hint="list runs with `labledger runs list`")
    return str(row.id)


def _walk_from(
    ref: str, direction: Direction, depth: int | None, workspace: Workspace | None
) -> LineageGraph:
    if depth is not None and depth < 0:
        raise ValidationError(f"depth {depth} is negative", hint="pass 0 or more, or no depth")
    ws = workspace or get_workspace()
    with lineage_reader(ws) as conn:
        root = str(find_artifact(conn, ref).id)
        steps = walk(direction, root, depth)
        return read_graph(conn, steps, root=root, direction=direction, depth=depth, loose=[root])


def read_graph(
    conn: Connection,
    steps: Walk,
    *,
    root: str,
    direction: Direction,
    depth: int | None,
    loose: Iterable[str] = (),
) -> LineageGraph:
    """Assemble the graph a walk describes: its edges, then the details of their ends by id.

    Args:
        conn: A catalog connection.
        steps: The walk.
        root: The graph's root.
        direction: The walk's direction.
        depth: The walk's depth limit.
        loose: Artifact ids that belong in the graph even without an edge (the root, or the
            artifacts a run logged outside its tasks).
    """
    found: list[tuple[str, str, str, bool]] = []
    artifact_ids, task_ids = set(loose), set()
    # Plain tuples: attribute access on rows costs more than the query on large graphs.
    for artifact, task, name, output, cached in conn.execute(steps.edges).all():
        artifact_ids.add(artifact)
        task_ids.add(task)
        found.append(
            (task, artifact, name, bool(cached)) if output else (artifact, task, name, False)
        )
    found.sort()
    artifacts = conn.execute(
        select(_a.c.id, _a.c.name, _a.c.run_id, _a.c.digest, _a.c.format).where(
            _a.c.id.in_(id_set(conn, artifact_ids))
        )
    ).all()
    tasks = conn.execute(
        select(_t.c.id, _t.c.node, _t.c.run_id, _t.c.step, _t.c.status, _t.c.cache_key).where(
            _t.c.id.in_(id_set(conn, task_ids))
        )
    ).all()
    nodes = [
        LineageNode(a_id, "artifact", name, run_id, digest, fmt)
        for a_id, name, run_id, digest, fmt in sorted(artifacts, key=_first)
    ]
    nodes += [
        LineageNode(t_id, "task", node, run_id, step=step, status=status, cache_key=key)
        for t_id, node, run_id, step, status, key in sorted(tasks, key=_first)
    ]
    return LineageGraph(
        root, direction, depth, tuple(nodes), tuple(LineageEdge(*edge) for edge in found)
    )
