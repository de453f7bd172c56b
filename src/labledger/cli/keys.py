"""``labledger keys``: create and list the Ed25519 keys that sign ledger entries."""

from __future__ import annotations

import shlex
from pathlib import Path  # noqa: TC003 - Typer reads the annotations at run time
from typing import Annotated

import typer
from rich.text import Text

from labledger.cli.console import command, console, format_time, print_json, print_table
from labledger.cli.options import JsonOption, WorkspaceOption, open_workspace

__all__ = ["app"]

app = typer.Typer(
    help=(
        "Create, list, rotate, revoke and export the keys that sign ledger entries.\n\n"
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


@app.command("export")
@command
def export(
    output: Annotated[
        Path | None,
        typer.Option(
            "--output", "-o", metavar="FILE", show_default=False, help="Write to FILE, not stdout."
        ),
    ] = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Write the keys the ledger lets sign now, as a trusted-keys file for `verify --trusted-keys`.

    Check the keys in it, then keep it where the workspace's writers cannot change it.

    Example:

        labledger keys export -o trusted-keys.json
    """
    from labledger.workspace.keys import trusted_keys
    from labledger.workspace.trusted_keys import trusted_keys_document

    with open_workspace(workspace) as ws:
        text = trusted_keys_document(trusted_keys(ws))
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        console.print(Text(f"wrote {output}"))


@app.command("rotate")
@command
def rotate(
    path: Annotated[
        Path | None,
        typer.Option(
            "--path",
            metavar="FILE",
            show_default=False,
            help="Write the new private key here instead of over the current key's file.",
        ),
    ] = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Replace your signing key with a new one, by a ledger entry signed with the current key.

    The new key takes the current key's file (the old one is kept beside it, renamed), so
    LABLEDGER_SIGNING_KEY stays as it is. Readers who trust the old key trust the new one.

    Example:

        labledger keys rotate
    """
    from labledger.workspace.keys import rotate_key

    with open_workspace(workspace) as ws:
        key = rotate_key(ws, path)
        where = ws.signer.path if ws.signer is not None else path
    console.print(Text(f"rotated {key.actor}'s key to {key.public_key}", style="green"))
    console.print(Text(f"new private key: {where}"))
    if path is not None:
        typer.echo(f"  export LABLEDGER_SIGNING_KEY={shlex.quote(str(path))}")


@app.command("revoke")
@command
def revoke(
    actor: Annotated[str, typer.Argument(metavar="ACTOR", help="Whose key.")],
    public_key: Annotated[str, typer.Argument(metavar="PUBLIC_KEY", help="The key, in hex.")],
    reason: Annotated[
        str, typer.Option("--reason", metavar="TEXT", help="Why, for the record.")
    ] = "",
    workspace: WorkspaceOption = None,
) -> None:
    """Revoke a key: entries it signs after this are invalid. Signed with your own key.

    Example:

        labledger keys revoke alice 3b6a27bc... --reason "laptop lost"
    """
    from labledger.workspace.keys import revoke_key

    with open_workspace(workspace) as ws:
        revoke_key(ws, actor, public_key, reason)
    console.print(Text(f"revoked {actor}'s key {public_key[:16]}...", style="green"))
