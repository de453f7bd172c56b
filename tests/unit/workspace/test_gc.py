"""Garbage collection deletes old unreferenced blobs and nothing else."""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING

from labledger.tracking.run import start_run
from labledger.workspace.gc import DEFAULT_GRACE_S, collect_garbage
from labledger.workspace.local_store import LocalBlobStore
from labledger.workspace.memory_store import MemoryBlobStore
from labledger.workspace.verify import verify_workspace
from labledger.workspace.workspace import Workspace

if TYPE_CHECKING:
    from pathlib import Path


def _age(ws: Workspace, digest: str, seconds: float) -> None:
    assert isinstance(ws.store, LocalBlobStore)
    then = time.time() - seconds
    os.utime(ws.store.path_of(digest), (then, then))


def _referenced(ws: Workspace) -> str:
    with start_run("keep", workspace=ws) as run:
        artifact = run.log_artifact(b"referenced bytes", name="kept")
    _age(ws, artifact.digest, 2 * DEFAULT_GRACE_S)
    return artifact.digest


def test_old_unreferenced_blobs_are_deleted(workspace: Workspace) -> None:
    kept = _referenced(workspace)
    orphan = workspace.store.put(b"nobody references me")
    _age(workspace, orphan, 2 * DEFAULT_GRACE_S)
    report = collect_garbage(workspace)
    assert report.unreferenced == [orphan]
    assert report.deleted == 1
    assert report.freed_bytes == len(b"nobody references me")
    assert not report.dry_run
    assert not workspace.store.exists(orphan)
    assert workspace.store.exists(kept)
    assert verify_workspace(workspace).ok


def test_young_unreferenced_blobs_are_kept(workspace: Workspace) -> None:
    young = workspace.store.put(b"a write in progress")
    report = collect_garbage(workspace)
    assert report.unreferenced == []
    assert workspace.store.exists(young)
    assert collect_garbage(workspace, grace_s=0).unreferenced == [young]
    assert not workspace.store.exists(young)


def test_dry_run_deletes_nothing(workspace: Workspace) -> None:
    orphan = workspace.store.put(b"orphan")
    _age(workspace, orphan, 2 * DEFAULT_GRACE_S)
    report = collect_garbage(workspace, dry_run=True)
    assert report.unreferenced == [orphan]
    assert report.deleted == 0
    assert report.freed_bytes == 0
    assert report.dry_run
    assert workspace.store.exists(orphan)


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
        assert collect_garbage(ws).unreferenced == [orphan]
        assert not store.exists(orphan)
