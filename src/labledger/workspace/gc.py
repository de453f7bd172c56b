"""Garbage collection: delete blobs that no catalog row references.

A blob is written before the catalog row that references it commits, so a blob younger than the
grace period may belong to a write in progress and is always kept.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import select

from labledger.workspace import schema
from labledger.workspace.local_store import LocalBlobStore

if TYPE_CHECKING:
    from labledger.workspace.workspace import Workspace

__all__ = ["GcReport", "collect_garbage"]

DEFAULT_GRACE_S = 3600.0


@dataclass(frozen=True, slots=True)
class GcReport:
    """What ``collect_garbage`` found and did."""

    unreferenced: list[str]
    deleted: int
    freed_bytes: int
    dry_run: bool


def _age(workspace: Workspace, digest: str, now: float) -> float:
    modified_at = getattr(workspace.store, "modified_at", None)
    if modified_at is None:
        # A store that cannot say when a blob was written gets no grace period.
        return float("inf")
    return now - float(modified_at(digest))


def collect_garbage(
    workspace: Workspace, *, dry_run: bool = False, grace_s: float = DEFAULT_GRACE_S
) -> GcReport:
    """Delete unreferenced blobs older than ``grace_s`` seconds (report only when ``dry_run``)."""
    with workspace.read() as conn:
        referenced = set(conn.execute(select(schema.blobs.c.digest)).scalars())
    now = time.time()
    unreferenced = [
        d
        for d in workspace.store.digests()
        if d not in referenced and _age(workspace, d, now) >= grace_s
    ]
    freed = 0
    if not dry_run:
        for digest in unreferenced:
            freed += workspace.store.size(digest)
            workspace.store.delete(digest)
        if isinstance(workspace.store, LocalBlobStore):
            workspace.store.clean_temp(older_than_s=grace_s)
    return GcReport(unreferenced, 0 if dry_run else len(unreferenced), freed, dry_run)
