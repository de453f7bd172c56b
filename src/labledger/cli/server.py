"""``labledger server``: serve the workspace over HTTP (the ``server`` extra)."""

from __future__ import annotations

from typing import Annotated

import typer

from labledger.cli.console import command
from labledger.cli.options import WorkspaceOption  # noqa: TC001 (Typer reads it at runtime)

__all__ = ["server_command"]


@command
def server_command(
    host: Annotated[
        str, typer.Option("--host", metavar="ADDRESS", help="Address to listen on.")
    ] = "127.0.0.1",
    port: Annotated[
        int, typer.Option("--port", min=1, max=65535, metavar="PORT", help="Port to listen on.")
    ] = 8080,
    catalog: Annotated[
        str | None,
        typer.Option(
            "--catalog",
            metavar="URL",
            show_default=False,
            help="Catalog database of a team workspace (postgresql+psycopg://...), in place of "
            "--workspace.",
        ),
    ] = None,
    store: Annotated[
        str | None,
        typer.Option(
            "--store",
            metavar="URL",
            show_default=False,
            help="Blob store of a team workspace: s3://bucket/prefix or a shared folder "
            "(default: LABLEDGER_STORE).",
        ),
    ] = None,
    s3_endpoint_url: Annotated[
        str | None,
        typer.Option(
            "--s3-endpoint-url",
            metavar="URL",
            show_default=False,
            help="Endpoint of an S3-compatible server, not needed for AWS (default: "
            "LABLEDGER_S3_ENDPOINT_URL).",
        ),
    ] = None,
    no_migrate: Annotated[
        bool,
        typer.Option(
            "--no-migrate",
            metavar="",
            help="Refuse to start on a catalog that needs a migration instead of applying it.",
        ),
    ] = False,
    max_body_mb: Annotated[
        int,
        typer.Option(
            "--max-body-mb",
            min=1,
            metavar="MIB",
            help="Largest request body accepted, in MiB (blob uploads aside).",
        ),
    ] = 16,
    max_upload_mb: Annotated[
        int,
        typer.Option(
            "--max-upload-mb",
            min=1,
            metavar="MIB",
            help="Largest blob accepted in one upload, in MiB.",
        ),
    ] = 5 * 1024,
    workspace: WorkspaceOption = None,
) -> None:
    """Serve the workspace's JSON API under /api/v1 until stopped.

    Pending schema migrations are applied on start (several replicas may start at once). With no
    users, a loopback address runs in single-user mode (no sign-in; you act as yourself), and any
    other address is refused. Once users exist, every request needs an API token. On SIGTERM or
    Ctrl-C the server stops accepting, lets requests in flight finish, and exits.

    Example:

        labledger server --host 0.0.0.0 --catalog postgresql+psycopg://lab@db/ll --store s3://lab/ll
    """
    from labledger.server import open_served_workspace, serve
    from labledger.server.launch import require_server_extras
    from labledger.server.logs import configure_logging

    require_server_extras(catalog, store)  # before the workspace is opened (and logged)
    configure_logging()
    served = open_served_workspace(
        workspace,
        catalog=catalog,
        store=store,
        s3_endpoint_url=s3_endpoint_url,
        migrate=not no_migrate,
    )
    with served as ws:
        serve(ws, host=host, port=port, max_body_mb=max_body_mb, max_upload_mb=max_upload_mb)
