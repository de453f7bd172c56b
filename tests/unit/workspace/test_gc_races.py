"""gc racing writers, and gc killed mid-sweep: no blob a committed row references is lost."""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING

from labledger._foundation.digests import digest_bytes
from labledger.workspace.gc import DEFAULT_GRACE_S, collect_garbage
from labledger.workspace.local_store import LocalBlobStore
from tests.unit.workspace.gc_race import blob_problems, collect_while_writing, payload, start_writers

if TYPE_CHECKING:
    from pathlib import Path

    from labledger.workspace.workspace import Workspace

ORPHANS = 1500


def payload_digest(index: int) -> str:
    return digest_bytes(payload(index))


def test_gc_racing_writers_that_store_old_orphans_again_loses_nothing(
    workspace: Workspace, tmp_path: Path
) -> None:
    store = workspace.store
    assert isinstance(store, LocalBlobStore)
    old = time.time() - 2 * DEFAULT_GRACE_S
    for index in range(ORPHANS):
        os.utime(store.path_of(store.put(payload(index))), (old, old))
    writers = start_writers(str(workspace.settings.root), ORPHANS, 2, tmp_path)
    reports = collect_while_writing(workspace, writers, DEFAULT_GRACE_S)
    assert sum(len(report.unreferenced) for report in reports) > 0  # gc raced the writers
    # One more gc puts back whatever a writer referenced after gc's second look: every referenced
    # blob is in place again without a read having to restore it, and the trash is empty.
    collect_garbage(workspace)
    assert all(store.path_of(payload_digest(i)).is_file() for i in range(ORPHANS))
    assert list(store.trashed()) == []
    assert blob_problems(workspace) == []
