"""``labledger users``: create, list, disable the users of a team server and set their passwords
(create and list also through the server itself, ``-w http://...``)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer
from rich.text import Text

from labledger.cli.console import command, console, format_time, print_json, print_table
from labledger.cli.options import JsonOption, WorkspaceOption, open_catalog

if TYPE_CHECKING:
    from labledger.workspace.workspace import Workspace

__all__ = ["app"]

app = typer.Typer(
    help=(
        "Create, list and disable the users who sign in to `labledger server`, and set their "
        "passwords.\n\n"
        "Example:\n\n"
        "    labledger users create alice --admin"
    ),
    no_args_is_help=True,
    add_completion=False,
)


@app.command("create")
@command
def create(
    name: Annotated[str, typer.Argument(metavar="NAME", help="The user's login name.")],
    display_name: Annotated[
        str, typer.Option("--display-name", metavar="TEXT", help="How to show them.")
    ] = "",
    admin: Annotated[
        bool, typer.Option("--admin", metavar="", help="Make them a workspace administrator.")
    ] = False,
    password_stdin: Annotated[
        bool,
        typer.Option(
            "--password-stdin",
            metavar="",
            help="Read a password from the first line of stdin; without it they use tokens only.",
        ),
    ] = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Create a user; they sign in with API tokens (`labledger tokens create --user NAME`).

    Against a server (-w http://..., as an administrator) the server hashes the password and the
    ledger names you as the user's maker; the password travels in the request body, so reach the
    server over TLS.

    Example:

        labledger users create alice --admin
        echo "$PASSWORD" | labledger users create bob --password-stdin -w https://lab.internal
    """
    from labledger.identity import IdentityService

    password = sys.stdin.readline().rstrip("\r\n") if password_stdin else None
    with open_catalog(workspace) as ws:
        user = IdentityService(ws.stores.identity).create_user(
            name, by=ws.actor, display_name=display_name, password=password, is_admin=admin
        )
    role = "administrator" if user.is_admin else "user"
    console.print(Text(f"created {role} {user.name} ({user.id})", style="green"))
    if not user.is_admin:
        console.print(
            Text(
                f"{user.name} has no role in any project yet: grant one, e.g. "
                f"labledger projects grant {user.name} viewer --project default",
                style="yellow",
            )
        )


@app.command("list")
@command
def list_users(as_json: JsonOption = False, workspace: WorkspaceOption = None) -> None:
    """List the users (against a server, administrators only).

    Example:

        labledger users list --json
    """
    from labledger.identity import IdentityService

    with open_catalog(workspace) as ws:
        users = IdentityService(ws.stores.identity).list_users()
    if as_json:
        print_json(users)
        return
    rows = [
        [
            u.name,
            u.display_name,
            "yes" if u.is_admin else "",
            "disabled" if u.disabled else "active",
            format_time(u.created_at),
        ]
        for u in users
    ]
    print_table(
        None,
        ["name", "display name", "admin", "status", "created"],
        rows,
        empty="no users: the server runs in single-user mode on loopback",
        markup=False,
    )


def _here_only(ws: Workspace, what: str) -> None:
    """Refuse ``what`` against a server, whoever asks (an administrator is told the same)."""
    if ws.settings.server_url is not None:
        from labledger.workspace.http.identity import host_only

        raise host_only(what)


@app.command("disable")
@command
def disable(
    name: Annotated[str, typer.Argument(metavar="NAME", help="The user to disable.")],
    workspace: WorkspaceOption = None,
) -> None:
    """Disable a user: their password and tokens stop working at once.

    Example:

        labledger users disable alice
    """
    from labledger.identity import IdentityService

    with open_catalog(workspace) as ws:
        _here_only(ws, "disabling users")  # before asking the server who the user is
        user = IdentityService(ws.stores.identity).disable_user(name, by=ws.actor)
    console.print(Text(f"disabled {user.name}", style="green"))


@app.command("password")
@command
def password(
    name: Annotated[str, typer.Argument(metavar="NAME", help="The user.")],
    remove: Annotated[
        bool,
        typer.Option(
            "--remove", metavar="", help="Remove their password: tokens only from now on."
        ),
    ] = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Set a user's password, read from the first line of stdin, or remove it (--remove).

    Run it where the server's workspace is (like `users disable`); the ledger records that the
    password was set, never the password or its hash (a fingerprint of the hash, which `labledger
    verify` holds the stored one to). Their tokens keep working: revoke them with `labledger
    tokens revoke` if the old password leaked.

    Example:

        echo "$NEW_PASSWORD" | labledger users password alice
    """
    from labledger.identity import IdentityService

    secret = None if remove else sys.stdin.readline().rstrip("\r\n")
    if secret == "":
        raise typer.BadParameter("no password on stdin (pass --remove to remove it)")
    with open_catalog(workspace) as ws:
        _here_only(ws, "setting passwords")
        IdentityService(ws.stores.identity).set_password(name, secret, by=ws.actor)
    said = "removed the password of" if remove else "set the password of"
    console.print(Text(f"{said} {name}", style="green"))
