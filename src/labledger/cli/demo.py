"""``labledger demo``: build a small example workspace to explore."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from labledger.cli.console import command, console

__all__ = ["demo"]


@command
def demo(
    path: Annotated[
        Path,
        typer.Option("--path", "-p", metavar="DIR", help="Folder to build the demo workspace in."),
    ] = Path("labledger-demo"),
) -> None:
    """Build a demo workspace with a few tracked runs and artifacts, then show what to try.

    Example:

        labledger demo --path /tmp/labledger-demo
    """
    from labledger.demo import run_demo

    run_demo(path, console=console)
