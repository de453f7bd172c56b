"""Lineage for other tools: a JSON document, Graphviz DOT, Mermaid, and SVG or PNG images.

Each export takes a ``LineageView`` (``lineage_view``) and colours its nodes by reproducibility
status with the same palette: verified green, reproducible blue, unverifiable yellow, broken red.
Edges always point the way data flowed (artifact to the task that read it, task to its output),
whichever way the graph was walked; the output edges of cached tasks are dashed. Images are drawn
by Graphviz's ``dot`` program, which must be installed (``apt-get install graphviz``,
``brew install graphviz``).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from typing import TYPE_CHECKING, Any, Literal

from labledger._foundation.display import short_ids
from labledger._foundation.errors import ConfigurationError

if TYPE_CHECKING:
    from collections.abc import Mapping

    from labledger.lineage.types import LineageNode
    from labledger.lineage.views import LineageView

__all__ = ["STATUS_COLOURS", "lineage_document", "render_image", "to_dot", "to_mermaid"]

STATUS_COLOURS: Mapping[str, tuple[str, str]] = {
    "verified": ("#c8e6c9", "#2e7d32"),
    "reproducible": ("#bbdefb", "#1565c0"),
    "unverifiable": ("#fff59d", "#f9a825"),
    "broken": ("#ffcdd2", "#c62828"),
}
"""Fill and border colour of a node of each reproducibility status."""

_UNKNOWN = ("#eeeeee", "#757575")
_RENDER_TIMEOUT_S = 120


def lineage_document(view: LineageView) -> dict[str, Any]:
    """The view as a JSON-able document: the graph, each node's status, and the runs behind it."""
    graph = view.graph
    return {
        "root": graph.root,
        "direction": graph.direction,
        "depth": graph.depth,
        "run": view.run,
        "latest": view.latest,
        "nodes": [
            {
                "id": node.id,
                "kind": node.kind,
                "name": node.name,
                "run_id": node.run_id,
                "digest": node.digest,
                "format": node.format,
                "step": node.step,
                "status": node.status,
                "cache_key": node.cache_key,
                "reproducibility": _status(view, node.id),
                "runs": list(view.runs.get(node.id, ())),
                "tasks": list(view.tasks.get(node.id, ())),
            }
            for node in graph.nodes
        ],
        "edges": [
            {"source": e.source, "target": e.target, "name": e.name, "cached": e.cached}
            for e in graph.edges
        ],
    }


def to_dot(view: LineageView, *, legend: bool = True) -> str:
    """The view as a Graphviz DOT digraph, nodes filled by status, the root drawn thicker.

    Node ids are the artifact and task ids; each node's ``tooltip`` holds its full details.

    Args:
        view: The lineage to draw.
        legend: Add a cluster ``cluster_legend`` with one node (``legend:<status>``) per status
            the graph shows.
    """
    labels = _labels(view)
    lines = [
        "digraph lineage {",
        '  rankdir=TB; fontname="Helvetica";',
        '  node [fontname="Helvetica", fontsize=11, style=filled];',
        '  edge [fontname="Helvetica", fontsize=9, color="#555555"];',
    ]
    for node in view.graph.nodes:
        fill, border = STATUS_COLOURS.get(_status(view, node.id) or "", _UNKNOWN)
        shape = "box" if node.kind == "artifact" else "ellipse"
        style = "filled,rounded" if node.kind == "artifact" else "filled"
        width = "3" if node.id == view.graph.root else "1"
        attributes = {
            "label": labels[node.id],
            "shape": shape,
            "style": style,
            "fillcolor": fill,
            "color": border,
            "penwidth": width,
            "tooltip": _tooltip(view, node),
        }
        lines.append(f"  {_dot_id(node.id)} [{_dot_attributes(attributes)}];")
    for edge in view.graph.edges:
        attributes = {"label": edge.name}
        if edge.cached:
            attributes["style"] = "dashed"
        lines.append(
            f"  {_dot_id(edge.source)} -> {_dot_id(edge.target)} [{_dot_attributes(attributes)}];"
        )
    shown = [s for s in STATUS_COLOURS if s in set(view.statuses.values())]
    if legend and shown:
        lines += ["  subgraph cluster_legend {", '    label="reproducibility"; fontsize=10;']
        for status in shown:
            fill, border = STATUS_COLOURS[status]
            attributes = {"label": status, "shape": "box", "fillcolor": fill, "color": border}
            lines.append(f"    {_dot_id('legend:' + status)} [{_dot_attributes(attributes)}];")
        lines.append("  }")
    lines.append("}")
    return "\n".join(lines) + "\n"


def to_mermaid(view: LineageView) -> str:
    """The view as a Mermaid flowchart: artifacts as boxes, tasks as stadiums, one class per status.

    Node ids are ``a_`` (artifacts) or ``t_`` (tasks) and the id with non-word characters as
    ``_``; output edges of cached tasks are dotted.
    """
    labels = _labels(view)
    mermaid_ids = {
        node.id: ("a_" if node.kind == "artifact" else "t_") + re.sub(r"\W", "_", node.id)
        for node in view.graph.nodes
    }
    lines = ["flowchart TB"]
    for node in view.graph.nodes:
        text = _mermaid_text(labels[node.id])
        shape = f'["{text}"]' if node.kind == "artifact" else f'(["{text}"])'
        lines.append(f"    {mermaid_ids[node.id]}{shape}")
    for edge in view.graph.edges:
        arrow = "-.->" if edge.cached else "-->"
        name = _mermaid_text(edge.name)
        source, target = mermaid_ids[edge.source], mermaid_ids[edge.target]
        lines.append(f'    {source} {arrow}|"{name}"| {target}')
    members: dict[str, list[str]] = {}
    for node in view.graph.nodes:
        members.setdefault(_status(view, node.id) or "unknown", []).append(mermaid_ids[node.id])
    for status, (fill, border) in (*STATUS_COLOURS.items(), ("unknown", _UNKNOWN)):
        if status in members:
            lines.append(f"    classDef {status} fill:{fill},stroke:{border},color:#000")
            lines.append(f"    class {','.join(members[status])} {status}")
    root = mermaid_ids.get(view.graph.root)
    if root is not None:
        lines.append(f"    style {root} stroke-width:3px")
    return "\n".join(lines) + "\n"


def render_image(view: LineageView, image_format: Literal["svg", "png"]) -> bytes:
    """The view drawn by Graphviz as an SVG or PNG image.

    Raises:
        ConfigurationError: Graphviz's ``dot`` program is not installed, or it failed.
    """
    dot = shutil.which("dot")
    if dot is None:
        raise ConfigurationError(
            "drawing a lineage image needs Graphviz's `dot` program, which is not installed",
            hint="install graphviz (apt-get install graphviz, brew install graphviz), "
            "or write the graph as text with --format dot or --format mermaid",
        )
    # A fixed program path and a fixed argument list; the graph goes in on stdin.
    done = subprocess.run(
        [dot, f"-T{image_format}"],
        input=to_dot(view).encode("utf-8"),
        capture_output=True,
        timeout=_RENDER_TIMEOUT_S,
        check=False,
    )
    if done.returncode != 0:
        message = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise ConfigurationError(
            f"Graphviz could not draw the graph: {message[-1] if message else 'no message'}",
            hint="check the Graphviz installation with `dot -V`, or use --format dot",
        )
    return done.stdout


def _status(view: LineageView, node_id: str) -> str | None:
    status = view.statuses.get(node_id)
    return None if status is None else str(status)


def _labels(view: LineageView) -> dict[str, str]:
    """Two lines per node: its name, then its format and short id, or its status and runs."""
    short = short_ids([n.id for n in view.graph.artifacts()])
    labels = {}
    for node in view.graph.nodes:
        if node.kind == "artifact":
            labels[node.id] = f"{node.name}\n{node.format} · {short[node.id]}"
            continue
        runs = view.runs.get(node.id, ())
        used = f"{len(runs)} runs" if len(runs) > 1 else f"run {(node.run_id or '')[:13]}"
        labels[node.id] = f"task {node.name}\n{node.status} · {used}"
    return labels


def _tooltip(view: LineageView, node: LineageNode) -> str:
    status = _status(view, node.id) or "unknown"
    if node.kind == "artifact":
        return f"artifact {node.id}\n{node.digest}\n{status}"
    runs = ", ".join(view.runs.get(node.id, ()))
    return f"task {node.id}\n{node.step}\n{status}\nruns: {runs}"


def _dot_id(identifier: str) -> str:
    return '"' + identifier.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _dot_attributes(attributes: Mapping[str, str]) -> str:
    # Every value quoted; a newline in a label is DOT's centred line break, "\n".
    return ", ".join(
        f"{key}={_dot_id(value).replace(chr(10), chr(92) + 'n')}"
        for key, value in attributes.items()
    )


def _mermaid_text(text: str) -> str:
    return text.replace('"', "#quot;").replace("\n", "<br/>")
