"""``labledger backup`` and ``labledger restore`` as a user runs them."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest

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


def _revision(folder: Path) -> str | None:
    from labledger.workspace.catalog import Catalog

    catalog = Catalog(f"sqlite:///{folder / '.labledger' / 'catalog.db'}")
    try:
        return catalog.revision()
    finally:
        catalog.dispose()


def _old_workspace_with_a_blob(folder: Path, revision: str) -> str:
    """A workspace whose catalog a labledger at ``revision`` wrote, holding one blob."""
    import sqlite3

    from labledger.workspace.local_store import LocalBlobStore
    from tests.old_catalogs import folder_catalog_at

    folder_catalog_at(folder, revision)
    digest = LocalBlobStore(folder / ".labledger" / "objects").put(b"model weights")
    with sqlite3.connect(folder / ".labledger" / "catalog.db") as conn:
        conn.execute("INSERT INTO blobs VALUES (?, ?, ?)", (digest, 13, 1.0))
    conn.close()
    return digest


def test_a_catalog_that_needs_a_migration_is_backed_up_first_and_restored_at_its_revision(
    cli: Callable[..., Result], tmp_path: Path
) -> None:
    from labledger.workspace.catalog import HEAD_REVISION

    study, backup = tmp_path / "study", tmp_path / "backup"
    digest = _old_workspace_with_a_blob(study, "0002")
    refused = cli("runs", "list", "-w", str(study))
    assert "back up first: `labledger backup`" in refused.output

    # The advice can be followed: the backup only reads the outdated catalog.
    backed = cli("backup", str(backup), "-w", str(study))
    assert backed.exit_code == 0, backed.output
    assert "0002 (older than this labledger's)" in backed.stdout
    assert "ledger is verified once the workspace is migrated" in backed.stdout
    summary = json.loads(cli("backup", str(backup), "-w", str(study), "--json").stdout)
    assert summary["ok"] and summary["outdated"] and summary["schema_revision"] == "0002"
    assert (summary["blobs"], summary["already_there"], summary["checkpoint"]) == (1, 1, None)
    manifest = json.loads((backup / "backup.json").read_text())
    assert manifest["catalog"]["schema_revision"] == "0002"
    assert manifest["verified"] == {**manifest["verified"], "ok": True, "ledger": False}
    assert _revision(study) == "0002"  # the backup wrote nothing to it

    migrated = cli("migrate", "-w", str(study))
    assert migrated.exit_code == 0, migrated.output
    assert _revision(study) == HEAD_REVISION

    # Rolling the upgrade back: the catalog as it was before `migrate`, ready to migrate again.
    restored = cli("restore", str(backup), "--to", str(study), "--force", "--json")
    assert restored.exit_code == 0, restored.output
    assert json.loads(restored.stdout)["schema_revision"] == "0002"
    assert _revision(study) == "0002"
    assert cli("runs", "list", "-w", str(study)).exit_code != 0
    elsewhere = cli("restore", str(backup), "--to", str(tmp_path / "elsewhere"))
    assert elsewhere.exit_code == 0, elsewhere.output
    assert _revision(tmp_path / "elsewhere") == "0002"
    assert (tmp_path / "elsewhere" / ".labledger" / "objects" / digest[7:9]).is_dir()
    assert cli("migrate", "-w", str(study)).exit_code == 0
    assert cli("verify", "-w", str(study)).exit_code == 0


def test_a_damaged_copy_of_an_outdated_catalog_does_not_verify(
    cli: Callable[..., Result], tmp_path: Path
) -> None:
    study, backup = tmp_path / "study", tmp_path / "backup"
    digest = _old_workspace_with_a_blob(study, "0005")
    assert cli("backup", str(backup), "-w", str(study)).exit_code == 0
    held = backup / ".labledger" / "objects" / digest[7:9] / digest[7:]
    held.chmod(0o644)
    held.write_bytes(b"model weightz")
    checked = cli("backup", str(backup), "-w", str(study), "--rehash-all", "--json")
    assert json.loads(checked.stdout)["copied"] == 1  # damaged in the backup: copied again
    held.chmod(0o644)
    held.unlink()
    restored = cli("restore", str(backup), "--to", str(tmp_path / "restored"))
    assert restored.exit_code == 1
    assert digest in restored.output


@pytest.mark.parametrize(
    ("args", "names"),
    [(("gc",), "labledger gc -w"), (("backup", "dest"), "labledger backup DEST -w")],
)
def test_gc_and_backup_against_a_server_say_where_to_run_them(
    cli: Callable[..., Result],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    args: tuple[str, ...],
    names: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LABLEDGER_URI", "http://127.0.0.1:9")  # nothing is asked of it
    result = cli(*args)
    assert result.exit_code == 1
    assert "http://127.0.0.1:9" in result.stderr
    assert names in result.stderr
    assert not (tmp_path / "dest").exists()
