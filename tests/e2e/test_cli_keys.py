"""``labledger keys``: create a signing key, register it, and have verify check signed entries."""

from __future__ import annotations

import json
import sqlite3
import stat
from typing import TYPE_CHECKING

from labledger.tracking import start_run
from labledger.workspace.ledger import iter_entries
from labledger.workspace.workspace import Workspace

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    import pytest
    from typer.testing import Result


def _where(ws: Workspace) -> str:
    return str(ws.settings.root)


def test_create_registers_key_and_signed_entries_verify(
    cli: Callable[..., Result],
    workspace: Workspace,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    result = cli("keys", "create", "--actor", "alice", "-w", _where(workspace))
    assert result.exit_code == 0, result.output
    key_path = tmp_path / "config" / "labledger" / "keys" / "alice.pem"
    assert key_path.is_file()
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    assert f"export LABLEDGER_SIGNING_KEY={key_path}" in result.stdout
    assert "export LABLEDGER_USER=alice" in result.stdout

    keys = json.loads(cli("keys", "list", "-w", _where(workspace), "--json").stdout)
    assert [k["actor"] for k in keys] == ["alice"]
    assert len(keys[0]["public_key"]) == 64
    assert "alice" in cli("keys", "list", "-w", _where(workspace)).stdout

    monkeypatch.setenv("LABLEDGER_SIGNING_KEY", str(key_path))
    monkeypatch.setenv("LABLEDGER_USER", "alice")
    with Workspace.open(_where(workspace)) as signed:
        with start_run("signed", params={"a": 1}, workspace=signed) as run:
            run.log_metric("m", 1.0)
        with signed.read() as conn:
            entries = list(iter_entries(conn))
    registered = [e.payload for e in entries if e.kind == "key.registered"]
    assert {"actor": "alice", "public_key": keys[0]["public_key"]} in registered
    signed_entries = [e for e in entries if e.signature is not None]
    assert {e.kind for e in signed_entries} >= {"run.started", "run.finished"}
    assert {e.actor for e in signed_entries} <= {"alice", "workspace"}

    verified = cli("verify", "-w", _where(workspace), "--json")
    assert verified.exit_code == 0, verified.output

    # A forged signature is caught and named.
    forged = signed_entries[0]
    with sqlite3.connect(workspace.settings.root / "catalog.db") as db:  # type: ignore[operator]
        db.execute("UPDATE ledger SET signature = ? WHERE id = ?", ("00" * 64, forged.id))
    db.close()
    failed = cli("verify", "--no-blobs", "-w", _where(workspace))
    assert failed.exit_code == 1
    assert (
        f"ledger {forged.id}: entry #{forged.seq}: its signature by alice is invalid"
        in failed.stdout
    )


def test_create_again_reuses_the_key_and_a_second_key_is_refused(
    cli: Callable[..., Result],
    workspace: Workspace,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("LABLEDGER_USER", "bob")
    assert cli("keys", "create", "-w", _where(workspace)).exit_code == 0
    again = cli("keys", "create", "-w", _where(workspace))
    assert again.exit_code == 0
    assert "using existing private key" in again.stdout
    assert "already registered" in again.stdout

    # Another key for bob (say, made on another machine) would orphan his earlier signatures.
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "elsewhere"))
    refused = cli("keys", "create", "-w", _where(workspace))
    assert refused.exit_code == 1
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("error: bob already has a different signing key")
    assert not (tmp_path / "elsewhere" / "labledger" / "keys" / "bob.pem").exists()
    assert len(json.loads(cli("keys", "list", "-w", _where(workspace), "--json").stdout)) == 1


def test_list_without_keys(cli: Callable[..., Result], workspace: Workspace) -> None:
    result = cli("keys", "list", "-w", _where(workspace))
    assert result.exit_code == 0
    assert "no keys registered" in result.stdout


def test_a_user_adds_lists_and_revokes_a_registered_key_in_the_workspace(
    cli: Callable[..., Result],
    workspace: Workspace,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from labledger.identity import IdentityService

    IdentityService(workspace.stores.identity).create_user("bea", by="root")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("LABLEDGER_USER", "bea")
    monkeypatch.delenv("LABLEDGER_SIGNING_KEY", raising=False)
    added = cli("keys", "add", "--name", "laptop", "-w", _where(workspace))
    assert added.exit_code == 0, added.output
    key_path = tmp_path / "config" / "labledger" / "keys" / "bea.pem"
    assert f"created private key {key_path}" in added.stdout
    # Kept where the workspace looks for bea's key: nothing to export.
    assert "the entries you write as bea are signed with it from now on" in added.stdout
    assert "export" not in added.stdout
    keys = json.loads(cli("keys", "list", "--all", "--json", "-w", _where(workspace)).stdout)
    assert [(k["user"], k["name"], k["revoked_at"]) for k in keys] == [("bea", "laptop", None)]
    public = tmp_path / "bea.pub"
    public.write_text(keys[0]["id"] + "\n")
    again = cli("keys", "add", "--file", str(public), "-w", _where(workspace))
    assert again.exit_code == 0 and keys[0]["id"] in again.stdout

    revoked = cli("keys", "revoke", keys[0]["id"], "-w", _where(workspace))
    assert revoked.exit_code == 0, revoked.output
    keys = json.loads(cli("keys", "list", "--all", "--json", "-w", _where(workspace)).stdout)
    assert keys[0]["revoked_at"] is not None
    assert cli("verify", "-w", _where(workspace)).exit_code == 0


def test_rotating_against_a_server_says_to_add_then_revoke(
    cli: Callable[..., Result], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LABLEDGER_URI", "http://127.0.0.1:9")  # nothing is asked of it
    result = cli("keys", "rotate")
    assert result.exit_code == 1
    assert "labledger keys add" in result.stderr and "labledger keys revoke" in result.stderr
