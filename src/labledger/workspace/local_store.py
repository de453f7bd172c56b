"""A blob store in a local (or shared network) folder.

Layout: ``objects/ab/cd/<64 hex>``, two levels of fan-out so no folder grows past a few thousand
entries. Writes go to ``objects/tmp/`` first, are fsynced and then renamed into place, and blobs are
made read-only.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, cast

from labledger._foundation.digests import CHUNK_SIZE, Hasher, digest_file, hex_of
from labledger._foundation.errors import IntegrityError, NotFoundError
from labledger.workspace.blobstore import BlobSource, VerifyingReader, as_stream

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ["LocalBlobStore"]

_READ_ONLY = stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH


def _copy_range(src: BinaryIO, dst: BinaryIO, size: int) -> None:
    """Copy ``size`` bytes inside the kernel where it can, falling back to user space."""
    offset = 0
    try:
        while offset < size:
            copied = os.copy_file_range(src.fileno(), dst.fileno(), size - offset)
            if copied == 0:
                break
            offset += copied
    except OSError:
        src.seek(offset)
        dst.seek(offset)
        shutil.copyfileobj(src, dst, CHUNK_SIZE)
        return
    if offset < size:
        raise IntegrityError("source file shrank while it was being stored", hint="store it again")


def _renew(blob: Path) -> None:
    """Restart a present blob's grace period: a new reference to it is about to be committed."""
    # Without this, gc could delete an old unreferenced blob between this put and that commit.
    with contextlib.suppress(OSError):
        os.utime(blob)


class LocalBlobStore:
    """Blobs as read-only files under a folder.

    Args:
        root: The ``objects`` folder; created when missing.
        verify_on_read: Re-hash every blob as it is read and fail on a mismatch.
        fsync: Flush each blob to disk before it becomes visible (on by default).
    """

    def __init__(
        self, root: str | os.PathLike[str], *, verify_on_read: bool = False, fsync: bool = True
    ) -> None:
        self.root = Path(root)
        self.url = str(self.root)
        self.verify_on_read = verify_on_read
        self.fsync = fsync
        self._tmp = self.root / "tmp"
        self._tmp.mkdir(parents=True, exist_ok=True)

    def path_of(self, digest: str) -> Path:
        """Where the blob lives (whether or not it exists)."""
        hex_ = hex_of(digest)
        return self.root / hex_[:2] / hex_[2:4] / hex_

    def _temp(self) -> tuple[BinaryIO, str]:
        fd, name = tempfile.mkstemp(dir=self._tmp, prefix="put-")
        return cast("BinaryIO", os.fdopen(fd, "wb")), name

    def _commit(self, handle: BinaryIO, temp_name: str, digest: str) -> str:
        handle.flush()
        if self.fsync:
            os.fsync(handle.fileno())
        handle.close()
        final = self.path_of(digest)
        if final.exists():
            os.unlink(temp_name)
            _renew(final)
            return digest
        final.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(temp_name, _READ_ONLY)
        os.replace(temp_name, final)
        return digest

    def put(self, source: BlobSource) -> str:
        stream = as_stream(source)
        hasher = Hasher()
        handle, name = self._temp()
        try:
            while chunk := stream.read(CHUNK_SIZE):
                hasher.update(chunk)
                handle.write(chunk)
            return self._commit(handle, name, hasher.digest)
        except BaseException:
            handle.close()
            with contextlib.suppress(FileNotFoundError):
                os.unlink(name)
            raise

    def put_file(self, path: str | os.PathLike[str]) -> str:
        before = os.stat(path)
        digest = digest_file(path)
        if self.path_of(digest).exists():
            _renew(self.path_of(digest))
            return digest
        handle, name = self._temp()
        try:
            with open(path, "rb") as src:
                _copy_range(src, handle, before.st_size)
            after = os.stat(path)
            if (after.st_size, after.st_mtime_ns) != (before.st_size, before.st_mtime_ns):
                raise IntegrityError(
                    f"{os.fspath(path)} changed while it was being stored",
                    hint="store it again once nothing is writing to it",
                )
            return self._commit(handle, name, digest)
        except BaseException:
            handle.close()
            with contextlib.suppress(FileNotFoundError):
                os.unlink(name)
            raise

    def open(self, digest: str) -> BinaryIO:
        try:
            handle = cast("BinaryIO", open(self.path_of(digest), "rb"))  # noqa: SIM115
        except FileNotFoundError:
            raise NotFoundError(
                f"blob {digest} is not in the store at {self.root}",
                hint="it may have been deleted; run `labledger verify`",
            ) from None
        if self.verify_on_read:
            return cast("BinaryIO", VerifyingReader(handle, digest))
        return handle

    def exists(self, digest: str) -> bool:
        return self.path_of(digest).is_file()

    def size(self, digest: str) -> int:
        try:
            return self.path_of(digest).stat().st_size
        except FileNotFoundError:
            raise NotFoundError(f"blob {digest} is not in the store at {self.root}") from None

    def delete(self, digest: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path_of(digest))

    def digests(self) -> Iterator[str]:
        for first in sorted(self.root.iterdir()):
            if first.name == "tmp" or not first.is_dir():
                continue
            for second in first.iterdir():
                for blob in second.iterdir():
                    if len(blob.name) == 64:
                        yield f"blake3:{blob.name}"

    def modified_at(self, digest: str) -> float:
        """When the blob was stored (Unix seconds)."""
        return self.path_of(digest).stat().st_mtime

    def clean_temp(self, *, older_than_s: float = 0.0) -> int:
        """Remove leftovers of interrupted writes older than ``older_than_s``; return the count."""
        removed = 0
        cutoff = time.time() - older_than_s
        for leftover in self._tmp.iterdir():
            with contextlib.suppress(FileNotFoundError):
                if leftover.stat().st_mtime <= cutoff:
                    leftover.unlink()
                    removed += 1
        return removed
