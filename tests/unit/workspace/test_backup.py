"""backup_workspace / restore_workspace: round trip, incremental, repair, and what is reported."""

from __future__ import annotations

import json
import stat
import time
from typing import TYPE_CHECKING

import pytest

from labledger._foundation.errors import ConfigurationError, WorkspaceError
from labledger.tracking.artifacts import read_tree
from labledger.tracking.run import start_run
from labledger.workspace.backup import BACKUP_FILE, backup_workspace, restore_workspace
from labledger.workspace.backup_blobs import blob_path
from labledger.workspace.gc import collect_garbage
from labledger.workspace.local_store import LocalBlobStore
from labledger.workspace.verify import verify_workspace
from labledger.workspace.workspace import Workspace

if TYPE_CHECKING:
    from pathlib import Path


def _fill(ws: Workspace, tmp_path: Path, runs: int = 3, salt: str = "") -> list[str]:
    """A few finished runs with metrics, a file artifact and a folder artifact each."""
    digests = []
    for index in range(runs):
        folder = tmp_path / f"results-{index}"
        (folder / "sub").mkdir(parents=True)
        (folder / "a.txt").write_text(f"a {index}{salt}")
        (folder / "sub" / "b.bin").write_bytes(bytes([index]) * 5000)
        with start_run(f"study-{index}", params={"i": index}, workspace=ws) as run:
            run.log_metric("loss", 1.0 / (index + 1))
            digests.append(run.log_artifact(f"model {index}{salt}".encode(), name="model").digest)
            digests.append(run.log_artifact(folder, name="results").digest)
    return digests


def _damage(path: Path, *, same_size: bool) -> None:
    path.chmod(stat.S_IRUSR | stat.S_IWUSR)
    data = bytearray(path.read_bytes())
    if same_size:
        data[0] ^= 0xFF
    else:
        data += b"junk"
    path.write_bytes(bytes(data))


def test_round_trip(workspace: Workspace, tmp_path: Path) -> None:
    digests = _fill(workspace, tmp_path)
    report = backup_workspace(workspace, tmp_path / "backup")
    assert report.ok, report.verify
    assert report.copied == report.blobs > len(digests)  # tree files are blobs too
    assert report.key_copied
    key = tmp_path / "backup" / ".labledger" / "workspace-key.pem"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    manifest = json.loads((tmp_path / "backup" / BACKUP_FILE).read_text())
    assert manifest["blobs"]["copied"] == report.copied
    assert manifest["checkpoint"]["size"] > 0
    assert manifest["verified"]["ok"]

    # The backup is a workspace folder, and `verify` passes on it with every blob re-hashed.
    with Workspace.open(tmp_path / "backup") as copy:
        assert verify_workspace(copy, remember=False).ok

    restored = restore_workspace(tmp_path / "backup", tmp_path / "restored")
    assert restored.ok, restored.verify
    assert restored.copied == report.blobs
    with Workspace.open(tmp_path / "restored") as ws:
        with ws.read() as conn:
            count = conn.exec_driver_sql("SELECT count(*) FROM runs").scalar()
        assert count == 3
        tree = next(d for d in digests if read_tree_or_none(ws, d))
        assert all(ws.store.exists(entry["digest"]) for entry in read_tree(ws, tree))


def read_tree_or_none(ws: Workspace, digest: str) -> list[object] | None:
    try:
        return list(read_tree(ws, digest))
    except Exception:
        return None


def test_a_second_backup_with_nothing_new_copies_nothing_and_is_quick(
    workspace: Workspace, tmp_path: Path
) -> None:
    _fill(workspace, tmp_path)
    first = backup_workspace(workspace, tmp_path / "backup")
    started = time.perf_counter()
    second = backup_workspace(workspace, tmp_path / "backup")
    elapsed = time.perf_counter() - started
    assert second.ok
    assert (second.copied, second.bytes_copied) == (0, 0)
    assert second.present == first.blobs
    assert elapsed < 1.0

    _fill(workspace, tmp_path / "more", runs=1, salt="new")
    third = backup_workspace(workspace, tmp_path / "backup")
    assert third.ok
    assert 0 < third.copied < third.blobs


def test_a_damaged_blob_in_the_backup_is_copied_again(workspace: Workspace, tmp_path: Path) -> None:
    digests = _fill(workspace, tmp_path)
    backup_workspace(workspace, tmp_path / "backup")
    objects = tmp_path / "backup" / ".labledger" / "objects"
    _damage(blob_path(objects, digests[0]), same_size=False)
    _damage(blob_path(objects, digests[2]), same_size=True)

    # A size that differs is seen by every backup ...
    quick = backup_workspace(workspace, tmp_path / "backup")
    assert quick.copied == 1
    # ... bytes flipped in place only by one that re-hashes what it holds.
    full = backup_workspace(workspace, tmp_path / "backup", rehash_all=True)
    assert full.ok, full.verify
    assert full.copied == 1
    assert full.verify is not None
    assert full.verify.blobs_checked == full.blobs
    with Workspace.open(tmp_path / "backup") as copy:
        assert verify_workspace(copy, remember=False).ok


def test_a_blob_missing_from_the_source_is_reported(workspace: Workspace, tmp_path: Path) -> None:
    digests = _fill(workspace, tmp_path)
    assert isinstance(workspace.store, LocalBlobStore)
    workspace.store.path_of(digests[0]).unlink()
    report = backup_workspace(workspace, tmp_path / "backup")
    assert not report.ok
    assert report.missing == [digests[0]]
    assert report.verify is not None
    reasons = {p.id: p.reason for p in report.verify.problems}
    assert "missing from the source store" in reasons[digests[0]]
    manifest = json.loads((tmp_path / "backup" / BACKUP_FILE).read_text())
    assert manifest["blobs"]["missing"] == [digests[0]]
    assert not manifest["verified"]["ok"]


def test_a_corrupt_source_blob_is_not_copied(workspace: Workspace, tmp_path: Path) -> None:
    digests = _fill(workspace, tmp_path)
    assert isinstance(workspace.store, LocalBlobStore)
    _damage(workspace.store.path_of(digests[0]), same_size=True)
    report = backup_workspace(workspace, tmp_path / "backup")
    assert report.corrupt == [digests[0]]
    assert not report.ok
    assert not blob_path(tmp_path / "backup" / ".labledger" / "objects", digests[0]).exists()


def test_blobs_in_the_trash_are_backed_up_without_leaving_it(
    workspace: Workspace, tmp_path: Path
) -> None:
    digests = _fill(workspace, tmp_path)
    store = workspace.store
    assert isinstance(store, LocalBlobStore)
    # A blob the catalog references but that sits in the trash (as after a gc that raced a
    # writer) is read there.
    listed = next(b for b in store.listing() if b.digest == digests[0])
    assert store.trash(listed)
    report = backup_workspace(workspace, tmp_path / "backup")
    assert report.ok, report.verify
    assert not store.path_of(digests[0]).exists()
    assert any(t.digest == digests[0] for t in store.trashed())
    collect_garbage(workspace, grace_s=3600)  # puts it back: it is referenced


def test_restore_refuses_an_existing_workspace_unless_forced(
    workspace: Workspace, tmp_path: Path
) -> None:
    _fill(workspace, tmp_path, runs=1)
    backup_workspace(workspace, tmp_path / "backup")
    Workspace.init(tmp_path / "other").close()
    with pytest.raises(WorkspaceError, match="already holds a workspace"):
        restore_workspace(tmp_path / "backup", tmp_path / "other")
    report = restore_workspace(tmp_path / "backup", tmp_path / "other", force=True)
    assert report.ok, report.verify
    with pytest.raises(WorkspaceError, match="no backup"):
        restore_workspace(tmp_path / "nothing-here", tmp_path / "x")


def test_the_backup_cannot_go_inside_the_workspace(workspace: Workspace, tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="inside it"):
        backup_workspace(workspace, tmp_path)
    with pytest.raises(ConfigurationError, match="inside it"):
        backup_workspace(workspace, tmp_path / ".labledger" / "copy")


def test_progress_reports_bytes_copied(workspace: Workspace, tmp_path: Path) -> None:
    _fill(workspace, tmp_path, runs=1)
    seen: dict[str, tuple[int, int]] = {}
    report = backup_workspace(
        workspace, tmp_path / "backup", progress=lambda p, d, t: seen.__setitem__(p, (d, t))
    )
    assert seen["copying"] == (report.bytes_copied, report.bytes_copied)
    assert seen["checking"] == (report.blobs, report.blobs)


def test_a_backup_copies_blobs_whose_rows_were_deleted(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import sqlite3

    import labledger
    from labledger.workspace.backup import backup_workspace
    from labledger.workspace.workspace import Workspace

    with Workspace.init(tmp_path / "ws") as ws:
        with labledger.start_run("r", workspace=ws) as run:
            run.log_artifact(b"precious bytes", name="data.bin")
        db = sqlite3.connect(tmp_path / "ws" / ".labledger" / "catalog.db")
        db.execute("PRAGMA foreign_keys = OFF")
        db.execute("DELETE FROM blobs")
        db.commit()
        db.close()
        report = backup_workspace(ws, tmp_path / "backup")
    copied = list((tmp_path / "backup" / ".labledger" / "objects").rglob("*"))
    assert any(p.is_file() for p in copied)
    assert report.copied > 0
