"""``labledger runs plot``: metric curves of runs into a PNG image or an HTML page."""

from __future__ import annotations

from pathlib import Path  # noqa: TC003 - Typer reads the annotations at run time
from typing import Annotated

import typer
from rich.text import Text

from labledger.cli.console import command, console
from labledger.cli.options import WorkspaceOption, open_workspace

__all__ = ["plot_command"]


@command
def plot_command(
    run_ids: Annotated[
        list[str],
        typer.Argument(
            metavar="RUN...",
            help="Run ids, or unique prefixes as tables show them.",
            show_default=False,
        ),
    ],
    metric: Annotated[
        list[str],
        typer.Option(
            "--metric",
            "-m",
            metavar="NAME",
            help="Metric to draw, one panel each; repeatable.",
            show_default=False,
        ),
    ],
    output: Annotated[
        Path,
        typer.Option(
            "--output",
            "-o",
            metavar="FILE",
            dir_okay=False,
            help="curves.png (an image; needs matplotlib) or curves.html (a self-contained page).",
            show_default=False,
        ),
    ],
    workspace: WorkspaceOption = None,
) -> None:
    """Draw metric curves: value against step, one line per run, one panel per metric.

    The legend names each run with its short id. A .png file is drawn with matplotlib (the ml extra of labledger installs it); an .html file is a page with inline SVG that opens offline.

    Example:

        labledger runs plot 0190a1b2 0190a1c7 --metric loss --metric auc -o curves.png
    """
    from labledger.tracking import plot_metrics

    with open_workspace(workspace) as ws:
        written = plot_metrics(run_ids, metric, output, workspace=ws)
    console.print(Text(f"wrote {written}"), highlight=False)
