"""An in-memory blob store, for tests and throw-away workspaces."""

from __future__ import annotations

import io
import threading
from typing import TYPE_CHECKING, BinaryIO

from labledger._foundation.digests import digest_bytes, parse_digest
from labledger._foundation.errors import NotFoundError
from labledger.workspace.blobstore import BlobSource, as_stream

if TYPE_CHECKING:
    import os
    from collections.abc import Iterator

    from labledger._foundation.settings import StoreLink

__all__ = ["MemoryBlobStore"]


class MemoryBlobStore:
    """Blobs kept in a dict; lost when the process ends."""

    def __init__(self) -> None:
        self.url = "memory://"
        self._blobs: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def put(self, source: BlobSource) -> str:
        data = as_stream(source).read()
        digest = digest_bytes(data)
        with self._lock:
            self._blobs.setdefault(digest, data)
        return digest

    def put_file(self, path: str | os.PathLike[str], *, link: StoreLink | None = None) -> str:
        with open(path, "rb") as handle:
            return self.put(handle)

    def open(self, digest: str) -> BinaryIO:
        try:
            return io.BytesIO(self._blobs[parse_digest(digest)])
        except KeyError:
            raise NotFoundError(f"blob {digest} is not in the memory store") from None

    def exists(self, digest: str) -> bool:
        return parse_digest(digest) in self._blobs

    def size(self, digest: str) -> int:
        try:
            return len(self._blobs[parse_digest(digest)])
        except KeyError:
            raise NotFoundError(f"blob {digest} is not in the memory store") from None

    def delete(self, digest: str) -> None:
        with self._lock:
            self._blobs.pop(parse_digest(digest), None)

    def digests(self) -> Iterator[str]:
        yield from list(self._blobs)
