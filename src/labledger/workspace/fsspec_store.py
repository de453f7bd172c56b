"""A blob store on any fsspec filesystem, mainly S3 (``s3://bucket/prefix``) through s3fs.

Layout: ``<prefix>/ab/<64 hex>``, the same fan-out as the local store. A blob becomes
visible only once complete: every upload is a single PUT or a multipart upload, which S3 publishes
atomically when it completes. Streams are spooled to a local temporary file while they are hashed,
so the key is known before the first byte is sent. ``gc`` moves blobs it is about to delete to
``<prefix>/trash/<64 hex>`` (a server-side copy, then a delete; see ``labledger.workspace.gc``), and
a read that misses a blob there copies it back.

fsspec and the filesystem's package (s3fs for S3) are imported when a store is built, never when
this module is imported, so ``import labledger`` stays fast.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, BinaryIO, cast

from labledger._foundation.digests import CHUNK_SIZE, Hasher, digest_bytes, digest_file, hex_of
from labledger._foundation.errors import ConfigurationError, IntegrityError, NotFoundError
from labledger._foundation.extras import install_hint
from labledger.workspace.blobstore import BlobSource, VerifyingReader
from labledger.workspace.trash import TRASH_FOLDER, Listed, Trashed

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from labledger._foundation.settings import StoreLink

__all__ = ["FsspecBlobStore"]

_HEX_LENGTH = 64
# Requests in flight at once when many blobs are asked about (S3 serves thousands a second).
_CONCURRENCY = 16
_HEX_DIGITS = frozenset("0123456789abcdef")


def _is_blob_name(name: str) -> bool:
    return len(name) == _HEX_LENGTH and set(name) <= _HEX_DIGITS


def _modified(info: dict[str, Any]) -> float:
    """When an object was written (Unix seconds); 0 where the filesystem does not say."""
    for key in ("LastModified", "last_modified", "mtime", "created"):
        value = info.get(key)
        if value is None:
            continue
        if hasattr(value, "timestamp"):
            return float(value.timestamp())
        with contextlib.suppress(TypeError, ValueError):
            return float(value)
    return 0.0


class FsspecBlobStore:
    """Blobs as objects under a prefix of an fsspec filesystem.

    Args:
        url: Where the blobs live, such as ``s3://bucket/prefix``, ``gs://bucket/prefix`` or
            ``memory://prefix``.
        storage_options: Options of the filesystem, passed to fsspec as they are. For an
            S3-compatible server other than AWS give ``endpoint_url`` (and ``key``/``secret`` when
            the credentials do not come from the environment).
        verify_on_read: Re-hash every blob as it is read and fail on a mismatch.

    A local folder reached through fsspec (``file://``) works, but its copies are not atomic; use
    ``LocalBlobStore`` for folders.

    Raises:
        ConfigurationError: The URL's scheme is unknown or its package (s3fs for ``s3://``) is
            not installed.
    """

    def __init__(
        self,
        url: str,
        *,
        storage_options: dict[str, Any] | None = None,
        verify_on_read: bool = False,
    ) -> None:
        import fsspec

        self.url = url.rstrip("/")
        self.verify_on_read = verify_on_read
        options = dict(storage_options or {})
        if fsspec.utils.get_protocol(self.url) in ("file", "local"):
            # Object stores have no folders; a local folder tree must be made as blobs arrive.
            options.setdefault("auto_mkdir", True)
        try:
            fs, root = fsspec.core.url_to_fs(self.url, **options)
        except ImportError as exc:
            raise ConfigurationError(
                f"cannot open blob store {self.url}: {exc}",
                hint=f"install the package for that scheme; for S3: {install_hint('s3')}",
            ) from exc
        except ValueError as exc:
            raise ConfigurationError(
                f"cannot open blob store {self.url}: {exc}",
                hint="use a URL such as s3://bucket/prefix",
            ) from exc
        self._fs: Any = fs
        self._root = str(root).rstrip("/")

    def __repr__(self) -> str:
        return f"FsspecBlobStore({self.url!r})"

    def path_of(self, digest: str) -> str:
        """The filesystem path of the blob (whether or not it exists)."""
        hex_ = hex_of(digest)
        return f"{self._root}/{hex_[:2]}/{hex_}"

    def _missing(self, digest: str) -> NotFoundError:
        return NotFoundError(
            f"blob {digest} is not in the store at {self.url}",
            hint="it may have been deleted, or this is the wrong bucket or prefix; "
            "run `labledger verify`",
        )

    def _fresh(self, path: str) -> None:
        # Another process may have added or deleted the blob since fsspec cached a listing.
        self._fs.invalidate_cache(path)

    def _present(self, path: str) -> bool:
        self._fresh(path)
        return bool(self._fs.exists(path))

    def _upload(self, path: str, *, local: str | None = None, data: bytes = b"") -> None:
        """Send a local file (or ``data``) to ``path`` in one atomic PUT or multipart upload."""
        try:
            if local is None:
                self._fs.pipe_file(path, data)
            else:
                self._fs.put_file(local, path)
        except FileNotFoundError as exc:
            raise NotFoundError(
                f"cannot write to the blob store at {self.url}: {exc}",
                hint="check that the bucket exists and that its name is spelled right",
            ) from exc
        finally:
            self._fresh(path)

    def put(self, source: BlobSource) -> str:
        if isinstance(source, bytes | bytearray | memoryview):
            data = bytes(source)
            digest = digest_bytes(data)
            path = self.path_of(digest)
            if not self._present(path):
                self._upload(path, data=data)
            return digest
        fd, spool = tempfile.mkstemp(prefix="labledger-put-")
        try:
            hasher = Hasher()
            with os.fdopen(fd, "wb") as handle:
                while chunk := source.read(CHUNK_SIZE):
                    hasher.update(chunk)
                    handle.write(chunk)
            digest = hasher.digest
            path = self.path_of(digest)
            if not self._present(path):
                self._upload(path, local=spool)
            return digest
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(spool)

    def put_file(self, path: str | os.PathLike[str], *, link: StoreLink | None = None) -> str:
        local = os.fspath(path)
        before = os.stat(local)
        digest = digest_file(local)
        target = self.path_of(digest)
        if self._present(target):
            return digest
        self._upload(target, local=local)
        after = os.stat(local)
        if (after.st_size, after.st_mtime_ns) != (before.st_size, before.st_mtime_ns):
            self._discard_if_corrupt(digest)
            raise IntegrityError(
                f"{local} changed while it was being stored",
                hint="store it again once nothing is writing to it",
            )
        return digest

    def _discard_if_corrupt(self, digest: str) -> None:
        """Delete the blob unless its bytes match its digest.

        Re-hashing rather than deleting outright keeps a correct copy that another writer stored
        at the same time.
        """
        hasher = Hasher()
        path = self.path_of(digest)
        with self._fs.open(path, "rb") as handle:
            while chunk := handle.read(CHUNK_SIZE):
                hasher.update(chunk)
        if hasher.digest != digest:
            self.delete(digest)

    def open(self, digest: str) -> BinaryIO:
        path = self.path_of(digest)
        self._fresh(path)
        try:
            handle = cast("BinaryIO", self._fs.open(path, "rb"))
        except FileNotFoundError:
            if not self.restore(digest):
                raise self._missing(digest) from None
            handle = cast("BinaryIO", self._fs.open(path, "rb"))
        if self.verify_on_read:
            return cast("BinaryIO", VerifyingReader(handle, digest))
        return handle

    def exists(self, digest: str) -> bool:
        return self._present(self.path_of(digest)) or self.restore(digest)

    def exists_many(self, digests: Iterable[str]) -> dict[str, bool]:
        """Whether each blob is present, asked with up to ``_CONCURRENCY`` requests at a time."""
        unique = list(dict.fromkeys(digests))
        if len(unique) <= 1:
            return {digest: self.exists(digest) for digest in unique}
        with ThreadPoolExecutor(min(_CONCURRENCY, len(unique))) as pool:
            return dict(zip(unique, pool.map(self.exists, unique), strict=True))

    def size(self, digest: str) -> int:
        path = self.path_of(digest)
        self._fresh(path)
        try:
            info = self._fs.info(path)
        except FileNotFoundError:
            if not self.restore(digest):
                raise self._missing(digest) from None
            info = self._fs.info(path)
        if info.get("type") != "file":
            raise self._missing(digest)
        return int(info["size"])

    def delete(self, digest: str) -> None:
        path = self.path_of(digest)
        with contextlib.suppress(FileNotFoundError):
            self._fs.rm_file(path)
        self._fresh(path)

    def digests(self) -> Iterator[str]:
        for blob in self._find(self._root):
            yield blob[0]

    def _find(self, root: str, *, trash: bool = False) -> Iterator[tuple[str, dict[str, Any]]]:
        """The blobs under ``root`` (the store, or its trash) with their listing details."""
        self._fs.invalidate_cache(root)
        try:
            found: dict[str, dict[str, Any]] = self._fs.find(root, detail=True)
        except FileNotFoundError:
            return
        finally:
            # A full listing can be large; do not keep it cached.
            self._fs.invalidate_cache(root)
        prefix = f"{root}/"
        for full, info in found.items():
            parts = full.removeprefix(prefix).split("/")
            if trash and len(parts) == 1 and _is_blob_name(parts[0]):
                yield f"blake3:{parts[0]}", info
            elif (
                not trash
                and len(parts) == 2
                and _is_blob_name(parts[1])
                and (
                    parts[0] == parts[1][:2]  # in the store: the fan-out folder and the name
                )
            ):
                yield f"blake3:{parts[1]}", info

    # -- the trash (see labledger.workspace.gc) ---------------------------------------------

    def _trash_path(self, digest: str) -> str:
        return f"{self._root}/{TRASH_FOLDER}/{hex_of(digest)}"

    def listing(self) -> Iterator[Listed]:
        for digest, info in self._find(self._root):
            yield Listed(digest, _modified(info), int(info.get("size") or 0))

    def trash(self, blob: Listed) -> bool:
        # Objects cannot be renewed in place, so there is no stamp to compare: a writer that found
        # the blob just before it moved is covered by the trash's own grace period.
        source, target = self.path_of(blob.digest), self._trash_path(blob.digest)
        try:
            self._fs.copy(source, target)
        except FileNotFoundError:
            return False
        finally:
            self._fresh(target)
        with contextlib.suppress(FileNotFoundError):
            self._fs.rm_file(source)
        self._fresh(source)
        return True

    def trashed(self) -> Iterator[Trashed]:
        for digest, info in self._find(f"{self._root}/{TRASH_FOLDER}", trash=True):
            # A copy's modification time is when it was copied: when the blob entered the trash.
            stored = self._present(self.path_of(digest))
            yield Trashed(digest, _modified(info), int(info.get("size") or 0), stored=stored)

    def restore(self, digest: str) -> bool:
        source, target = self._trash_path(digest), self.path_of(digest)
        self._fresh(source)
        try:
            self._fs.copy(source, target)
        except FileNotFoundError:
            return self._present(target)
        finally:
            self._fresh(target)
        self.purge(digest)
        return True

    def purge(self, digest: str) -> None:
        path = self._trash_path(digest)
        with contextlib.suppress(FileNotFoundError):
            self._fs.rm_file(path)
        self._fresh(path)
