"""Lineage as people read it: repeated work folded into one node, optionally cut to one run.

Every re-run of a pipeline records its cached tasks again, so the descendants of a source soon
hold the same step with the same cache key many times over. ``collapse_tasks`` folds the tasks of
one step and one cache key (the same work, whoever asked for it) into one node that remembers
which runs used it. ``within_run`` keeps only what one run read and wrote, ``latest_only`` only the
newest run's use of each step, and ``lineage_view`` does the walk, the cuts, the statuses and the
folding in one call.
"""

from __future__ import annotations

from collections import defaultdict, deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from labledger.lineage.queries import ancestors, descendants, run_lineage
from labledger.lineage.status import graph_reproducibility
from labledger.lineage.types import LineageEdge, LineageGraph, LineageNode

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from labledger.lineage.types import ReproStatus
    from labledger.workspace.workspace import Workspace

__all__ = ["LineageView", "collapse_tasks", "latest_only", "lineage_view", "within_run"]

# Which task of a folded group stands for it: one that ran before one that reused, then the oldest.
_STATUS_RANK = {"finished": 0, "cached": 1}


@dataclass(frozen=True, slots=True)
class LineageView:
    """A lineage graph ready to show: its nodes' statuses, and the runs behind each task node.

    Attributes:
        graph: The graph; after folding, one task node per step and cache key.
        statuses: Each node's reproducibility status, by node id.
        runs: For each task node, the ids of the runs whose tasks it stands for, oldest first.
        tasks: For each task node, the ids of the tasks it stands for, itself first.
        run: The run the graph was cut to, if any.
        latest: True when only the newest run's use of each step was kept.
    """

    graph: LineageGraph
    statuses: Mapping[str, ReproStatus]
    runs: Mapping[str, tuple[str, ...]]
    tasks: Mapping[str, tuple[str, ...]]
    run: str | None = None
    latest: bool = False


def lineage_view(
    artifact_ref: str,
    *,
    direction: Literal["up", "down"] = "up",
    depth: int | None = None,
    run: str | None = None,
    latest: bool = False,
    collapse: bool = True,
    workspace: Workspace | None = None,
) -> LineageView:
    """An artifact's lineage with statuses, cut and folded for reading.

    Args:
        artifact_ref: An artifact id, unique id prefix, name (the newest of that name) or digest.
        direction: ``"up"`` for what it was made from, ``"down"`` for what was made from it.
        depth: Walk at most this many steps; ``None`` walks all the way.
        run: Keep only the lineage within this run (an id or a unique prefix): its tasks, cached
            ones included, and what they read and wrote.
        latest: Keep only the newest run's use of each step.
        collapse: Fold tasks of the same step and cache key into one node.
        workspace: Defaults to the current workspace.

    Raises:
        NotFoundError: No artifact matches ``artifact_ref``, or no run matches ``run``.
        ValidationError: ``depth`` is negative, or an id prefix is ambiguous.
    """
    walk = ancestors if direction == "up" else descendants
    graph = walk(artifact_ref, depth=depth, workspace=workspace)
    run_id = None
    if run is not None:
        run_graph = run_lineage(run, workspace=workspace)
        run_id = run_graph.root
        graph = within_run(graph, run_graph)
    if latest:
        graph = latest_only(graph)
    statuses = graph_reproducibility(graph, workspace=workspace)
    if collapse:
        view = collapse_tasks(graph, statuses)
    else:
        view = LineageView(
            graph,
            statuses,
            {n.id: (n.run_id,) for n in graph.tasks() if n.run_id is not None},
            {n.id: (n.id,) for n in graph.tasks()},
        )
    return LineageView(view.graph, view.statuses, view.runs, view.tasks, run_id, latest)


def within_run(graph: LineageGraph, run_graph: LineageGraph) -> LineageGraph:
    """``graph``'s root and what reaches it (or what it reaches) through one run's graph.

    Args:
        graph: An artifact's ancestors or descendants; gives the root, direction and depth.
        run_graph: The run's graph (``run_lineage``), whose cached tasks ``ancestors`` never shows.
    """
    root = graph.node(graph.root)
    nodes = {node.id: node for node in run_graph.nodes}
    nodes[root.id] = root
    ordered = tuple(sorted(nodes.values(), key=lambda n: (n.kind != "artifact", n.id)))
    whole = LineageGraph(graph.root, graph.direction, graph.depth, ordered, run_graph.edges)
    return reachable(whole)


def latest_only(graph: LineageGraph) -> LineageGraph:
    """Only the newest run's tasks of each step, and what is still connected to the root.

    Run ids are time-ordered, so the newest run of a step is the greatest id among its tasks.
    """
    newest: dict[str | None, str] = {}
    for task in graph.tasks():
        if task.run_id is not None and task.run_id > newest.get(task.step, ""):
            newest[task.step] = task.run_id
    dropped = {t.id for t in graph.tasks() if t.run_id != newest.get(t.step, t.run_id)}
    return reachable(_without(graph, dropped))


def reachable(graph: LineageGraph) -> LineageGraph:
    """The part of ``graph`` its walk reaches from the root, within its depth.

    ``up`` follows edges against their direction, ``down`` along it; a step is one task crossed.
    A graph whose root is not one of its nodes (a run's graph) is returned as it is.
    """
    ids = {node.id for node in graph.nodes}
    if graph.root not in ids:
        return graph
    up = graph.direction == "up"
    following: dict[str, list[str]] = defaultdict(list)
    for edge in graph.edges:
        start, end = (edge.target, edge.source) if up else (edge.source, edge.target)
        following[start].append(end)
    kinds = {node.id: node.kind for node in graph.nodes}
    steps = {graph.root: 0}
    pending = deque([graph.root])
    while pending:
        node_id = pending.popleft()
        for after in following[node_id]:
            taken = steps[node_id] + (kinds.get(after) == "task")
            if after in steps or (graph.depth is not None and taken > graph.depth):
                continue
            steps[after] = taken
            pending.append(after)
    return _without(graph, ids - steps.keys())


def collapse_tasks(graph: LineageGraph, statuses: Mapping[str, ReproStatus]) -> LineageView:
    """Fold the tasks of one step and one cache key into a single node.

    The node kept for a group is a task that ran (rather than one answered from the cache), the
    oldest if several did; its status stands for the group. Output edges that any task of the
    group made are made, not cached.

    Args:
        graph: Any lineage graph.
        statuses: The graph's statuses (``graph_reproducibility``).
    """
    groups: dict[tuple[str | None, str], list[LineageNode]] = defaultdict(list)
    for task in graph.tasks():
        groups[(task.step, task.cache_key or task.id)].append(task)
    kept: dict[str, str] = {}
    runs: dict[str, tuple[str, ...]] = {}
    tasks: dict[str, tuple[str, ...]] = {}
    for members in groups.values():
        members.sort(key=lambda t: (_STATUS_RANK.get(t.status or "", 2), t.id))
        head = members[0].id
        for member in members:
            kept[member.id] = head
        tasks[head] = tuple(m.id for m in members)
        runs[head] = tuple(sorted({m.run_id for m in members if m.run_id is not None}))
    cached: dict[tuple[str, str, str], bool] = {}
    for edge in graph.edges:
        key = (kept.get(edge.source, edge.source), kept.get(edge.target, edge.target), edge.name)
        cached[key] = cached.get(key, True) and edge.cached
    nodes = tuple(n for n in graph.nodes if n.kind == "artifact" or kept[n.id] == n.id)
    edges = tuple(LineageEdge(s, t, name, flag) for (s, t, name), flag in sorted(cached.items()))
    folded = LineageGraph(graph.root, graph.direction, graph.depth, nodes, edges)
    shown = {n.id for n in nodes}
    return LineageView(folded, {k: v for k, v in statuses.items() if k in shown}, runs, tasks)


def _without(graph: LineageGraph, dropped: Iterable[str]) -> LineageGraph:
    gone = set(dropped)
    return LineageGraph(
        graph.root,
        graph.direction,
        graph.depth,
        tuple(n for n in graph.nodes if n.id not in gone),
        tuple(e for e in graph.edges if e.source not in gone and e.target not in gone),
    )
