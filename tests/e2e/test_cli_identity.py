"""``labledger users``, ``tokens``, ``projects`` and ``server`` as a user drives them."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest
import sqlalchemy as sa

from labledger._foundation.errors import AuthenticationError
from labledger.workspace import schema

if TYPE_CHECKING:
    from collections.abc import Callable

    from typer.testing import Result

    from labledger.workspace.workspace import Workspace


def test_users_tokens_and_roles(cli: Callable[..., Result], workspace: Workspace) -> None:
    uri = str(workspace.settings.root)
    made = cli("projects", "create", "assay", "--description", "plate assays", "-w", uri)
    assert made.exit_code == 0 and "created project assay" in made.output
    again = cli("projects", "create", "assay", "-w", uri)
    assert again.exit_code == 1 and "exists already" in again.output
    assert "created administrator ada" in cli("users", "create", "ada", "--admin", "-w", uri).output
    made_bob = cli("users", "create", "bob", "-w", uri)
    assert made_bob.exit_code == 0
    assert "labledger projects grant bob viewer --project default" in made_bob.output
    duplicate = cli("users", "create", "bob", "-w", uri)
    assert duplicate.exit_code == 1 and "exists already" in duplicate.output
    users = json.loads(cli("users", "list", "--json", "-w", uri).output)
    assert [(u["name"], u["is_admin"]) for u in users] == [("ada", True), ("bob", False)]

    made = cli("tokens", "create", "--user", "bob", "--name", "laptop", "-w", uri)
    secret = made.stdout.strip()  # the secret alone: TOKEN=$(labledger tokens create ...)
    assert secret.startswith("lle_") and "\n" not in secret
    assert "copy the secret now" in made.stderr
    as_json = json.loads(
        cli("tokens", "create", "--user", "bob", "--name", "ci", "--json", "-w", uri).stdout
    )
    assert as_json["secret"].startswith("lle_") and as_json["token"]["name"] == "ci"
    tokens = json.loads(cli("tokens", "list", "--user", "bob", "--json", "-w", uri).output)
    assert [t["name"] for t in tokens] == ["laptop", "ci"]
    assert secret not in json.dumps(tokens)
    assert "revoked" in cli("tokens", "revoke", tokens[0]["id"], "-w", uri).output
    assert "revoked" in cli("tokens", "list", "--user", "bob", "-w", uri).output

    assert (
        "bob is editor in assay"
        in cli("projects", "grant", "bob", "editor", "--project", "assay", "-w", uri).output
    )
    listed = json.loads(cli("projects", "list", "--json", "-w", uri).output)
    assay = next(p for p in listed if p["name"] == "assay")
    assert [(m["user"], m["role"]) for m in assay["members"]] == [("bob", "editor")]
    bad = cli("projects", "grant", "bob", "owner", "--project", "assay", "-w", uri)
    assert bad.exit_code == 1 and "unknown role" in bad.output
    assert (
        "no longer a member"
        in cli("projects", "revoke", "bob", "--project", "assay", "-w", uri).output
    )
    assert "disabled bob" in cli("users", "disable", "bob", "-w", uri).output


def test_server_refuses_open_bind_without_users(
    cli: Callable[..., Result], workspace: Workspace
) -> None:
    result = cli("server", "--host", "0.0.0.0", "-w", str(workspace.settings.root))
    assert result.exit_code == 1
    assert "refusing to listen on 0.0.0.0 without authentication" in result.output


def test_password_from_stdin(cli: Callable[..., Result], workspace: Workspace) -> None:
    pytest.importorskip("argon2")
    from typer.testing import CliRunner

    from labledger.cli import app
    from labledger.identity import IdentityService

    runner = CliRunner()
    uri = str(workspace.settings.root)
    result = runner.invoke(
        app, ["users", "create", "carol", "--password-stdin", "-w", uri], input="long enough pw\n"
    )
    assert result.exit_code == 0, result.output
    user = IdentityService(workspace.stores.identity).authenticate_password(
        "carol", "long enough pw"
    )
    assert user.name == "carol"
    service = IdentityService(workspace.stores.identity)
    changed = runner.invoke(app, ["users", "password", "carol", "-w", uri], input="a new one!!\n")
    assert changed.exit_code == 0 and "set the password of carol" in changed.output
    assert service.authenticate_password("carol", "a new one!!").name == "carol"
    with pytest.raises(AuthenticationError):
        service.authenticate_password("carol", "long enough pw")
    empty = runner.invoke(app, ["users", "password", "carol", "-w", uri], input="\n")
    assert empty.exit_code != 0 and "no password on stdin" in empty.output
    removed = runner.invoke(app, ["users", "password", "carol", "--remove", "-w", uri])
    assert removed.exit_code == 0, removed.output
    with pytest.raises(AuthenticationError):
        service.authenticate_password("carol", "a new one!!")
    # Every one of those was recorded with what it left: verify holds carol's row to it.
    verify = ["verify", "--no-blobs", "--no-state", "-w", uri]
    checked = runner.invoke(app, verify)
    assert checked.exit_code == 0, checked.output
    from labledger.identity.hashing import hash_password

    with workspace.catalog.writer.begin() as conn:
        conn.execute(
            sa.update(schema.users)
            .where(schema.users.c.name == "carol")
            .values(password_hash=hash_password("a password I know"))
        )
    assert service.authenticate_password("carol", "a password I know").name == "carol"
    tampered = runner.invoke(app, verify)
    assert tampered.exit_code == 1
    assert "carol" in tampered.output and "the ledger leaves it no password" in tampered.output


def test_identity_commands_on_a_database_need_no_blob_store(
    cli: Callable[..., Result], workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Users, tokens and projects live in the catalog alone: a database URL is enough.
    monkeypatch.delenv("LABLEDGER_STORE", raising=False)
    url = workspace.settings.catalog_url
    made = cli("users", "create", "pi", "--admin", "-w", url)
    assert made.exit_code == 0, made.output
    assert cli("projects", "create", "screening", "-w", url).exit_code == 0
    assert cli("users", "create", "nora", "-w", url).exit_code == 0
    granted = cli("projects", "grant", "nora", "viewer", "--project", "screening", "-w", url)
    assert "nora is viewer in screening" in granted.output
    token = cli("tokens", "create", "--user", "nora", "--name", "laptop", "-w", url)
    assert token.output.strip().splitlines()[-1].startswith("lle_")
    # Commands that need blobs still say what is missing.
    listed = cli("artifacts", "list", "-w", url)
    assert listed.exit_code == 1 and "no blob store is set" in listed.output


@pytest.mark.parametrize(
    ("args", "what"),
    [
        (("users", "disable", "bob"), "disabling users"),
        (("users", "password", "bob", "--remove"), "setting passwords"),
    ],
)
def test_host_only_user_changes_through_a_server_say_so_to_anyone(
    cli: Callable[..., Result], monkeypatch: pytest.MonkeyPatch, args: tuple[str, ...], what: str
) -> None:
    # Said before the server is asked anything, so a user who is no administrator is not told
    # to ask one, who would then be told this.
    monkeypatch.setenv("LABLEDGER_URI", "http://127.0.0.1:9")
    result = cli(*args)
    assert result.exit_code == 1
    assert f"{what} cannot be done through a server" in result.stderr
