"""``HttpBlobStore``: a server's blob store, read over ``/api/v1/blobs``.

Reading works (stream, presence, size); uploads through a server are not available yet, so
``put``, ``put_file``, ``delete`` and ``digests`` refuse with a ``ConfigurationError``.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any, BinaryIO, NoReturn

from labledger._foundation.digests import parse_digest
from labledger._foundation.errors import ConfigurationError, NotFoundError

if TYPE_CHECKING:
    import os
    from collections.abc import Iterable, Iterator

    import httpx

    from labledger._foundation.settings import StoreLink
    from labledger.workspace.blobstore import BlobSource
    from labledger.workspace.http.client import Client

__all__ = ["HttpBlobStore"]

_ROUTE = "/api/v1/blobs"
_PRESENCE_BATCH = 10_000


class _ResponseReader(io.RawIOBase):
    """A streaming response's body as a binary stream; closing it closes the response."""

    def __init__(self, response: httpx.Response) -> None:
        super().__init__()
        self._response = response
        self._chunks = response.iter_bytes()
        self._pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._pending:
            try:
                self._pending = next(self._chunks)
            except StopIteration:
                return 0
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size

    def close(self) -> None:
        self._response.close()
        super().close()


class HttpBlobStore:
    """The blob store of the workspace a server serves, for reading."""

    def __init__(self, client: Client) -> None:
        self._client = client
        self.url = client.base_url

    def _refuse(self, verb: str) -> NoReturn:
        raise ConfigurationError(
            f"{verb} blobs through a server is not available yet",
            hint="write on the server's own workspace (its folder or database), or log from a "
            "workspace opened there",
        )

    def put(self, source: BlobSource) -> str:
        self._refuse("storing")

    def put_file(self, path: str | os.PathLike[str], *, link: StoreLink | None = None) -> str:
        self._refuse("storing")

    def delete(self, digest: str) -> None:
        self._refuse("deleting")

    def digests(self) -> Iterator[str]:
        self._refuse("listing")

    def open(self, digest: str) -> BinaryIO:
        response = self._client.stream(f"{_ROUTE}/{parse_digest(digest)}")
        return io.BufferedReader(_ResponseReader(response))

    def size(self, digest: str) -> int:
        try:
            return self._client.head(f"{_ROUTE}/{parse_digest(digest)}")
        except NotFoundError:
            raise NotFoundError(f"blob {digest} is not in the server's store") from None

    def exists(self, digest: str) -> bool:
        return self.exists_many([digest])[digest]

    def exists_many(self, digests: Iterable[str]) -> dict[str, bool]:
        """Whether each blob is stored, asked in batches of 10,000 digests per request."""
        unique = [parse_digest(d) for d in dict.fromkeys(digests)]
        found: dict[str, bool] = {}
        for start in range(0, len(unique), _PRESENCE_BATCH):
            batch = unique[start : start + _PRESENCE_BATCH]
            answer = self._client.call(
                "POST", f"{_ROUTE}/presence", {"digests": batch}, dict, idempotent=True
            )
            present = set(answer["present"])
            found.update((digest, digest in present) for digest in batch)
        return found
