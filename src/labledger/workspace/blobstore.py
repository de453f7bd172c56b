"""The ``BlobStore`` Protocol: immutable bytes addressed by their BLAKE3 digest.

Every implementation (a local folder, an fsspec filesystem such as S3, memory) offers the same few
verbs and passes the same conformance suite. A blob becomes visible only once it is complete, so a
process killed mid-write never leaves a half-written blob under a valid digest.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, BinaryIO, Protocol, runtime_checkable

from labledger._foundation.digests import Hasher
from labledger._foundation.errors import IntegrityError

if TYPE_CHECKING:
    import os
    from collections.abc import Iterable, Iterator, Sequence

    from labledger._foundation.settings import StoreLink

__all__ = [
    "BlobSource",
    "BlobStore",
    "VerifyingReader",
    "as_stream",
    "exists_many",
    "put_files",
    "put_many",
]

BlobSource = bytes | bytearray | memoryview | BinaryIO


@runtime_checkable
class BlobStore(Protocol):
    """A content-addressed store of immutable blobs."""

    url: str

    def put(self, source: BlobSource) -> str:
        """Store bytes or a binary stream; return its digest. Storing a present blob is a no-op."""
        ...

    def put_file(self, path: str | os.PathLike[str], *, link: StoreLink | None = None) -> str:
        """Store a local file's bytes; return its digest.

        ``link`` asks a local store for a clone or hard link instead of a copy (``None``: the
        store's own mode); stores that cannot link copy.
        """
        ...

    def open(self, digest: str) -> BinaryIO:
        """A binary stream of the blob. Raises ``NotFoundError`` when absent."""
        ...

    def exists(self, digest: str) -> bool:
        """Whether the blob is present."""
        ...

    def size(self, digest: str) -> int:
        """The blob's size in bytes. Raises ``NotFoundError`` when absent."""
        ...

    def delete(self, digest: str) -> None:
        """Remove the blob; removing an absent blob is a no-op."""
        ...

    def digests(self) -> Iterator[str]:
        """Every stored digest, in no particular order."""
        ...


def exists_many(store: BlobStore, digests: Iterable[str]) -> dict[str, bool]:
    """Whether each of ``digests`` is present; one concurrent batch on stores that offer one.

    A remote store answers each question with a request: asked one after the other, a lineage
    graph of thousands of artifacts would wait for thousands of round trips.
    """
    unique = list(dict.fromkeys(digests))
    batch = getattr(store, "exists_many", None)
    if batch is not None:
        return dict(batch(unique))
    return {digest: store.exists(digest) for digest in unique}


def put_files(store: BlobStore, paths: Sequence[str | os.PathLike[str]]) -> list[str]:
    """Store local files; their digests in order. One batch on stores that offer one.

    A server's store asks once which of the files it already has, then sends only the others.
    """
    batch = getattr(store, "put_files", None)
    if batch is not None:
        return list(batch(paths))
    return [store.put_file(path) for path in paths]


def put_many(store: BlobStore, blobs: Sequence[bytes]) -> list[str]:
    """Store blobs held in memory; their digests in order. One batch on stores that offer one.

    A folder store makes them durable with one sync instead of one per blob; a server's store
    asks once which it has and sends the others together.
    """
    batch = getattr(store, "put_many", None)
    if batch is not None:
        return list(batch(blobs))
    return [store.put(data) for data in blobs]


def as_stream(source: BlobSource) -> BinaryIO:
    """View bytes-like sources as a stream."""
    if isinstance(source, bytes | bytearray | memoryview):
        return io.BytesIO(bytes(source))
    return source


class VerifyingReader(io.RawIOBase):
    """Wraps a blob stream and raises ``IntegrityError`` at the end if the bytes do not match."""

    def __init__(self, inner: BinaryIO, digest: str) -> None:
        super().__init__()
        self._inner = inner
        self._digest = digest
        self._hasher = Hasher()
        self._checked = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self._inner.read(len(buffer))
        if not data:
            self._check()
            return 0
        self._hasher.update(data)
        buffer[: len(data)] = data
        return len(data)

    def _check(self) -> None:
        if self._checked:
            return
        self._checked = True
        if self._hasher.digest != self._digest:
            raise IntegrityError(
                f"blob {self._digest} is corrupt: its bytes hash to {self._hasher.digest}",
                hint="run `labledger verify` to list every damaged blob",
            )

    def close(self) -> None:
        self._inner.close()
        super().close()
