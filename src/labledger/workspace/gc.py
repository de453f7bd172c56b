"""Garbage collection: remove blobs that no catalog row references, without racing writers.

A writer stores a blob, then commits the catalog row that references it. Two kinds of writer race
a gc: one whose blob is new (not yet referenced, so it looks like garbage) and one that stores bytes
equal to an old unreferenced blob, finds it present and commits a row referencing it. A gc that
lists the store and deletes what looked old and unreferenced loses the second kind's blob.

The protocol: deletion is two-phase, through the store's trash (``labledger.workspace.trash``).

1. **Sweep.** Read the referenced digests, list the store, and *move* each blob that is
   unreferenced and unchanged for longer than the grace period into the trash. The move is atomic
   (a rename on a local folder; a server-side copy then a delete on S3): a writer that looks for the
   blob after it stores the blob again. A local writer that finds it present renews its modification
   time, which the move keeps: after the rename gc compares it with the one it listed and puts a
   renewed blob straight back. A writer whose renewal fails because the blob moved in between
   stores it again too.
2. **Empty the trash.** Read the referenced digests again, *after* the moves. Every blob in the trash
   (from this run or an earlier, possibly interrupted, one) that a row now references is moved back;
   a trash copy whose blob was stored again is dropped; one that stayed unreferenced for longer than
   the grace period since it entered the trash (or was renewed there) is deleted for good. The rest
   waits for a later gc.

Meanwhile any read (``open``, ``exists``, ``size``) that misses a blob moves it back from the trash
first, so a row committed just after gc's second look still finds its bytes.

What this guarantees: gc never deletes a blob that a committed row references, as long as a
writer commits its row within the grace period of storing the blob (the assumption that protects
new blobs, too), and only one gc runs at a time per catalog (gc takes a lock: a file lock beside a
SQLite catalog, an advisory lock on PostgreSQL). A gc killed at any point leaves blobs either in
place or in the trash, where reads find them and the next gc finishes the job. The writer's path
is unchanged: a blob already present costs one ``utime`` (local) or one ``HEAD`` (S3).

Why not a lock taken by writers, or registration times in the catalog: either puts work on every
write (a shared lock, or a catalog write before the blob is stored) to serve a rare gc.

Hard-linked blobs (``LABLEDGER_STORE_LINK=hardlink``) share their inode with a user's file, so
removing them frees no space: gc keeps them and counts them. Stores without a trash (the in-memory
store) have their unreferenced blobs deleted directly.
"""

from __future__ import annotations

import contextlib
import fcntl
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy import make_url, text

from labledger._foundation.errors import ConfigurationError, WorkspaceError
from labledger.workspace.local_store import LocalBlobStore
from labledger.workspace.references import referenced_blobs, tree_entries
from labledger.workspace.s3_staging import URL_LIFETIME_S, staging_of
from labledger.workspace.trash import Listed, TrashingStore

if TYPE_CHECKING:
    from collections.abc import Iterator

    from labledger.workspace.workspace import Workspace

__all__ = ["DEFAULT_GRACE_S", "GcReport", "collect_garbage"]

DEFAULT_GRACE_S = 3600.0
# The key of gc's PostgreSQL advisory lock ("labledgr" in ASCII).
_ADVISORY_KEY = 0x6C61626C65646772


@dataclass(frozen=True, slots=True)
class GcReport:
    """What ``collect_garbage`` found and did (or, with ``dry_run``, would do).

    Attributes:
        unreferenced: Blobs in the store that nothing references, older than the grace period.
        trashed: Those of them moved to the trash by this run.
        restored: Blobs taken back out of the trash: referenced again, or renewed by a writer.
        deleted: Blobs deleted from the trash for good.
        freed_bytes: The space those deletions freed.
        pending: Blobs left in the trash, for a gc after the grace period to delete.
        linked: Unreferenced hard-linked blobs kept (removing them would free no space).
        dry_run: Nothing was changed.
    """

    unreferenced: list[str]
    trashed: list[str] = field(default_factory=list)
    restored: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    freed_bytes: int = 0
    pending: int = 0
    linked: int = 0
    dry_run: bool = False


def _referenced(workspace: Workspace) -> set[str]:
    """Every blob a row or a ledger entry names, and the blobs their tree manifests list."""
    with workspace.read() as conn:
        found = referenced_blobs(conn)
    referenced = set(found)
    for digest, is_tree in found.items():
        if is_tree:
            referenced.update(tree_entries(workspace.store, digest))
    return referenced


def _busy() -> WorkspaceError:
    return WorkspaceError(
        "another gc is running on this workspace",
        hint="wait for it to finish, then run `labledger gc` again",
    )


@contextlib.contextmanager
def _only_gc(workspace: Workspace) -> Iterator[None]:
    """Hold the workspace's gc lock: two gcs at once could delete each other's trash."""
    catalog = workspace.catalog
    if catalog.dialect == "sqlite":
        database = make_url(catalog.url).database
        if not database or database == ":memory:":
            yield
            return
        with open(f"{database}.gc-lock", "a") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise _busy() from None
            yield  # closing the file (or the process dying) releases the lock
        return
    with catalog.writer.connect() as conn:
        taken = conn.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": _ADVISORY_KEY})
        locked = bool(taken.scalar())
        conn.commit()
        if not locked:
            raise _busy()
        try:
            yield
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": _ADVISORY_KEY})
            conn.commit()


def _sweep(store: TrashingStore, referenced: set[str], grace_s: float) -> tuple[list[Listed], int]:
    """The blobs to move to the trash, and the count of hard-linked ones kept."""
    now = time.time()
    candidates: list[Listed] = []
    linked = 0
    for blob in store.listing():
        if blob.digest in referenced or now - blob.modified_at < grace_s:
            continue
        if blob.shared:
            linked += 1
        else:
            candidates.append(blob)
    return candidates, linked


def _empty_trash(
    workspace: Workspace, store: TrashingStore, grace_s: float, *, dry_run: bool
) -> tuple[list[str], list[str], int, int]:
    """Restore, drop or delete what is in the trash: (restored, deleted, freed, pending)."""
    # Read after the sweep's moves: rows committed by writers that found a blob before it moved.
    referenced = _referenced(workspace)
    now = time.time()
    restored: list[str] = []
    deleted: list[str] = []
    freed = pending = 0
    for entry in store.trashed():
        if entry.stored:
            # Written again since it was moved: the trash copy is a duplicate.
            if not dry_run:
                store.purge(entry.digest)
            freed += entry.size
        elif entry.digest in referenced:
            if dry_run or store.restore(entry.digest):
                restored.append(entry.digest)
        elif now - entry.trashed_at >= grace_s:
            if not dry_run:
                store.purge(entry.digest)
            deleted.append(entry.digest)
            freed += entry.size
        else:
            pending += 1
    return sorted(restored), sorted(deleted), freed, pending


def _collect_directly(workspace: Workspace, *, dry_run: bool, grace_s: float) -> GcReport:
    """For stores without a trash: delete unreferenced blobs old enough (any, if ages are unknown)."""
    referenced = _referenced(workspace)
    modified_at = getattr(workspace.store, "modified_at", None)
    now = time.time()
    unreferenced = [
        d
        for d in workspace.store.digests()
        if d not in referenced and (modified_at is None or now - modified_at(d) >= grace_s)
    ]
    freed = sum(workspace.store.size(d) for d in unreferenced)
    if not dry_run:
        for digest in unreferenced:
            workspace.store.delete(digest)
    return GcReport(unreferenced, deleted=unreferenced, freed_bytes=freed, dry_run=dry_run)


def collect_garbage(
    workspace: Workspace, *, dry_run: bool = False, grace_s: float = DEFAULT_GRACE_S
) -> GcReport:
    """Move unreferenced blobs to the trash and delete what stayed there unreferenced.

    A blob is moved to the trash once it is unreferenced and older than ``grace_s`` seconds, and
    deleted by a gc at least ``grace_s`` seconds later if it is still unreferenced then; so freeing
    its space takes two runs, and both waits protect writers in progress. ``grace_s=0`` deletes at
    once, which is unsafe while anything writes to the workspace.

    Args:
        workspace: The workspace.
        dry_run: Only report what would be done.
        grace_s: The grace period, in seconds (see above).

    Raises:
        WorkspaceError: Another gc is running on this workspace.
        ConfigurationError: The workspace is a server's, reached over HTTP.
    """
    if workspace.settings.server_url is not None:
        raise ConfigurationError(
            f"garbage collection deletes blobs from the store itself, which a server's API does "
            f"not allow ({workspace.settings.server_url})",
            hint="on the server's host, run `labledger gc -w <the server's folder or database "
            "URL>` (LABLEDGER_STORE names a store in S3)",
        )
    store = workspace.store
    if not isinstance(store, TrashingStore):
        return _collect_directly(workspace, dry_run=dry_run, grace_s=grace_s)
    with _only_gc(workspace):
        candidates, linked = _sweep(store, _referenced(workspace), grace_s)
        unreferenced = [blob.digest for blob in candidates]
        trashed = [] if dry_run else [b.digest for b in candidates if store.trash(b)]
        restored, deleted, freed, pending = _empty_trash(workspace, store, grace_s, dry_run=dry_run)
        if dry_run and grace_s <= 0:
            # These would be moved to the trash and deleted in the same run.
            deleted += unreferenced
            freed += sum(blob.size for blob in candidates)
        if not dry_run and isinstance(store, LocalBlobStore):
            store.clean_temp(older_than_s=grace_s)
        staging = None if dry_run else staging_of(store)
        if staging is not None:
            # Direct uploads nobody completed; one whose URL still works may be under way.
            staging.clean(older_than_s=max(grace_s, URL_LIFETIME_S))
    return GcReport(
        unreferenced,
        trashed=trashed,
        restored=restored,
        deleted=deleted,
        freed_bytes=freed,
        pending=pending,
        linked=linked,
        dry_run=dry_run,
    )
