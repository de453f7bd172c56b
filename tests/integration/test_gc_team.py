"""gc racing writers on a team workspace: PostgreSQL catalog, S3 (SeaweedFS) blob store."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

import pytest

from labledger._foundation.digests import digest_bytes
from labledger.workspace import Workspace
from labledger.workspace.fsspec_store import FsspecBlobStore
from labledger.workspace.gc import collect_garbage
from tests.unit.workspace.gc_race import (
    blob_problems,
    collect_while_writing,
    payload,
    start_writers,
)

if TYPE_CHECKING:
    from pathlib import Path


pytestmark = [pytest.mark.integration, pytest.mark.slow]

# Fewer than the SQLite test's: each artifact costs S3 requests, and gc lists the bucket each round.
ORPHANS = 600
# Objects cannot be aged on S3: a short grace period makes the orphans old after a short wait.
GRACE_S = 2.0


def test_gc_racing_writers_on_postgres_and_s3_loses_nothing(team_env: str, tmp_path: Path) -> None:
    with Workspace.init(team_env) as ws:
        store = ws.store
        assert isinstance(store, FsspecBlobStore)
        assert ws.catalog.dialect == "postgresql"
        with ThreadPoolExecutor(16) as pool:
            orphans = list(pool.map(lambda index: store.put(payload(index)), range(ORPHANS)))
        time.sleep(GRACE_S + 1)
        writers = start_writers(None, ORPHANS, 2, tmp_path)
        reports = collect_while_writing(ws, writers, GRACE_S)
        assert sum(len(report.trashed) for report in reports) > 0  # gc raced the writers
        # A gc once the trash is past its grace period puts back what writers referenced late.
        time.sleep(GRACE_S + 1)
        final = collect_garbage(ws, grace_s=GRACE_S)
        assert final.deleted == []
        assert list(store.trashed()) == []
        assert set(orphans) <= set(store.digests())
        assert orphans == [digest_bytes(payload(index)) for index in range(ORPHANS)]
        assert blob_problems(ws) == []


def test_gc_on_s3_moves_to_the_trash_and_reads_restore(team_env: str) -> None:
    with Workspace.init(team_env) as ws:
        store = ws.store
        assert isinstance(store, FsspecBlobStore)
        orphan = store.put(b"an orphan on S3")
        fresh = collect_garbage(ws, grace_s=GRACE_S)
        assert fresh.unreferenced == []  # young: it may belong to a write in progress
        time.sleep(GRACE_S + 1)
        report = collect_garbage(ws, grace_s=GRACE_S)
        assert report.trashed == [orphan]
        assert report.pending == 1
        assert orphan not in set(store.digests())
        with store.open(orphan) as handle:  # a read takes it back out of the trash
            assert handle.read() == b"an orphan on S3"
        assert list(store.trashed()) == []
        assert orphan in set(store.digests())
        # Put back as a new copy, it is young again; once old, it goes to the trash and then for good.
        time.sleep(GRACE_S + 1)
        assert collect_garbage(ws, grace_s=GRACE_S).trashed == [orphan]
        time.sleep(GRACE_S + 1)
        report = collect_garbage(ws, grace_s=GRACE_S)
        assert report.deleted == [orphan]
        assert report.freed_bytes == len(b"an orphan on S3")
        assert not store.exists(orphan)
