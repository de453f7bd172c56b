"""Garbage collection deletes old unreferenced blobs and nothing else."""

from __future__ import annotations

import fcntl
import os
import time
from types import SimpleNamespace
from typing import TYPE_CHECKING

import pytest

from labledger._foundation.errors import WorkspaceError
from labledger.tracking.run import start_run
from labledger.workspace import gc as gc_module
from labledger.workspace.gc import DEFAULT_GRACE_S, collect_garbage
from labledger.workspace.local_store import LocalBlobStore
from labledger.workspace.memory_store import MemoryBlobStore
from labledger.workspace.verify import verify_workspace
from labledger.workspace.workspace import Workspace

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path


def _age(ws: Workspace, digest: str, seconds: float) -> None:
    assert isinstance(ws.store, LocalBlobStore)
    then = time.time() - seconds
    os.utime(ws.store.path_of(digest), (then, then))


def _later(monkeypatch: pytest.MonkeyPatch, seconds: float) -> None:
    """gc's clock runs ``seconds`` ahead from now on."""
    real = time.time
    monkeypatch.setattr(gc_module, "time", SimpleNamespace(time=lambda: real() + seconds))


def _trash_of(ws: Workspace, digest: str) -> Path:
    assert isinstance(ws.store, LocalBlobStore)
    return ws.store.root / "trash" / digest.removeprefix("blake3:")


def _register(ws: Workspace, digest: str) -> None:
    """Commit a catalog row referencing ``digest`` without storing it (a writer that knew it)."""
    with ws.write() as conn:
        ws.register_blob(conn, digest, ws.store.size(digest))


def _referenced(ws: Workspace) -> str:
    with start_run("keep", workspace=ws) as run:
        artifact = run.log_artifact(b"referenced bytes", name="kept")
    _age(ws, artifact.digest, 2 * DEFAULT_GRACE_S)
    return artifact.digest


def test_old_unreferenced_blobs_go_to_the_trash_then_are_deleted(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    kept = _referenced(workspace)
    orphan = workspace.store.put(b"nobody references me")
    _age(workspace, orphan, 2 * DEFAULT_GRACE_S)
    report = collect_garbage(workspace)
    assert report.unreferenced == [orphan]
    assert report.trashed == [orphan]
    assert (report.deleted, report.freed_bytes, report.pending) == ([], 0, 1)
    assert not report.dry_run
    assert isinstance(workspace.store, LocalBlobStore)
    assert not workspace.store.path_of(orphan).exists()
    assert _trash_of(workspace, orphan).is_file()
    # A gc within the grace period leaves it in the trash; one after it deletes it.
    assert collect_garbage(workspace).pending == 1
    _later(monkeypatch, DEFAULT_GRACE_S + 1)
    report = collect_garbage(workspace)
    assert report.deleted == [orphan]
    assert report.freed_bytes == len(b"nobody references me")
    assert report.pending == 0
    assert not _trash_of(workspace, orphan).exists()
    assert not workspace.store.exists(orphan)
    assert workspace.store.exists(kept)
    assert verify_workspace(workspace).ok


def test_young_unreferenced_blobs_are_kept(workspace: Workspace) -> None:
    young = workspace.store.put(b"a write in progress")
    report = collect_garbage(workspace)
    assert report.unreferenced == []
    assert workspace.store.exists(young)
    # No grace at all deletes it in one run (unsafe while anything writes).
    report = collect_garbage(workspace, grace_s=0)
    assert report.unreferenced == report.deleted == [young]
    assert not workspace.store.exists(young)
    assert list(workspace.store.trashed()) == []  # type: ignore[attr-defined]


def test_dry_run_deletes_nothing(workspace: Workspace) -> None:
    orphan = workspace.store.put(b"orphan")
    _age(workspace, orphan, 2 * DEFAULT_GRACE_S)
    report = collect_garbage(workspace, dry_run=True)
    assert report.unreferenced == [orphan]
    assert report.trashed == report.deleted == []
    assert report.freed_bytes == 0
    assert report.dry_run
    assert workspace.store.path_of(orphan).is_file()  # type: ignore[attr-defined]
    assert collect_garbage(workspace, dry_run=True, grace_s=0).deleted == [orphan]
    assert workspace.store.path_of(orphan).is_file()  # type: ignore[attr-defined]


def test_storing_an_old_orphan_again_renews_its_grace_period(workspace: Workspace) -> None:
    orphan = workspace.store.put(b"about to be referenced again")
    _age(workspace, orphan, 2 * DEFAULT_GRACE_S)
    # A writer stores the same bytes again and has not committed its catalog row yet.
    assert workspace.store.put(b"about to be referenced again") == orphan
    assert collect_garbage(workspace).unreferenced == []
    assert workspace.store.exists(orphan)


def test_storing_an_old_orphan_file_again_renews_its_grace_period(
    workspace: Workspace, tmp_path: Path
) -> None:
    source = tmp_path / "data.csv"
    source.write_bytes(b"a,b\n1,2\n")
    orphan = workspace.store.put_file(source)
    _age(workspace, orphan, 2 * DEFAULT_GRACE_S)
    assert workspace.store.put_file(source) == orphan
    assert collect_garbage(workspace).unreferenced == []


def test_interrupted_write_leftovers_are_cleaned(workspace: Workspace) -> None:
    assert isinstance(workspace.store, LocalBlobStore)
    leftover = workspace.store.root / "tmp" / "put-leftover"
    leftover.write_bytes(b"half a blob")
    then = time.time() - 2 * DEFAULT_GRACE_S
    os.utime(leftover, (then, then))
    fresh = workspace.store.root / "tmp" / "put-fresh"
    fresh.write_bytes(b"being written")
    collect_garbage(workspace)
    assert not leftover.exists()
    assert fresh.exists()


def test_a_store_without_ages_gets_no_grace(tmp_path: Path) -> None:
    store = MemoryBlobStore()
    with Workspace.init(tmp_path, store=store) as ws:
        orphan = store.put(b"in memory")
        report = collect_garbage(ws)
        assert report.unreferenced == report.deleted == [orphan]
        assert not store.exists(orphan)


# -- the protocol's edges ---------------------------------------------------------------------


def _after_listing(
    monkeypatch: pytest.MonkeyPatch, ws: Workspace, then: Callable[[], object]
) -> None:
    """Run ``then`` once gc has listed the store, before it moves or deletes anything."""
    store = ws.store
    listed = store.digests

    def digests() -> Iterator[str]:
        yield from listed()
        then()

    monkeypatch.setattr(store, "digests", digests)


def test_a_blob_renewed_after_gc_listed_it_stays(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    orphan = workspace.store.put(b"stored again by a writer")
    _age(workspace, orphan, 2 * DEFAULT_GRACE_S)
    # A writer stores the same bytes (renewing the blob) after gc's listing, then commits.
    _after_listing(monkeypatch, workspace, lambda: workspace.store.put(b"stored again by a writer"))
    report = collect_garbage(workspace)
    _register(workspace, orphan)
    assert report.trashed == []
    assert workspace.store.path_of(orphan).is_file()  # type: ignore[attr-defined]
    assert verify_workspace(workspace).ok


def test_a_blob_referenced_after_gc_listed_it_is_restored(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    orphan = workspace.store.put(b"referenced by a row committed meanwhile")
    _age(workspace, orphan, 2 * DEFAULT_GRACE_S)
    _after_listing(monkeypatch, workspace, lambda: _register(workspace, orphan))
    report = collect_garbage(workspace)
    assert report.trashed == report.restored == [orphan]
    assert workspace.store.path_of(orphan).is_file()  # type: ignore[attr-defined]
    assert not _trash_of(workspace, orphan).exists()
    assert verify_workspace(workspace).ok


def test_reading_a_trashed_blob_restores_it(workspace: Workspace) -> None:
    store = workspace.store
    assert isinstance(store, LocalBlobStore)
    blobs = [store.put(f"trashed {n}".encode()) for n in range(3)]
    for digest in blobs:
        _age(workspace, digest, 2 * DEFAULT_GRACE_S)
    assert sorted(collect_garbage(workspace).trashed) == sorted(blobs)
    assert not any(store.path_of(digest).exists() for digest in blobs)
    with store.open(blobs[0]) as handle:
        assert handle.read() == b"trashed 0"
    assert store.exists(blobs[1])
    assert store.size(blobs[2]) == len(b"trashed 2")
    assert all(store.path_of(digest).is_file() for digest in blobs)
    assert list(store.trashed()) == []


def test_a_renewal_that_misses_a_moved_blob_stores_it_again(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = workspace.store
    assert isinstance(store, LocalBlobStore)
    digest = store.put(b"moved between the stat and the utime")
    real_utime = os.utime

    def moved_first(path: str, *args: object, **kwargs: object) -> None:
        # gc moves the blob to its trash between the writer's stat and its utime.
        os.replace(path, tmp := f"{path}.moved")
        try:
            real_utime(path, *args, **kwargs)  # type: ignore[arg-type]
        finally:
            monkeypatch.setattr(os, "utime", real_utime)
            os.unlink(tmp)

    monkeypatch.setattr(os, "utime", moved_first)
    assert store.put(b"moved between the stat and the utime") == digest
    assert store.path_of(digest).read_bytes() == b"moved between the stat and the utime"


def test_a_trash_copy_of_a_blob_stored_again_is_dropped(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    orphan = workspace.store.put(b"written again after the move")
    _age(workspace, orphan, 2 * DEFAULT_GRACE_S)
    assert collect_garbage(workspace).trashed == [orphan]
    assert isinstance(workspace.store, LocalBlobStore)
    workspace.store.put(b"written again after the move")  # misses it, writes it anew
    report = collect_garbage(workspace)
    assert (report.deleted, report.pending) == ([], 0)
    assert not _trash_of(workspace, orphan).exists()
    assert workspace.store.path_of(orphan).is_file()


def test_hardlinked_blobs_are_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LABLEDGER_STORE_LINK", "hardlink")
    with Workspace.init(tmp_path / "ws") as ws:
        source = tmp_path / "data.csv"
        source.write_bytes(b"a,b\n1,2\n")
        digest = ws.store.put_file(source)
        assert isinstance(ws.store, LocalBlobStore)
        assert ws.store.path_of(digest).stat().st_nlink == 2
        _later(monkeypatch, 2 * DEFAULT_GRACE_S)
        report = collect_garbage(ws)
        assert (report.unreferenced, report.linked) == ([], 1)
        assert ws.store.path_of(digest).is_file()


def test_one_gc_at_a_time(workspace: Workspace) -> None:
    assert workspace.settings.root is not None
    with open(workspace.settings.root / "catalog.db.gc-lock", "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(WorkspaceError, match="another gc is running"):
            collect_garbage(workspace)
    assert collect_garbage(workspace).unreferenced == []
