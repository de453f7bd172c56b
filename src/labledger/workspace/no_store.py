"""``NoBlobStore``: the blob store of a catalog opened on its own, which refuses every use.

Users, tokens and projects live in the catalog alone, so an administrator manages them on a
PostgreSQL catalog without naming the blob store (``LABLEDGER_STORE``). Anything that does reach
for blobs there gets an error that says what to set, instead of a half-done operation.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, BinaryIO, NoReturn

from labledger._foundation.errors import ConfigurationError

if TYPE_CHECKING:
    import os
    from collections.abc import Iterator

    from labledger._foundation.settings import StoreLink
    from labledger.workspace.blobstore import BlobSource

__all__ = ["NoBlobStore"]


class NoBlobStore:
    """A ``BlobStore`` for a workspace opened without one: every verb raises."""

    url: str = ""

    def _refuse(self) -> NoReturn:
        raise ConfigurationError(
            "this workspace was opened without a blob store",
            hint="set LABLEDGER_STORE to the workspace's s3://bucket/prefix or shared folder",
        )

    def put(self, source: BlobSource) -> str:
        self._refuse()

    def put_file(self, path: str | os.PathLike[str], *, link: StoreLink | None = None) -> str:
        self._refuse()

    def open(self, digest: str) -> BinaryIO:
        self._refuse()

    def exists(self, digest: str) -> bool:
        self._refuse()

    def size(self, digest: str) -> int:
        self._refuse()

    def delete(self, digest: str) -> None:
        self._refuse()

    def digests(self) -> Iterator[str]:
        self._refuse()
