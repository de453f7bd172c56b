"""Whether an artifact's bytes are all in the blob store: its blob, and for a tree every entry."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from labledger._foundation.errors import LabledgerError

if TYPE_CHECKING:
    from collections.abc import Iterable

    from labledger.workspace.blobstore import BlobStore

__all__ = ["missing_digests"]


class _Presence:
    """Asks the store about each digest once."""

    def __init__(self, store: BlobStore) -> None:
        self.store = store
        self.known: dict[str, bool] = {}

    def has(self, digest: str) -> bool:
        found = self.known.get(digest)
        if found is None:
            found = self.known[digest] = self.store.exists(digest)
        return found

    def has_tree(self, digest: str) -> bool:
        """The manifest is present, readable, and every entry's blob is present."""
        if not self.has(digest):
            return False
        try:
            with self.store.open(digest) as handle:
                document = json.loads(handle.read())
        except (OSError, ValueError, LabledgerError):
            # A manifest that cannot be read or parsed loses the tree as surely as a missing one.
            return False
        entries = document.get("entries") if isinstance(document, dict) else None
        if not isinstance(entries, list):
            return False
        for entry in entries:
            entry_digest = entry.get("digest") if isinstance(entry, dict) else None
            if not isinstance(entry_digest, str) or not self.has(entry_digest):
                return False
        return True


def missing_digests(store: BlobStore, blobs: Iterable[tuple[str, bool]]) -> set[str]:
    """The digests among ``blobs`` (``(digest, is_tree)`` pairs) whose bytes are not all stored.

    A tree counts as missing when its manifest, or the blob of any of its entries, is missing, or
    when the manifest cannot be read.
    """
    presence = _Presence(store)
    missing: set[str] = set()
    for digest, is_tree in dict.fromkeys(blobs):
        if not (presence.has_tree(digest) if is_tree else presence.has(digest)):
            missing.add(digest)
    return missing
