"""``labledger keys``: create, register and list the Ed25519 keys that sign ledger entries.

Against a workspace folder or database, keys belong to actors and are registered in its ledger
(``create``, ``rotate``, ``revoke ACTOR KEY``, ``export``). Against a server, each user registers
their own public keys with it (``add``, ``list``, ``revoke KEY_ID``).
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.text import Text

from labledger.cli.console import command, console, fail, format_time, print_json, print_table
from labledger.cli.options import JsonOption, WorkspaceOption, open_workspace

if TYPE_CHECKING:
    from labledger.stores.identity import User, UserKey
    from labledger.workspace.workspace import Workspace

__all__ = ["app"]

app = typer.Typer(
    help=(
        "Create, register, list, rotate, revoke and export the keys that sign ledger entries.\n\n"
        "Example:\n\n"
        "    labledger keys create --actor alice\n\n"
        "    labledger keys add -w http://lab-server:8765"
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
    The entries ACTOR writes are signed with it from then on (elsewhere, set LABLEDGER_SIGNING_KEY
    to its path). Against a server it registers your own key, as `labledger keys add` does.

    Example:

        labledger keys create --actor alice
    """
    from labledger.workspace.keys import create_signing_key

    with open_workspace(workspace) as ws:
        if _remote(ws):
            # A server registers the signed-in user's own keys, through its API.
            if actor is not None and actor != ws.actor:
                fail(
                    f"against a server you register your own key only (you are {ws.actor}): "
                    f"{actor} runs `labledger keys add` with their own token"
                )
            _add_key(ws, None, name="")
            return
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
    _how_to_sign(key.actor, created.path, acting_as=ws.actor)


def _how_to_sign(actor: str, path: Path, *, acting_as: str) -> None:
    """Say what, if anything, makes the entries ``actor`` writes signed with the key at ``path``."""
    from labledger.workspace.signing import default_key_path

    configured = os.environ.get("LABLEDGER_SIGNING_KEY")
    if actor == acting_as and (
        (configured and Path(configured) == path)
        or (not configured and path == default_key_path(actor))
    ):
        console.print(Text(f"the entries you write as {actor} are signed with it from now on"))
        return
    console.print(Text(f"to sign the entries you write as {actor} with it, set:"))
    if actor != acting_as:
        typer.echo(f"  export LABLEDGER_USER={shlex.quote(actor)}")
    typer.echo(f"  export LABLEDGER_SIGNING_KEY={shlex.quote(str(path))}")


@app.command("list")
@command
def list_keys(
    as_json: JsonOption = False,
    every: Annotated[
        bool,
        typer.Option("--all", help="Every user's registered keys (administrators only)."),
    ] = False,
    workspace: WorkspaceOption = None,
) -> None:
    """List the registered public signing keys.

    On a server: your registered keys, revoked ones included. In a workspace folder or database:
    the actors' keys in its ledger. With --all: every user's registered keys.

    Example:

        labledger keys list --json
    """
    from labledger.identity import IdentityService
    from labledger.workspace.keys import list_keys

    with open_workspace(workspace) as ws:
        if _remote(ws) or every:
            service = IdentityService(ws.stores.identity)
            _print_user_keys(service.list_keys(None if every else ws.actor), as_json=as_json)
            return
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
    Against a server, add the new key (`keys add`) and revoke the old one (`keys revoke`).

    Example:

        labledger keys rotate
    """
    from labledger._foundation.errors import ConfigurationError
    from labledger.workspace.keys import rotate_key

    with open_workspace(workspace) as ws:
        if ws.settings.server_url is not None:
            raise ConfigurationError(
                "against a server a key is replaced in two steps, not rotated",
                hint="register the new key with `labledger keys add` (`keys create` makes one), "
                "then revoke the old one with `labledger keys revoke KEY_ID`",
            )
        key = rotate_key(ws, path)
        where = ws.signer.path if ws.signer is not None else path
    console.print(Text(f"rotated {key.actor}'s key to {key.public_key}", style="green"))
    console.print(Text(f"new private key: {where}"))
    if path is not None:
        typer.echo(f"  export LABLEDGER_SIGNING_KEY={shlex.quote(str(path))}")


@app.command("revoke")
@command
def revoke(
    first: Annotated[
        str,
        typer.Argument(metavar="KEY_ID|ACTOR", help="On a server: the key's id; else whose key."),
    ],
    public_key: Annotated[
        str | None,
        typer.Argument(metavar="[PUBLIC_KEY]", help="With ACTOR: the actor's ledger key, in hex."),
    ] = None,
    reason: Annotated[
        str, typer.Option("--reason", metavar="TEXT", help="Why, for the record.")
    ] = "",
    workspace: WorkspaceOption = None,
) -> None:
    """Revoke a key: entries it signs after this are invalid; those it signed before stay valid.

    With a key's id: revoke one of your registered keys (`labledger keys add`; an administrator
    may revoke anyone's); no signature is needed, so a lost key can be revoked. With an actor and
    a key, in a workspace folder or database: revoke an actor's ledger key (`keys create`); the
    revocation is signed with your own key.

    Example:

        labledger keys revoke 3b6a27bc... -w http://lab-server:8765

        labledger keys revoke alice 3b6a27bc... --reason "laptop lost"
    """
    from labledger.identity import IdentityService
    from labledger.workspace.keys import revoke_key

    with open_workspace(workspace) as ws:
        if public_key is None:
            key = IdentityService(ws.stores.identity).revoke_key(first, actor=_acting_user(ws))
            console.print(Text(f"revoked {key.user}'s key {key.id[:16]}...", style="green"))
            return
        if _remote(ws):
            raise typer.BadParameter(
                "on a server, name the key's id only (`labledger keys list` shows it)"
            )
        revoke_key(ws, first, public_key, reason)
    console.print(Text(f"revoked {first}'s key {public_key[:16]}...", style="green"))


@app.command("add")
@command
def add(
    file: Annotated[
        Path | None,
        typer.Option(
            "--file",
            metavar="PUB",
            show_default=False,
            help="The public key: hex, an `ssh-ed25519` line or PEM. Without it, the public "
            "half of LABLEDGER_SIGNING_KEY (or of your default key, made if missing).",
        ),
    ] = None,
    name: Annotated[str, typer.Option("--name", metavar="TEXT", help="A label, e.g. laptop.")] = "",
    workspace: WorkspaceOption = None,
) -> None:
    """Register your public signing key with the workspace, so entries you sign are accepted.

    Only the public half is sent. Registering lands in the ledger in your name; entries you sign
    with the key are accepted until you revoke it.

    Example:

        labledger keys add --name laptop -w http://lab-server:8765
    """
    with open_workspace(workspace) as ws:
        _add_key(ws, file, name=name)


def _add_key(ws: Workspace, file: Path | None, *, name: str) -> None:
    """Register the signed-in user's public key (``file``'s, else their signing key's, made if
    missing) and say how their entries get signed with it."""
    from labledger.identity import IdentityService
    from labledger.workspace.signing import default_key_path

    actor = ws.actor
    public_key, created = _public_key(file, actor)
    key = IdentityService(ws.stores.identity).add_key(actor, public_key, name=name, by=actor)
    if created is not None:
        console.print(Text(f"created private key {created}"))
    console.print(Text(f"registered {key.user}'s key {key.id}", style="green"))
    if file is None:
        configured = os.environ.get("LABLEDGER_SIGNING_KEY")
        _how_to_sign(
            actor, Path(configured) if configured else default_key_path(actor), acting_as=actor
        )


def _remote(ws: Workspace) -> bool:
    from labledger.workspace.http.workspace import RemoteWorkspace

    return isinstance(ws, RemoteWorkspace)


def _acting_user(ws: Workspace) -> User:
    """Who acts: on a server, the signed-in user as it knows them; else the local user."""
    from labledger.identity import IdentityService, local_user

    if _remote(ws):
        return IdentityService(ws.stores.identity).get_user(ws.actor)
    return local_user(ws.actor)


def _public_key(file: Path | None, actor: str) -> tuple[str, Path | None]:
    """The public key to register, and the private key file made for it (if one was)."""
    from labledger.workspace.signing import default_key_path, generate_key, load_signer

    if file is not None:
        text = file.read_text(encoding="utf-8", errors="replace")
        if "PRIVATE KEY" not in text:
            return text, None
        # A private key file: its public half is what is meant; the private key stays here.
        return load_signer(file, actor).public_key_hex, None
    configured = os.environ.get("LABLEDGER_SIGNING_KEY")
    path = Path(configured) if configured else default_key_path(actor)
    created = None
    if not configured and not path.exists():
        generate_key(path)
        created = path
    return load_signer(path, actor).public_key_hex, created


def _print_user_keys(keys: list[UserKey], *, as_json: bool) -> None:
    if as_json:
        print_json(keys)
        return
    rows = [
        [
            k.id,
            k.user,
            k.name,
            format_time(k.created_at),
            "revoked " + format_time(k.revoked_at) if k.revoked_at is not None else "active",
        ]
        for k in sorted(keys, key=lambda k: (k.created_at, k.id))
    ]
    print_table(
        None,
        ["id", "user", "name", "registered", "state"],
        rows,
        empty="no keys registered",
        markup=False,
        no_wrap=["id"],
    )
