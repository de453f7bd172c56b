"""``labledger init``, ``verify`` and ``gc``, and what happens without a workspace."""

from __future__ import annotations

import json
import os
import sqlite3
import time
from typing import TYPE_CHECKING

from labledger.tracking import start_run

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from typer.testing import Result

    from labledger.workspace.workspace import Workspace


def _where(ws: Workspace) -> str:
    return str(ws.settings.root)


def test_init_creates_a_workspace_and_says_what_next(
    cli: Callable[..., Result], tmp_path: Path
) -> None:
    result = cli("init", str(tmp_path / "study"))
    assert result.exit_code == 0, result.output
    root = tmp_path / "study" / ".labledger"
    assert (root / "catalog.db").is_file()
    assert (root / "objects").is_dir()
    assert str(root) in result.stdout
    assert "labledger runs list" in result.stdout
    # Opening it again is fine, and it starts empty.
    assert cli("init", str(tmp_path / "study")).exit_code == 0
    listed = cli("runs", "list", "-w", str(tmp_path / "study"), "--json")
    assert json.loads(listed.stdout) == []


def test_init_defaults_to_the_current_folder(cli: Callable[..., Result], in_folder: Path) -> None:
    assert cli("init").exit_code == 0
    assert (in_folder / ".labledger" / "catalog.db").is_file()
    # Found by discovery from a subfolder, as git finds .git.
    (in_folder / "deep" / "er").mkdir(parents=True)
    os.chdir(in_folder / "deep" / "er")
    assert json.loads(cli("runs", "list", "--json").stdout) == []


def test_no_workspace_is_one_line(cli: Callable[..., Result], in_folder: Path) -> None:
    for args in (("runs", "list"), ("verify",), ("artifacts", "list"), ("gc",), ("keys", "list")):
        result = cli(*args)
        assert result.exit_code == 1, args
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, result.stderr
        assert lines[0].startswith("error: no .labledger workspace in"), lines[0]
        assert "labledger init" in lines[0]
    missing = cli("runs", "list", "-w", str(in_folder / "missing"))
    assert missing.exit_code == 1
    assert missing.stderr.startswith("error: no workspace at ")


def test_verify_clean_workspace(cli: Callable[..., Result], populated: Workspace) -> None:
    result = cli("verify", "-w", _where(populated))
    assert result.exit_code == 0, result.output
    assert "ok" in result.stdout
    report = json.loads(cli("verify", "-w", _where(populated), "--json").stdout)
    assert report["ok"] is True
    assert report["problems"] == []
    assert report["runs_checked"] == 3
    assert report["blobs_checked"] > 3
    assert report["entries_checked"] >= 9
    quick = json.loads(cli("verify", "--no-blobs", "-w", _where(populated), "--json").stdout)
    assert quick["blobs_checked"] == 0


def test_verify_names_a_tampered_blob(cli: Callable[..., Result], populated: Workspace) -> None:
    digest = populated.store.put(b"precious results")
    with populated.write() as conn:
        populated.register_blob(conn, digest, 16)
    path = populated.store.path_of(digest)  # type: ignore[attr-defined]
    path.chmod(0o644)
    data = bytearray(path.read_bytes())
    data[3] ^= 0x01
    path.write_bytes(bytes(data))

    result = cli("verify", "-w", _where(populated))
    assert result.exit_code == 1
    assert f"blob {digest}: its bytes are corrupt (they hash to blake3:" in result.stdout
    report = json.loads(cli("verify", "-w", _where(populated), "--json").stdout)
    assert report["ok"] is False
    assert [(p["kind"], p["id"]) for p in report["problems"]] == [("blob", digest)]
    # Without re-hashing blobs, the rest still checks out.
    assert cli("verify", "--no-blobs", "-w", _where(populated)).exit_code == 0


def test_verify_names_an_edited_ledger_entry(
    cli: Callable[..., Result], populated: Workspace
) -> None:
    catalog = populated.settings.root / "catalog.db"  # type: ignore[operator]
    with sqlite3.connect(catalog) as db:
        entry_id, payload = db.execute(
            "SELECT id, payload_json FROM ledger WHERE kind = 'run.started' ORDER BY seq LIMIT 1"
        ).fetchone()
        edited = json.dumps({**json.loads(payload), "name": "rewritten"})
        db.execute("UPDATE ledger SET payload_json = ? WHERE id = ?", (edited, entry_id))
    db.close()

    result = cli("verify", "--no-blobs", "-w", _where(populated))
    assert result.exit_code == 1
    assert f"ledger {entry_id}: entry #" in result.stdout
    assert "does not match its hash" in result.stdout
    problems = json.loads(cli("verify", "-w", _where(populated), "--json").stdout)["problems"]
    assert [(p["kind"], p["id"]) for p in problems] == [("ledger", entry_id)]


def test_gc_removes_old_unreferenced_blobs_only(
    cli: Callable[..., Result], populated: Workspace
) -> None:
    store = populated.store
    orphan = store.put(b"left behind by a crashed write")
    fresh = store.put(b"written a moment ago")
    old = time.time() - 7200
    os.utime(store.path_of(orphan), (old, old))  # type: ignore[attr-defined]
    referenced = set(store.digests()) - {orphan, fresh}
    for digest in referenced:
        os.utime(store.path_of(digest), (old, old))  # type: ignore[attr-defined]

    dry = cli("gc", "--dry-run", "-w", _where(populated))
    assert dry.exit_code == 0, dry.output
    assert f"would move {orphan} to the trash" in dry.stdout
    assert "would move 1 blob to the trash, would delete 0 blobs" in dry.stdout
    assert store.path_of(orphan).is_file()  # type: ignore[attr-defined]

    result = cli("gc", "--grace", "3600", "-w", _where(populated))
    assert result.exit_code == 0, result.output
    assert f"moved {orphan} to the trash" in result.stdout
    assert "moved 1 blob to the trash, deleted 0 blobs (0 B freed)" in result.stdout
    assert "1 blob in the trash: a gc once they have been there 1h00m" in result.stdout
    assert not store.path_of(orphan).exists()  # type: ignore[attr-defined]
    assert store.path_of(fresh).is_file()  # type: ignore[attr-defined]
    assert set(store.digests()) == referenced | {fresh}
    assert cli("verify", "-w", _where(populated)).exit_code == 0

    again = json.loads(cli("gc", "--grace", "0", "-w", _where(populated), "--json").stdout)
    assert again == {
        "unreferenced": [fresh],
        "trashed": [fresh],
        "restored": [],
        "deleted": sorted([fresh, orphan]),
        "freed_bytes": 50,
        "pending": 0,
        "linked": 0,
        "dry_run": False,
    }
    assert set(store.digests()) == referenced
    assert "nothing to remove" in cli("gc", "-w", _where(populated)).stdout


def test_runs_logged_from_python_show_up(cli: Callable[..., Result], workspace: Workspace) -> None:
    with start_run("scripted", params={"n": 3}, workspace=workspace) as run:
        run.log_metric("score", 1.5)
    shown = json.loads(cli("runs", "show", run.id, "-w", _where(workspace), "--json").stdout)
    assert shown["name"] == "scripted"
    assert shown["metrics"] == {"score": 1.5}


def test_help_everywhere(cli: Callable[..., Result]) -> None:
    from typer.main import get_command

    from labledger.cli import app

    def walk(command: object, path: list[str]) -> list[list[str]]:
        found = [path]
        for name, sub in sorted(getattr(command, "commands", {}).items()):
            found += walk(sub, [*path, name])
        return found

    # Groups written elsewhere are checked for working help only.
    documented_elsewhere = {"metadata", "collections", "search"}
    for path in walk(get_command(app), []):
        result = cli(*path, "--help")
        assert result.exit_code == 0, path
        assert "Usage" in result.stdout
        if path and path[0] not in documented_elsewhere:
            assert "Example" in result.stdout, path
