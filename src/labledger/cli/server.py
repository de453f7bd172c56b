"""``labledger server``: serve the workspace over HTTP (the ``server`` extra)."""

from __future__ import annotations

from typing import Annotated

import typer

from labledger.cli.console import command
from labledger.cli.options import WorkspaceOption, open_workspace

__all__ = ["server_command"]


@command
def server_command(
    host: Annotated[
        str, typer.Option("--host", metavar="ADDRESS", help="Address to listen on.")
    ] = "127.0.0.1",
    port: Annotated[
        int, typer.Option("--port", min=1, max=65535, metavar="PORT", help="Port to listen on.")
    ] = 8080,
    workspace: WorkspaceOption = None,
) -> None:
    """Serve the workspace's JSON API under /api/v1 until interrupted.

    With no users, a loopback address runs in single-user mode (no sign-in; you act as yourself),
    and any other address is refused. Once users exist, every request needs an API token.

    Example:

        labledger server --host 0.0.0.0 --port 8080
    """
    from labledger.server import serve

    with open_workspace(workspace) as ws:
        serve(ws, host=host, port=port)
