"""``labledger lineage`` and ``labledger prov``: an artifact's lineage (tree, graph, image), a run's PROV-JSON."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path  # noqa: TC003 - Typer reads the annotations at run time
from typing import TYPE_CHECKING, Annotated

import typer
from rich.text import Text

from labledger.cli.console import command, console, print_uncut
from labledger.cli.options import WorkspaceOption, open_workspace
from labledger.lineage.display import STATUS_STYLES, lineage_tree

if TYPE_CHECKING:
    from labledger.lineage import LineageView

__all__ = ["LineageFormat", "lineage_command", "prov_command"]


class LineageFormat(StrEnum):
    """What ``labledger lineage`` writes."""

    TEXT = "text"
    JSON = "json"
    DOT = "dot"
    MERMAID = "mermaid"
    SVG = "svg"
    PNG = "png"


_SUFFIXES = {
    ".json": LineageFormat.JSON,
    ".dot": LineageFormat.DOT,
    ".gv": LineageFormat.DOT,
    ".mmd": LineageFormat.MERMAID,
    ".mermaid": LineageFormat.MERMAID,
    ".svg": LineageFormat.SVG,
    ".png": LineageFormat.PNG,
}


@command
def lineage_command(
    artifact: Annotated[
        str,
        typer.Argument(
            metavar="ARTIFACT",
            help="Artifact id, unique id prefix, name (newest), digest or digest prefix.",
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
    run: Annotated[
        str | None,
        typer.Option(
            "--run",
            metavar="RUN",
            show_default=False,
            help="Only the lineage within this run (id, or a unique prefix as tables show it), cached tasks included.",
        ),
    ] = None,
    latest: Annotated[
        bool, typer.Option("--latest", help="Only the newest run's use of each step.")
    ] = False,
    collapse: Annotated[
        bool,
        typer.Option(
            "--collapse/--no-collapse",
            help="Fold tasks of the same step and cache key into one node, or show every task.",
        ),
    ] = True,
    output_format: Annotated[
        LineageFormat | None,
        typer.Option(
            "--format",
            "-f",
            metavar="FORMAT",
            show_default=False,
            help="text (the tree), json, dot, mermaid, or svg or png (images drawn by Graphviz); "
            "without it, the --output suffix decides.",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Same as --format json.")] = False,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            metavar="FILE",
            dir_okay=False,
            show_default=False,
            help="Write to FILE instead of printing (needed for png).",
        ),
    ] = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Show an artifact's lineage as a tree, coloured by reproducibility status, or export it.

    verified (green): re-executed with the same result; reproducible (blue): code, environment and inputs all captured; unverifiable (yellow): a step's code or environment was not captured, it is not deterministic, its run cannot be re-executed, or an input was kept by reference only; broken (red): a blob it depends on is missing. The tree ends with the reasons when the artifact is unverifiable or broken.

    Tasks of the same step and cache key (one piece of work reused by later runs) show as one node that says how many runs used it.

    Example:

        labledger lineage raw.csv --down --latest -o lineage.svg
    """
    from labledger.lineage import explain_status, lineage_view

    chosen = _chosen_format(output_format, as_json, output)
    with open_workspace(workspace) as ws:
        view = lineage_view(
            artifact,
            direction="up" if up else "down",
            depth=depth,
            run=run,
            latest=latest,
            collapse=collapse,
            workspace=ws,
        )
        why = (
            explain_status(view.graph.root, workspace=ws) if chosen is LineageFormat.TEXT else None
        )
    if why is not None:
        print_uncut(lineage_tree(view.graph, view.statuses, runs=view.runs))
        if why.status in ("unverifiable", "broken"):
            console.print(Text(f"{why.status} because:", style=STATUS_STYLES[why.status]))
            for reason in why.reasons:
                console.print(Text(f"  - {reason}"), soft_wrap=True)
        return
    content = _export(view, chosen)
    if output is None:
        typer.echo(content.decode("utf-8"), nl=False)
        return
    output.write_bytes(content)
    console.print(Text(f"wrote {output}"), highlight=False)


def _chosen_format(
    output_format: LineageFormat | None, as_json: bool, output: Path | None
) -> LineageFormat:
    from labledger._foundation.errors import ValidationError

    if as_json:
        if output_format not in (None, LineageFormat.JSON):
            raise ValidationError("--json and --format disagree", hint="pass one of them")
        output_format = LineageFormat.JSON
    if output_format is None and output is not None:
        output_format = _SUFFIXES.get(output.suffix.lower())
        if output_format is None:
            raise ValidationError(
                f"cannot tell a format from the file name {output.name!r}",
                hint="pass --format json|dot|mermaid|svg|png, or end the name with one of "
                + ", ".join(sorted(_SUFFIXES)),
            )
    chosen = output_format or LineageFormat.TEXT
    if chosen is LineageFormat.TEXT and output is not None:
        raise ValidationError(
            "the text tree is for the terminal", hint="pick --format json|dot|mermaid|svg|png"
        )
    if chosen is LineageFormat.PNG and output is None:
        raise ValidationError("a PNG image needs a file", hint="add -o lineage.png")
    return chosen


def _export(view: LineageView, chosen: LineageFormat) -> bytes:
    from labledger.lineage import lineage_document, render_image, to_dot, to_mermaid

    if chosen is LineageFormat.JSON:
        return (json.dumps(lineage_document(view), indent=2) + "\n").encode("utf-8")
    if chosen is LineageFormat.DOT:
        return to_dot(view).encode("utf-8")
    if chosen is LineageFormat.MERMAID:
        return to_mermaid(view).encode("utf-8")
    return render_image(view, "svg" if chosen is LineageFormat.SVG else "png")


@command
def prov_command(
    run: Annotated[
        str, typer.Argument(metavar="RUN", help="Run id, or a unique prefix as tables show it.")
    ],
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
