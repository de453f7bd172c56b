"""``labledger tokens``: create, list and revoke API tokens for a team server."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.text import Text

from labledger.cli.console import (
    command,
    console,
    err_console,
    format_time,
    print_json,
    print_table,
)
from labledger.cli.options import JsonOption, WorkspaceOption, open_catalog

__all__ = ["app"]

app = typer.Typer(
    help=(
        "Create, list and revoke the API tokens that sign requests to `labledger server`.\n\n"
        "Example:\n\n"
        "    labledger tokens create --user alice --name laptop"
    ),
    no_args_is_help=True,
    add_completion=False,
)

UserOption = Annotated[
    str | None,
    typer.Option(
        "--user",
        metavar="NAME",
        show_default=False,
        help="Whose tokens; defaults to LABLEDGER_USER or your login name.",
    ),
]


@app.command("create")
@command
def create(
    name: Annotated[str, typer.Option("--name", metavar="LABEL", help="What the token is for.")],
    user: UserOption = None,
    expires_in_days: Annotated[
        float | None,
        typer.Option(
            "--expires-in-days",
            min=0.0,
            metavar="DAYS",
            show_default=False,
            help="Let the token expire after this many days; by default it never does.",
        ),
    ] = None,
    as_json: JsonOption = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Create an API token and print its secret, once: it is stored only as a hash.

    The secret alone goes to standard output (what to do with it, to standard error), so
    TOKEN=$(labledger tokens create ...) keeps just the secret; --json prints the token and
    its secret as one object.

    Example:

        labledger tokens create --user alice --name laptop --expires-in-days 90
    """
    from labledger.identity import IdentityService

    lifetime = None if expires_in_days is None else expires_in_days * 86_400
    with open_catalog(workspace) as ws:
        issued = IdentityService(ws.stores.identity).issue_token(
            user or ws.actor, name, by=ws.actor, expires_in_s=lifetime
        )
    if as_json:
        print_json({"token": issued.token, "secret": issued.secret})
        return
    err_console.print(
        Text(f"created token {issued.token.id}; copy the secret now, it is not shown again:"),
        style="green",
    )
    typer.echo(issued.secret)


@app.command("list")
@command
def list_tokens(
    user: UserOption = None, as_json: JsonOption = False, workspace: WorkspaceOption = None
) -> None:
    """List a user's tokens (never their secrets).

    Example:

        labledger tokens list --user alice --json
    """
    import time

    from labledger.identity import IdentityService

    with open_catalog(workspace) as ws:
        tokens = IdentityService(ws.stores.identity).list_tokens(user or ws.actor)
    if as_json:
        print_json(tokens)
        return
    now = time.time()

    def state(active: bool, revoked: float | None) -> str:
        return "active" if active else ("revoked" if revoked is not None else "expired")

    rows = [
        [
            t.id,
            t.name,
            state(t.active(now), t.revoked_at),
            format_time(t.created_at),
            format_time(t.expires_at) if t.expires_at is not None else "never",
            format_time(t.last_used_at) if t.last_used_at is not None else "",
        ]
        for t in tokens
    ]
    print_table(
        None,
        ["id", "name", "status", "created", "expires", "last used"],
        rows,
        empty="no tokens",
        markup=False,
        no_wrap=["id"],
    )


@app.command("revoke")
@command
def revoke(
    token_id: Annotated[str, typer.Argument(metavar="TOKEN_ID", help="The token's id.")],
    workspace: WorkspaceOption = None,
) -> None:
    """Revoke a token: requests signed with it fail from now on.

    Example:

        labledger tokens revoke 0190a1b2-...
    """
    from labledger.identity import IdentityService, local_user

    with open_catalog(workspace) as ws:
        token = IdentityService(ws.stores.identity).revoke_token(
            token_id, actor=local_user(ws.actor)
        )
    console.print(Text(f"revoked token {token.id} ({token.name})", style="green"))
