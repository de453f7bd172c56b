"""Options shared by CLI commands, as ``Annotated`` aliases, and opening the workspace they name.

Every command that reads or writes a workspace takes ``workspace: WorkspaceOption = None`` and opens
it with ``with open_workspace(workspace) as ws:``, so ``--workspace/-w`` and ``LABLEDGER_URI`` work
the same everywhere.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from labledger.workspace.workspace import Workspace

__all__ = [
    "JsonOption",
    "LimitOption",
    "WideOption",
    "WorkspaceOption",
    "open_catalog",
    "open_workspace",
]

WorkspaceOption = Annotated[
    str | None,
    typer.Option(
        "--workspace",
        "-w",
        metavar="URI",
        envvar="LABLEDGER_URI",
        show_default=False,
        help=(
            "Workspace folder, database URL, or server URL (http://...); defaults to the "
            "nearest .labledger folder."
        ),
    ),
]
# A flag takes no value: an empty metavar keeps help from showing one.
JsonOption = Annotated[
    bool, typer.Option("--json", metavar="", help="Print JSON instead of a table.")
]
WideOption = Annotated[
    bool,
    typer.Option(
        "--wide",
        metavar="",
        help="Show every column and whole ids, however wide the table gets.",
    ),
]
LimitOption = Annotated[
    int, typer.Option("--limit", "-n", min=1, metavar="N", help="Show at most this many.")
]


def open_workspace(uri: str | None) -> Workspace:
    """Open the workspace named by ``--workspace`` (or found from settings); close it with ``with``."""
    from labledger.workspace.workspace import Workspace

    return Workspace.open(uri)


def open_catalog(uri: str | None) -> Workspace:
    """Open the workspace for commands that need its catalog alone (users, tokens, projects).

    A database URL then needs no blob store (``LABLEDGER_STORE``): what these commands touch
    lives in the catalog, and the store that stands in refuses every use.
    """
    from labledger._foundation.settings import resolve_settings
    from labledger.workspace.workspace import Workspace

    return Workspace.open(resolve_settings(uri, catalog_only=True))
