"""Direct uploads into an S3 blob store: presigned PUTs to a staging key, checked, then published.

A client sends a large blob straight to the bucket instead of through the server: ``begin`` gives
it a presigned PUT URL for ``<prefix>/uploads/<random id>``, a key outside the store's
content-addressed layout (``digests()`` and ``exists`` never see it). ``complete`` then reads the
staged object back **in full** to hash it (S3 does not hash with BLAKE3 for us, so the server pays
one read of the blob's bytes from the bucket), compares its size and digest with what the client
claims, and only when both match copies it server-side to its content address and deletes the
staging object. A staged object that does not match is deleted. Staged objects nobody completes
(a client that died) are deleted by ``clean`` once older than the URL's life plus a margin:
``begin`` runs it now and then, ``labledger gc`` too, and a bucket lifecycle rule on ``uploads/``
can as well.
"""

from __future__ import annotations

import contextlib
import secrets
import time
from typing import TYPE_CHECKING, Any

from labledger._foundation.digests import CHUNK_SIZE, Hasher
from labledger._foundation.errors import NotFoundError, ValidationError

if TYPE_CHECKING:
    from labledger.workspace.fsspec_store import FsspecBlobStore

__all__ = ["STAGING_FOLDER", "URL_LIFETIME_S", "S3Staging", "StagedBlob", "staging_of"]

STAGING_FOLDER = "uploads"
URL_LIFETIME_S = 3600
_ID_LENGTH = 32
_ID_DIGITS = frozenset("0123456789abcdef")
# Staged objects older than this were abandoned: their URL has expired for a while.
_ABANDONED_S = 2 * URL_LIFETIME_S
_CLEAN_EVERY_S = 600.0


class StagedBlob:
    """What ``complete`` found: the digest and size, and whether the blob was new."""

    __slots__ = ("digest", "size", "stored")

    def __init__(self, digest: str, size: int, *, stored: bool) -> None:
        self.digest, self.size, self.stored = digest, size, stored


def staging_of(store: Any) -> S3Staging | None:
    """Direct uploads into ``store``; ``None`` when it is not an S3 store."""
    from labledger.workspace.fsspec_store import FsspecBlobStore

    if isinstance(store, FsspecBlobStore) and store.url.startswith("s3://"):
        return S3Staging(store)
    return None


def _check_id(upload_id: str) -> str:
    if len(upload_id) != _ID_LENGTH or not set(upload_id) <= _ID_DIGITS:
        raise NotFoundError(
            f"no upload {upload_id[:80]!r}", hint="start a new one with POST /api/v1/blobs/uploads"
        )
    return upload_id


class S3Staging:
    """Presigned uploads into one S3 blob store."""

    _last_clean: float = 0.0

    def __init__(self, store: FsspecBlobStore) -> None:
        self.store = store
        self._fs: Any = store._fs  # the staging area is part of the store
        self._folder = f"{store._root}/{STAGING_FOLDER}"

    def _path(self, upload_id: str) -> str:
        return f"{self._folder}/{_check_id(upload_id)}"

    def begin(self, *, expires_s: int = URL_LIFETIME_S) -> tuple[str, str]:
        """A new upload's id and the presigned URL that PUTs its bytes (valid ``expires_s``)."""
        if time.monotonic() - S3Staging._last_clean > _CLEAN_EVERY_S:
            S3Staging._last_clean = time.monotonic()
            self.clean()
        upload_id = secrets.token_hex(_ID_LENGTH // 2)
        url = self._fs.url(self._path(upload_id), expires=expires_s, client_method="put_object")
        return upload_id, str(url)

    def complete(self, upload_id: str, digest: str, size: int, *, limit: int) -> StagedBlob:
        """Check the staged bytes and publish them at ``digest``; the staging object goes.

        Raises:
            NotFoundError: Nothing was uploaded under ``upload_id`` (or it was completed).
            ValidationError: The staged object's size or digest is not the one claimed, or it is
                over ``limit`` bytes; it is deleted.
        """
        staged = self._path(upload_id)
        self._fs.invalidate_cache(staged)
        try:
            found = int(self._fs.info(staged)["size"])
        except FileNotFoundError:
            if self.store.exists(digest):
                # Completed already (a retried request): the blob is there.
                return StagedBlob(digest, self.store.size(digest), stored=False)
            raise NotFoundError(
                f"nothing was uploaded for upload {upload_id}",
                hint="PUT the bytes to the upload's URL first, or start a new upload",
            ) from None
        try:
            if found > limit:
                raise ValidationError(
                    f"the staged blob is {found} bytes, over the server's upload limit of {limit}",
                    hint="ask the server's administrator to raise --max-upload-mb",
                )
            if found != size:
                raise ValidationError(
                    f"the staged blob is {found} bytes, not the {size} claimed; nothing was stored",
                    hint="upload it again",
                )
            actual = self._hash(staged)
            if actual != digest:
                raise ValidationError(
                    f"the staged bytes hash to {actual}, not to {digest}; nothing was stored",
                    hint="upload the blob under the digest of its bytes (blake3), or again if it "
                    "changed on the way",
                )
            target = self.store.path_of(digest)
            stored = not self.store.exists(digest)
            if stored:
                self._fs.copy(staged, target)
                self._fs.invalidate_cache(target)
            return StagedBlob(digest, found, stored=stored)
        finally:
            with contextlib.suppress(FileNotFoundError):
                self._fs.rm_file(staged)
            self._fs.invalidate_cache(staged)

    def _hash(self, path: str) -> str:
        hasher = Hasher()
        with self._fs.open(path, "rb", block_size=8 * CHUNK_SIZE) as handle:
            while chunk := handle.read(8 * CHUNK_SIZE):
                hasher.update(chunk)
        return hasher.digest

    def clean(self, *, older_than_s: float = _ABANDONED_S) -> int:
        """Delete staged objects older than ``older_than_s``; return how many."""
        from labledger.workspace.fsspec_store import _modified

        self._fs.invalidate_cache(self._folder)
        try:
            found: dict[str, dict[str, Any]] = self._fs.find(self._folder, detail=True)
        except FileNotFoundError:
            return 0
        finally:
            self._fs.invalidate_cache(self._folder)
        cutoff = time.time() - older_than_s
        removed = 0
        for path, info in found.items():
            name = path.rsplit("/", 1)[-1]
            if len(name) != _ID_LENGTH or not set(name) <= _ID_DIGITS:
                continue  # not a staged object (a folder entry some S3 servers list)
            if _modified(info) <= cutoff:
                with contextlib.suppress(FileNotFoundError):
                    self._fs.rm_file(path)
                    removed += 1
        return removed
