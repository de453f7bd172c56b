"""``labledger backup`` and ``labledger restore`` as a user runs them."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from typer.testing import Result

    from labledger.workspace.workspace import Workspace


def test_backup_restore_and_verify_the_backup(
    cli: Callable[..., Result], populated: Workspace, tmp_path: Path
) -> None:
    where = str(populated.settings.root)
    backup = tmp_path / "backup"
    first = cli("backup", str(backup), "-w", where)
    assert first.exit_code == 0, first.output
    assert "blobs copied" in first.stdout
    assert f"ok: {backup} verifies" in first.stdout

    again = cli("backup", str(backup), "-w", where, "--json")
    assert again.exit_code == 0, again.output
    summary = json.loads(again.stdout)
    assert summary["copied"] == 0
    assert summary["already_there"] == summary["blobs"] > 0
    assert summary["ok"]

    # The backup is a workspace folder that `verify` accepts.
    assert cli("verify", "-w", str(backup), "--no-state").exit_code == 0

    restored = cli("restore", str(backup), "--to", str(tmp_path / "restored"))
    assert restored.exit_code == 0, restored.output
    listed = cli("runs", "list", "-w", str(tmp_path / "restored"), "--json")
    assert len(json.loads(listed.stdout)) == 3

    refused = cli("restore", str(backup), "--to", str(tmp_path / "restored"))
    assert refused.exit_code == 1
    assert "--force" in refused.output


def test_backup_exits_1_and_names_a_missing_blob(
    cli: Callable[..., Result], populated: Workspace, tmp_path: Path
) -> None:
    from labledger.workspace.local_store import LocalBlobStore

    store = populated.store
    assert isinstance(store, LocalBlobStore)
    gone = next(store.digests())
    store.path_of(gone).unlink()
    result = cli("backup", str(tmp_path / "backup"), "-w", str(populated.settings.root))
    assert result.exit_code == 1
    assert f"blob {gone}: missing from the source store and its trash" in result.stdout


def test_blobs_only_puts_back_a_missing_blob_and_keeps_newer_work(
    cli: Callable[..., Result], populated: Workspace, tmp_path: Path
) -> None:
    import os

    import labledger
    from labledger.workspace.local_store import LocalBlobStore

    where = str(populated.settings.root)
    backup = tmp_path / "backup"
    assert cli("backup", str(backup), "-w", where).exit_code == 0
    with labledger.start_run("after the backup", workspace=populated) as run:
        run.log_metric("auc", 0.9)
    store = populated.store
    assert isinstance(store, LocalBlobStore)
    with populated.read() as conn:
        from labledger.workspace.references import referenced_blobs

        gone = sorted(referenced_blobs(conn))[0]
    os.chmod(store.path_of(gone), 0o600)
    store.path_of(gone).unlink()
    found = cli("verify", "-w", where)
    assert found.exit_code == 1
    assert "--blobs-only" in found.stdout
    put_back = cli("restore", str(backup), "--blobs-only", "--to", where)
    assert put_back.exit_code == 0, put_back.output
    assert f"restored {gone}" in put_back.stdout
    assert cli("verify", "-w", where).exit_code == 0
    names = [r["name"] for r in json.loads(cli("runs", "list", "-w", where, "--json").stdout)]
    assert "after the backup" in names  # nothing newer than the backup was lost


def test_forget_starts_over_after_a_deliberate_rollback(
    cli: Callable[..., Result], populated: Workspace, tmp_path: Path
) -> None:
    import labledger

    where = str(populated.settings.root)
    backup = tmp_path / "backup"
    assert cli("backup", str(backup), "-w", where).exit_code == 0
    with labledger.start_run("to be rolled back", workspace=populated):
        pass
    assert cli("verify", "-w", where).exit_code == 0  # remembers the longer ledger
    folder = str(populated.settings.root.parent)  # type: ignore[union-attr]
    assert cli("restore", str(backup), "--to", folder, "--force").exit_code == 0
    rolled_back = cli("verify", "-w", where)
    assert rolled_back.exit_code == 1
    assert "--forget" in rolled_back.stdout
    assert cli("verify", "-w", where, "--forget").exit_code == 0
    assert cli("verify", "-w", where).exit_code == 0
