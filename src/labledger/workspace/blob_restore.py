"""Putting back missing or damaged blobs from a backup, keeping the catalog as it is.

When ``verify`` finds a blob missing or corrupt, restoring the whole backup would roll the catalog
back and lose what was done since. This copies, from a backup folder, only the blobs the current
catalog and ledger refer to that are missing from the store or whose bytes no longer match, each
checked against its digest on the way.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from labledger._foundation.digests import CHUNK_SIZE, Hasher
from labledger._foundation.errors import LabledgerError, ValidationError
from labledger.workspace.local_store import LocalBlobStore
from labledger.workspace.references import referenced_blobs, tree_entries

if TYPE_CHECKING:
    from labledger.workspace.blobstore import BlobStore
    from labledger.workspace.workspace import Workspace

__all__ = ["BlobRestore", "restore_blobs"]


@dataclass(frozen=True, slots=True)
class BlobRestore:
    """What ``restore_blobs`` did: blobs put back, and those the backup could not supply."""

    restored: list[str] = field(default_factory=list)
    unavailable: list[str] = field(default_factory=list)


def _intact(store: BlobStore, digest: str) -> bool:
    try:
        hasher = Hasher()
        with store.open(digest) as handle:
            while chunk := handle.read(CHUNK_SIZE):
                hasher.update(chunk)
    except LabledgerError:
        return False
    return hasher.digest == digest


def restore_blobs(workspace: Workspace, source: str | os.PathLike[str]) -> BlobRestore:
    """Copy from the backup at ``source`` every referenced blob missing or damaged here.

    Raises:
        ValidationError: ``source`` is not a backup folder.
    """
    objects = Path(source) / ".labledger" / "objects"
    if not objects.is_dir():
        raise ValidationError(
            f"{os.fspath(source)} is not a labledger backup (no .labledger/objects)",
            hint="pass the folder `labledger backup DEST` wrote",
        )
    backup = LocalBlobStore(objects)
    with workspace.read() as conn:
        found = referenced_blobs(conn)
    wanted = dict(found)
    for digest, is_tree in found.items():
        if is_tree:
            wanted.update(dict.fromkeys(tree_entries(backup, digest), False))
    report = BlobRestore()
    for digest in sorted(wanted):
        if _intact(workspace.store, digest):
            continue
        if not _intact(backup, digest):
            report.unavailable.append(digest)
            continue
        if workspace.store.exists(digest) and isinstance(workspace.store, LocalBlobStore):
            # Damaged bytes under the right name: make way for the good copy.
            path = workspace.store.path_of(digest)
            os.chmod(path, 0o600)
            path.unlink()
        with backup.open(digest) as handle:
            workspace.store.put(handle)
        report.restored.append(digest)
    return report
