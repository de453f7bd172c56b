"""``labledger login`` and ``labledger logout``: API tokens for a labledger server, saved per URL."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from labledger.cli.console import command, console

__all__ = ["login_command", "logout_command"]

UrlArgument = Annotated[
    str, typer.Argument(metavar="URL", help="The server, e.g. http://127.0.0.1:8080.")
]


@command
def login_command(
    url: UrlArgument,
    user: Annotated[
        str | None,
        typer.Option("--user", metavar="NAME", show_default=False, help="Your user name."),
    ] = None,
    token_stdin: Annotated[
        bool,
        typer.Option(
            "--token-stdin", help="Read an API token from stdin in place of a user and password."
        ),
    ] = False,
    password_stdin: Annotated[
        bool,
        typer.Option("--password-stdin", help="Read the password from the first line of stdin."),
    ] = False,
) -> None:
    """Sign in to a server and save its token, so `-w URL` and LABLEDGER_URI=URL use it.

    Asks for your user name and password (the server makes a token for this machine), or reads a
    token made with `labledger tokens create` from stdin. The token is saved in
    $XDG_CONFIG_HOME/labledger/credentials.json (readable by you only); LABLEDGER_TOKEN, when set,
    is used instead.

    Example:

        labledger login http://127.0.0.1:8080 --user ada
    """
    from labledger.workspace.http.login import login

    if token_stdin:
        saved = login(url, token=sys.stdin.readline().strip())
    else:
        name = user or typer.prompt("user")
        if password_stdin:
            password = sys.stdin.readline().rstrip("\r\n")
        else:
            password = typer.prompt("password", hide_input=True)
        saved = login(url, user=name, password=password)
    console.print(f"logged in to {url.rstrip('/')} as {saved.user}")


@command
def logout_command(url: UrlArgument) -> None:
    """Revoke the token `labledger login` saved for a server, and forget it.

    A token brought with `--token-stdin` is forgotten here but stays valid: revoke it with
    `labledger tokens revoke`.

    Example:

        labledger logout http://127.0.0.1:8080
    """
    from labledger.workspace.http.login import logout

    saved = logout(url)
    revoked = "revoked and forgotten" if saved.token_id else "forgotten (still valid on the server)"
    console.print(f"logged out of {url.rstrip('/')}: token {revoked}")
