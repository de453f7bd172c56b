"""``labledger keys``: create and list the Ed25519 keys that sign ledger entries."""

from __future__ import annotations

import shlex
from typing import Annotated

import typer
from rich.text import Text

from labledger.cli.console import command, console, format_time, print_json, print_table
from labledger.cli.options import JsonOption, WorkspaceOption, open_workspace

__all__ = ["app"]

app = typer.Typer(
    help=(
        "Create and list the keys that sign ledger entries.\n\n"
        "Example:\n\n"
        "    labledger keys create --actor alice"
    ),
    no_args_is_help=True,
    add_completion=False,
)


@app.command("create")
@command
def create(
    actor: Annotated[
        str | None,
        typer.Option(
            "--actor",
            metavar="NAME",
            help="Whose key; defaults to LABLEDGER_USER or your login name.",
            show_default=False,
        ),
    ] = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Create an Ed25519 signing key and register its public half in the workspace.

    The private key goes to ~/.config/labledger/keys/ACTOR.pem, owner-only; an existing one is reused.

    Set LABLEDGER_SIGNING_KEY to that path (and LABLEDGER_USER to ACTOR) to sign every entry.

    Example:

        labledger keys create --actor alice
    """
    from labledger.workspace.keys import create_signing_key

    with open_workspace(workspace) as ws:
        created = create_signing_key(ws, actor=actor)
    key = created.key
    action = "created" if created.new_file else "using existing"
    console.print(Text(f"{action} private key {created.path}"))
    if created.newly_registered:
        console.print(
            Text(f"registered public key of {key.actor}: {key.public_key}", style="green")
        )
    else:
        console.print(Text(f"public key of {key.actor} was already registered: {key.public_key}"))
    console.print(Text("to sign every ledger entry you write, set:"))
    typer.echo(f"  export LABLEDGER_USER={shlex.quote(key.actor)}")
    typer.echo(f"  export LABLEDGER_SIGNING_KEY={shlex.quote(str(created.path))}")


@app.command("list")
@command
def list_keys(as_json: JsonOption = False, workspace: WorkspaceOption = None) -> None:
    """List the actors whose public signing keys are registered in the workspace.

    Example:

        labledger keys list --json
    """
    from labledger.workspace.keys import list_keys

    with open_workspace(workspace) as ws:
        keys = list_keys(ws)
    if as_json:
        print_json(keys)
        return
    rows = [[k.actor, k.public_key, format_time(k.created_at)] for k in keys]
    print_table(
        None, ["actor", "public key", "registered"], rows, empty="no keys registered", markup=False
    )
