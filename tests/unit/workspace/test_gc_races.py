"""gc racing writers, and gc killed mid-sweep: no blob a committed row references is lost."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from types import SimpleNamespace
from typing import TYPE_CHECKING

import pytest

from labledger._foundation.digests import digest_bytes
from labledger.tracking.run import start_run
from labledger.workspace import gc as gc_module
from labledger.workspace.gc import DEFAULT_GRACE_S, collect_garbage
from labledger.workspace.local_store import LocalBlobStore
from tests.conftest import subprocess_env
from tests.unit.workspace.gc_race import (
    blob_problems,
    collect_while_writing,
    payload,
    start_writers,
)

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from labledger.workspace.workspace import Workspace

pytestmark = pytest.mark.slow

ORPHANS = 1500


def _old_orphans(store: LocalBlobStore, count: int) -> list[str]:
    """Store ``count`` payloads nothing references, written long ago."""
    quick = LocalBlobStore(store.root, fsync=False)
    old = time.time() - 2 * DEFAULT_GRACE_S
    orphans = [quick.put(payload(index)) for index in range(count)]
    for digest in orphans:
        os.utime(store.path_of(digest), (old, old))
    return orphans


def payload_digest(index: int) -> str:
    return digest_bytes(payload(index))


def test_gc_racing_writers_that_store_old_orphans_again_loses_nothing(
    workspace: Workspace, tmp_path: Path
) -> None:
    store = workspace.store
    assert isinstance(store, LocalBlobStore)
    _old_orphans(store, ORPHANS)
    writers = start_writers(str(workspace.settings.root), ORPHANS, 2, tmp_path)
    reports = collect_while_writing(workspace, writers, DEFAULT_GRACE_S)
    assert sum(len(report.unreferenced) for report in reports) > 0  # gc raced the writers
    # One more gc puts back whatever a writer referenced after gc's second look: every referenced
    # blob is in place again without a read having to restore it, and the trash is empty.
    collect_garbage(workspace)
    assert all(store.path_of(payload_digest(i)).is_file() for i in range(ORPHANS))
    assert list(store.trashed()) == []
    assert blob_problems(workspace) == []


_KILLED_GC = textwrap.dedent(
    """
    import sys
    import time
    import types

    from labledger.workspace import Workspace
    from labledger.workspace import gc
    from labledger.workspace.local_store import LocalBlobStore

    phase, root, ahead = sys.argv[1], sys.argv[2], float(sys.argv[3])
    step = getattr(LocalBlobStore, phase)

    def slowly(self, *args):
        time.sleep(0.002)  # long enough a sweep to be killed in the middle of
        return step(self, *args)

    setattr(LocalBlobStore, phase, slowly)
    real = time.time
    gc.time = types.SimpleNamespace(time=lambda: real() + ahead)
    with Workspace.open(root) as ws:
        gc.collect_garbage(ws)
    """
)


def _kill_gc_midway(
    workspace: Workspace, phase: str, ahead_s: float, when: Callable[[int], bool]
) -> None:
    """Run gc in a process and SIGKILL it once ``when(entries in the trash)`` holds."""
    store = workspace.store
    assert isinstance(store, LocalBlobStore)
    trash = store.root / "trash"
    environment = subprocess_env()
    process = subprocess.Popen(
        [sys.executable, "-c", _KILLED_GC, phase, str(workspace.settings.root), str(ahead_s)],
        env=environment,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and process.poll() is None:
            if trash.is_dir() and when(len(os.listdir(trash))):
                break
            time.sleep(0.005)
        assert process.poll() is None, "gc finished before it could be killed"
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait()
    assert process.returncode == -signal.SIGKILL


def _orphans_and_artifacts(workspace: Workspace, count: int) -> tuple[list[str], list[str]]:
    store = workspace.store
    assert isinstance(store, LocalBlobStore)
    with start_run("kept", workspace=workspace) as run:
        kept = [run.log_artifact(f"kept {n}".encode(), name=f"k{n}").digest for n in range(100)]
    orphans = _old_orphans(store, count)
    old = time.time() - 2 * DEFAULT_GRACE_S
    for digest in kept:
        os.utime(store.path_of(digest), (old, old))
    return kept, orphans


def _register(workspace: Workspace, digests: list[str]) -> None:
    """Commit rows referencing blobs without storing them (a writer that knew them)."""
    sizes = {payload_digest(n): len(payload(n)) for n in range(2000)}
    with workspace.write() as conn:
        for digest in digests:
            workspace.register_blob(conn, digest, sizes[digest])


@pytest.mark.parametrize("phase", ["trash", "purge"])
def test_gc_killed_midway_loses_nothing_and_the_next_gc_finishes(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch, phase: str
) -> None:
    store = workspace.store
    assert isinstance(store, LocalBlobStore)
    kept, orphans = _orphans_and_artifacts(workspace, 1500)
    early: list[str] = []
    if phase == "trash":
        _kill_gc_midway(workspace, "trash", 0, lambda entries: entries >= 150)
        in_trash = sorted(t.digest for t in store.trashed())
        assert 150 <= len(in_trash) < len(orphans)
    else:
        collect_garbage(workspace)  # everything unreferenced goes to the trash
        in_trash = sorted(t.digest for t in store.trashed())
        assert len(in_trash) == len(orphans)
        # Rows committed meanwhile, by writers that did not store the blobs again.
        early = in_trash[:50]
        _register(workspace, early)
        # A gc past the grace period, deleting the trash for good, killed halfway.
        _kill_gc_midway(
            workspace, "purge", 2 * DEFAULT_GRACE_S, lambda entries: entries <= len(orphans) - 150
        )
        assert 100 < len(list(store.trashed())) <= len(orphans) - 150
    # Rows committed after the kill, referencing blobs that sit in the trash.
    still_there = {t.digest for t in store.trashed()} - set(early)
    late = sorted(still_there)[:50]
    assert len(late) == 50
    _register(workspace, late)
    referenced = [*kept, *early, *late]
    assert blob_problems(workspace) == []  # reads take them back out of the trash
    assert all(store.path_of(digest).is_file() for digest in referenced)
    # The next gc after the grace period finishes the job: no trash left, nothing referenced lost.
    real = time.time
    monkeypatch.setattr(
        gc_module, "time", SimpleNamespace(time=lambda: real() + 3 * DEFAULT_GRACE_S)
    )
    report = collect_garbage(workspace)
    assert report.pending == 0
    assert list(store.trashed()) == []
    assert sorted(store.digests()) == sorted(set(referenced) | set(_environment(workspace)))
    assert blob_problems(workspace) == []


def _environment(workspace: Workspace) -> list[str]:
    """Blobs the catalog references besides artifacts (each run's environment)."""
    from sqlalchemy import select

    from labledger.workspace import schema

    with workspace.read() as conn:
        return list(conn.execute(select(schema.blobs.c.digest)).scalars())
