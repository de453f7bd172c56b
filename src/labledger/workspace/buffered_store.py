"""A blob store that holds small writes in memory and sends them together on ``flush``.

Against a server every ``put`` is a round trip (a presence question, then the upload): a pipeline
of small steps would pay two per step. ``BufferedBlobStore`` keeps blobs up to ``max_blob_bytes``
in memory instead, answers reads, presence and sizes of them from there, and stores them all in
one batch (``put_many``: one presence question and one batched upload) when ``flush`` is called:
by the executor, right before the recorder commits the task rows that reference them, so a row
never points at a blob the store lacks. Nothing of a killed process becomes visible: the blobs it
held were never sent, and the rows that would have referenced them were never written. It
flushes by itself when it holds more than ``max_pending_bytes`` or ``max_pending`` blobs.
Larger blobs, streams and files go straight to the store.
"""

from __future__ import annotations

import io
import threading
from typing import TYPE_CHECKING, Any, BinaryIO

from labledger._foundation.digests import digest_bytes
from labledger.workspace.blobstore import exists_many, put_files, put_many

if TYPE_CHECKING:
    import os
    from collections.abc import Iterable, Iterator, Sequence

    from labledger._foundation.settings import StoreLink
    from labledger.workspace.blobstore import BlobSource, BlobStore

__all__ = ["BufferedBlobStore", "buffers_writes"]

MAX_BLOB_BYTES = 1024 * 1024
MAX_PENDING_BYTES = 16 * 1024 * 1024
MAX_PENDING = 2000


def buffers_writes(store: BlobStore) -> bool:
    """Whether writes to ``store`` are worth holding for a batch: each one is a round trip."""
    return bool(getattr(store, "remote", False)) and hasattr(store, "put_many")


class BufferedBlobStore:
    """``store``, with small ``put`` calls held in memory until ``flush`` (see the module).

    Safe to share between threads: a task pool's workers put while the runner flushes.

    Args:
        store: Where the blobs go.
        max_blob_bytes: Larger blobs are stored at once.
        max_pending_bytes: Flush once the held blobs are larger than this together.
        max_pending: Flush once more blobs than this are held.
    """

    def __init__(
        self,
        store: BlobStore,
        *,
        max_blob_bytes: int = MAX_BLOB_BYTES,
        max_pending_bytes: int = MAX_PENDING_BYTES,
        max_pending: int = MAX_PENDING,
    ) -> None:
        self.store = store
        self.url = getattr(store, "url", "")
        self.max_blob_bytes = max_blob_bytes
        self.max_pending_bytes = max_pending_bytes
        self.max_pending = max_pending
        self._pending: dict[str, bytes] = {}
        self._bytes = 0
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        # What the store offers beyond the protocol (its settings, say) reads through.
        if name == "store":  # not set yet (a copy being made): nothing to read through
            raise AttributeError(name)
        return getattr(self.store, name)

    @property
    def pending(self) -> int:
        """How many blobs are held, not yet in the store."""
        return len(self._pending)

    def put(self, source: BlobSource) -> str:
        if not isinstance(source, bytes | bytearray | memoryview) or (
            len(source) > self.max_blob_bytes
        ):
            return self.store.put(source)
        data = bytes(source)
        digest = digest_bytes(data)
        with self._lock:
            if digest not in self._pending:
                self._pending[digest] = data
                self._bytes += len(data)
            full = self._bytes > self.max_pending_bytes or len(self._pending) > self.max_pending
        if full:
            self.flush()
        return digest

    def put_file(self, path: str | os.PathLike[str], *, link: StoreLink | None = None) -> str:
        return self.store.put_file(path, link=link)

    def put_files(self, paths: Sequence[str | os.PathLike[str]]) -> list[str]:
        return put_files(self.store, paths)

    def put_many(self, blobs: Sequence[bytes]) -> list[str]:
        return [self.put(blob) for blob in blobs]

    def flush(self) -> None:
        """Store every held blob, in one batch."""
        with self._lock:
            held = dict(self._pending)
        if not held:
            return
        put_many(self.store, list(held.values()))
        with self._lock:
            # Reads found them here until now; from here on the store answers.
            for digest in held:
                data = self._pending.pop(digest, None)
                if data is not None:
                    self._bytes -= len(data)

    def _held(self, digest: str) -> bytes | None:
        with self._lock:
            return self._pending.get(digest)

    def open(self, digest: str) -> BinaryIO:
        data = self._held(digest)
        return self.store.open(digest) if data is None else io.BytesIO(data)

    def exists(self, digest: str) -> bool:
        return self._held(digest) is not None or self.store.exists(digest)

    def exists_many(self, digests: Iterable[str]) -> dict[str, bool]:
        wanted = list(dict.fromkeys(digests))
        with self._lock:
            held = {digest for digest in wanted if digest in self._pending}
        found = dict.fromkeys(held, True)
        found.update(exists_many(self.store, [d for d in wanted if d not in held]))
        return {digest: found[digest] for digest in wanted}

    def size(self, digest: str) -> int:
        data = self._held(digest)
        return self.store.size(digest) if data is None else len(data)

    def delete(self, digest: str) -> None:
        with self._lock:
            data = self._pending.pop(digest, None)
            if data is not None:
                self._bytes -= len(data)
        self.store.delete(digest)

    def digests(self) -> Iterator[str]:
        return self.store.digests()
