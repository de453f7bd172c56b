"""Whether an artifact's bytes are all in the blob store: its blob, and for a tree every entry."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from labledger._foundation.errors import LabledgerError
from labledger.workspace.blobstore import exists_many

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from labledger.workspace.blobstore import BlobStore

__all__ = ["missing_digests"]


class _Presence:
    """Asks the store about each digest once, in batches where it can."""

    def __init__(self, store: BlobStore) -> None:
        self.store = store
        self.known: dict[str, bool] = {}
        self.manifests: dict[str, list[str] | None] = {}

    def prefetch(self, digests: Iterable[str]) -> None:
        unknown = [digest for digest in digests if digest not in self.known]
        if unknown:
            self.known.update(exists_many(self.store, unknown))

    def has(self, digest: str) -> bool:
        found = self.known.get(digest)
        if found is None:
            found = self.known[digest] = self.store.exists(digest)
        return found

    def entries(self, digest: str) -> list[str] | None:
        """The entry digests of a present tree manifest; ``None`` when it is absent or unreadable."""
        if digest not in self.manifests:
            self.manifests[digest] = self._read_manifest(digest) if self.has(digest) else None
        return self.manifests[digest]

    def _read_manifest(self, digest: str) -> list[str] | None:
        try:
            with self.store.open(digest) as handle:
                document = json.loads(handle.read())
        except (OSError, ValueError, LabledgerError):
            # A manifest that cannot be read or parsed loses the tree as surely as a missing one.
            return None
        entries = document.get("entries") if isinstance(document, dict) else None
        if not isinstance(entries, list):
            return None
        digests = [entry.get("digest") if isinstance(entry, dict) else None for entry in entries]
        if not all(isinstance(d, str) for d in digests):
            return None
        return [d for d in digests if isinstance(d, str)]

    def has_tree(self, digest: str) -> bool:
        """The manifest is present, readable, and every entry's blob is present."""
        entries = self.entries(digest)
        return entries is not None and all(self.has(entry) for entry in entries)


def missing_digests(
    store: BlobStore, blobs: Iterable[tuple[str, bool]], *, known: Mapping[str, bool] | None = None
) -> set[str]:
    """The digests among ``blobs`` (``(digest, is_tree)`` pairs) whose bytes are not all stored.

    A tree counts as missing when its manifest, or the blob of any of its entries, is missing, or
    when the manifest cannot be read. The store is asked about all blobs in one batch, then about
    all trees' entries in another; blobs in ``known`` (digest -> stored, learnt earlier) are not
    asked about.
    """
    pairs = dict.fromkeys(blobs)
    presence = _Presence(store)
    if known:
        presence.known.update((digest, known[digest]) for digest, _ in pairs if digest in known)
    presence.prefetch(digest for digest, _ in pairs)
    trees = [digest for digest, is_tree in pairs if is_tree]
    presence.prefetch(entry for tree in trees for entry in presence.entries(tree) or ())
    return {
        digest
        for digest, is_tree in pairs
        if not (presence.has_tree(digest) if is_tree else presence.has(digest))
    }
