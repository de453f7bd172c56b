"""Drawing a lineage graph for people: a Rich tree coloured by reproducibility status.

Shared by the command line and the demo; the graph itself comes from ``ancestors``/``descendants``
or, folded and cut for reading, from ``lineage_view``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from rich.tree import Tree

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from labledger.lineage.types import LineageGraph, LineageNode

__all__ = ["STATUS_STYLES", "lineage_tree"]

STATUS_STYLES = {
    "verified": "green",
    "reproducible": "blue",
    "unverifiable": "yellow",
    "broken": "red",
}


def _label(node: LineageNode, status: str | None, *, repeated: bool, runs: int) -> Text:
    style = STATUS_STYLES.get(status or "", "")
    text = Text()
    if node.kind == "artifact":
        text.append(node.name, style=f"bold {style}")
        text.append(f"  {node.format}  {node.id}", style="dim")
    else:
        text.append(f"task {node.name}", style=style)
        text.append(f"  {node.step}  {node.status}", style="dim")
        if runs > 1:
            text.append(f"  in {runs} runs", style="dim")
    text.append(f"  {status or 'unknown'}", style=style)
    if repeated:
        text.append("  (shown above)", style="dim")
    return text


def lineage_tree(
    graph: LineageGraph,
    statuses: Mapping[str, str],
    *,
    runs: Mapping[str, Sequence[str]] | None = None,
) -> Tree:
    """A Rich tree of a graph from its root; a node reached again is named, not expanded again.

    Args:
        graph: The graph to draw.
        statuses: Each node's reproducibility status, by id.
        runs: For task nodes that stand for several tasks (``LineageView.runs``), the runs that
            used them; a node used by more than one says how many.
    """
    used = {node_id: len(ids) for node_id, ids in (runs or {}).items()}
    nodes = {node.id: node for node in graph.nodes}
    children: dict[str, list[str]] = {}
    for edge in graph.edges:
        up = graph.direction == "up"
        parent, child = (edge.target, edge.source) if up else (edge.source, edge.target)
        children.setdefault(parent, []).append(child)
    for siblings in children.values():
        # Names, then ids (time-ordered): a task comes before the cached tasks that reused it.
        siblings.sort(key=lambda i: (nodes[i].name, i), reverse=True)
    root = nodes[graph.root]
    tree = Tree(_label(root, statuses.get(root.id), repeated=False, runs=used.get(root.id, 1)))
    shown = {root.id}
    # Depth first, in reading order, without recursion: a lineage can be thousands of steps deep.
    pending: list[tuple[Tree, str]] = [(tree, child) for child in children.get(root.id, [])]
    while pending:
        above, node_id = pending.pop()
        repeated = node_id in shown
        label = _label(
            nodes[node_id], statuses.get(node_id), repeated=repeated, runs=used.get(node_id, 1)
        )
        branch = above.add(label)
        if not repeated:
            shown.add(node_id)
            pending += [(branch, child) for child in children.get(node_id, [])]
    return tree
