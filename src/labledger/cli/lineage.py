"""``labledger lineage`` and ``labledger prov``: an artifact's lineage tree, a run's PROV-JSON."""

from __future__ import annotations

import json
from pathlib import Path  # noqa: TC003 - Typer reads the annotations at run time
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.text import Text

from labledger.cli.console import command, console, print_json
from labledger.cli.options import WorkspaceOption, open_workspace
from labledger.lineage.display import lineage_tree

if TYPE_CHECKING:
    from collections.abc import Mapping

    from labledger.lineage import LineageGraph

__all__ = ["lineage_command", "prov_command"]


@command
def lineage_command(
    artifact: Annotated[
        str,
        typer.Argument(
            metavar="ARTIFACT", help="Artifact id, unique id prefix, name (newest) or digest."
        ),
    ],
    up: Annotated[
        bool,
        typer.Option(
            "--up/--down",
            help="Show what the artifact was made from (--up) or what was made from it (--down).",
        ),
    ] = True,
    depth: Annotated[
        int | None,
        typer.Option(
            "--depth",
            "-d",
            min=0,
            metavar="N",
            show_default=False,
            help="Walk at most N steps (default: all the way).",
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the graph as JSON instead of a tree.")
    ] = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Show an artifact's lineage as a tree, coloured by reproducibility status.

    verified (green): re-executed with the same result; reproducible (blue): code, environment and inputs all captured; unverifiable (yellow): a step's code or environment was not captured, or it is not deterministic; broken (red): a blob it depends on is missing.

    Example:

        labledger lineage model.pkl --depth 3
    """
    from labledger.lineage import ancestors, descendants, graph_reproducibility

    walk = ancestors if up else descendants
    with open_workspace(workspace) as ws:
        graph = walk(artifact, depth=depth, workspace=ws)
        statuses = graph_reproducibility(graph, workspace=ws)
    if as_json:
        print_json(_as_document(graph, statuses))
    else:
        console.print(lineage_tree(graph, statuses))


@command
def prov_command(
    run: Annotated[str, typer.Argument(metavar="RUN", help="Run id or 8+ character prefix.")],
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            metavar="FILE",
            dir_okay=False,
            show_default=False,
            help="Write the document to FILE instead of printing it.",
        ),
    ] = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Export a run's provenance as a W3C PROV-JSON document.

    The run and its tasks are activities, artifacts are entities with their digests, and the user is the agent. Needs the prov package, which the interop extra of labledger installs.

    Example:

        labledger prov 0190a1b2 -o run.prov.json
    """
    from labledger.lineage import export_prov

    with open_workspace(workspace) as ws:
        document = export_prov(run, workspace=ws)
    text = json.dumps(document, indent=2, sort_keys=True)
    if output is None:
        typer.echo(text)
        return
    output.write_text(text + "\n", encoding="utf-8")
    console.print(Text(f"wrote {output}"), highlight=False)


def _as_document(graph: LineageGraph, statuses: Mapping[str, str]) -> dict[str, Any]:
    return {
        "root": graph.root,
        "direction": graph.direction,
        "depth": graph.depth,
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
                "reproducibility": str(statuses[node.id]) if node.id in statuses else None,
            }
            for node in graph.nodes
        ],
        "edges": graph.edges,
    }
