"""A blob store in a local (or shared network) folder.

Layout: ``objects/ab/<64 hex>``, one level of 256 folders as in Git: a million blobs make about
4,000 entries a folder, which the indexed directories of ext4, XFS and APFS look up directly, and a
new workspace does not pay a folder creation for nearly every blob it writes. Writes go to
``objects/tmp/`` first, are fsynced and then renamed into place, and blobs are made read-only.
``gc`` moves blobs it is about to delete to ``objects/trash/<64 hex>`` (see
``labledger.workspace.gc``); a read that misses a blob there moves it back.

``put_file`` takes a file in as its ``link`` mode says (see ``StoreLink``): cloned where the
filesystem can clone, hard-linked when asked to, and otherwise copied while it is hashed
(``file_transfer``).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import stat
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, cast

from labledger._foundation.digests import CHUNK_SIZE, Hasher, digest_bytes, digest_file, hex_of
from labledger._foundation.errors import IntegrityError, NotFoundError
from labledger._foundation.settings import DEFAULT_STORE_LINK, StoreLink, parse_store_link
from labledger.workspace.blobstore import BlobSource, VerifyingReader, as_stream
from labledger.workspace.file_transfer import clone_file, hash_and_copy, link_file
from labledger.workspace.filesystem_sync import sync_folder
from labledger.workspace.trash import TRASH_FOLDER, Listed, Trashed

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

__all__ = ["LocalBlobStore"]

_HEX_LENGTH = 64
_READ_ONLY = stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH
_names = itertools.count()
# Distinguishes processes of different hosts sharing one folder, whose pids may be equal.
_PROCESS = uuid.uuid4().hex[:12]


def _present(blob: str) -> bool:
    """Whether the blob is stored; if it is, its grace period restarts.

    Callers are about to commit a new reference to it: the renewal tells a gc that listed the blob
    as old to put it back (see ``labledger.workspace.gc``).
    """
    try:
        links = os.stat(blob).st_nlink
        if links > 1:
            # A hard-linked blob is also someone's file, whose modification time is theirs:
            # re-applying the mode moves only its change time (see modified_at).
            os.chmod(blob, _READ_ONLY)
        else:
            os.utime(blob)
    except FileNotFoundError:
        # Gone, or moved to the trash by gc since the stat: the caller writes it again.
        return False
    except OSError:
        # Present but not ours to renew (another user's blob in a shared folder): gc's trash
        # still keeps it a grace period, long enough for the caller's row to commit.
        pass
    return True


def _modified(status: os.stat_result) -> float:
    if status.st_nlink > 1:
        # A hard-linked blob keeps its file's modification time; linking it into the store
        # (or renewing it) moved its change time.
        return max(status.st_mtime, status.st_ctime)
    return status.st_mtime


def _identity(status: os.stat_result) -> tuple[int, int, int, int]:
    # What changes when a file is rewritten or replaced under the same name.
    return (status.st_dev, status.st_ino, status.st_size, status.st_mtime_ns)


def _changed_error(path: str | os.PathLike[str]) -> IntegrityError:
    return IntegrityError(
        f"{os.fspath(path)} changed while it was being stored",
        hint="store it again once nothing is writing to it",
    )


class LocalBlobStore:
    """Blobs as read-only files under a folder.

    Args:
        root: The ``objects`` folder; created when missing.
        verify_on_read: Re-hash every blob as it is read and fail on a mismatch.
        fsync: Flush each blob to disk before it becomes visible (on by default).
        link: How ``put_file`` takes a file in: ``reflink`` (the default) clones it where the
            filesystem can and copies it elsewhere; ``copy`` always copies; ``hardlink`` clones,
            else hard-links the file itself and makes it read-only, else copies.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        verify_on_read: bool = False,
        fsync: bool = True,
        link: StoreLink = DEFAULT_STORE_LINK,
    ) -> None:
        self.root = Path(root)
        self.url = str(self.root)
        self.verify_on_read = verify_on_read
        self.fsync = fsync
        self.link = parse_store_link(link)
        self._tmp = self.root / "tmp"
        self._tmp.mkdir(parents=True, exist_ok=True)
        # Paths as text on the write path: building Path objects costs more than the small writes.
        self._root_text = os.fspath(self.root)
        self._tmp_text = os.fspath(self._tmp)
        self._trash_text = f"{self._root_text}/{TRASH_FOLDER}"
        self._folders: set[str] = set()  # fan-out folders known to exist

    def _location(self, digest: str) -> tuple[str, str]:
        """The blob's folder and file name, as text."""
        hex_ = hex_of(digest)
        folder = f"{self._root_text}/{hex_[:2]}"
        return folder, f"{folder}/{hex_}"

    def path_of(self, digest: str) -> Path:
        """Where the blob lives (whether or not it exists)."""
        return Path(self._location(digest)[1])

    def _temp_name(self) -> str:
        return f"{self._tmp_text}/put-{_PROCESS}-{os.getpid()}-{next(_names)}"

    def _temp(self) -> tuple[BinaryIO, str]:
        # Created read-only and exclusive in one call: writing through this descriptor still works,
        # and no chmod is needed before the rename.
        name = self._temp_name()
        fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, _READ_ONLY)
        return cast("BinaryIO", os.fdopen(fd, "wb")), name

    def _publish(self, temp_name: str, folder: str, final: str) -> None:
        """Rename a complete temporary file into place, making its folder when needed."""
        if folder not in self._folders:
            os.makedirs(folder, exist_ok=True)
            self._folders.add(folder)
        try:
            os.replace(temp_name, final)
        except FileNotFoundError:
            # The folder was removed since we made it (by hand, or a clean-up): make it again.
            os.makedirs(folder, exist_ok=True)
            os.replace(temp_name, final)

    def _commit(self, handle: BinaryIO, temp_name: str, digest: str) -> str:
        folder, final = self._location(digest)
        if _present(final):
            # Nothing to flush: the temporary copy is thrown away.
            handle.close()
            os.unlink(temp_name)
            return digest
        handle.flush()
        if self.fsync:
            os.fsync(handle.fileno())
        handle.close()
        self._publish(temp_name, folder, final)
        return digest

    def _put_small(self, data: bytes | bytearray | memoryview) -> str:
        """Store bytes held in memory: hashed first, so a blob already present costs one stat."""
        digest = digest_bytes(data)
        folder, final = self._location(digest)
        if _present(final):
            return digest
        name = self._temp_name()
        fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, _READ_ONLY)
        try:
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
                if self.fsync:
                    os.fsync(fd)
            finally:
                os.close(fd)
            self._publish(name, folder, final)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(name)
            raise
        return digest

    def put_many(self, blobs: Sequence[bytes]) -> list[str]:
        """Store many blobs held in memory; their digests, in order.

        Each is written to a temporary file, then one filesystem sync makes them all durable,
        and only then are they renamed into place: as durable before visible as ``put``, for
        one sync instead of one per blob.
        """
        digests: list[str] = []
        written: list[tuple[str, str, str]] = []  # (temp name, folder, final)
        planned: set[str] = set()
        published = 0
        try:
            for data in blobs:
                digest = digest_bytes(data)
                digests.append(digest)
                folder, final = self._location(digest)
                if final in planned or _present(final):
                    continue
                name = self._temp_name()
                fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, _READ_ONLY)
                written.append((name, folder, final))
                planned.add(final)
                try:
                    view = memoryview(data)
                    while view:
                        view = view[os.write(fd, view) :]
                finally:
                    os.close(fd)
            if written and self.fsync:
                sync_folder(self._tmp)
            for name, folder, final in written:
                self._publish(name, folder, final)
                published += 1
        finally:
            for name, _, _ in written[published:]:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(name)
        return digests

    def put(self, source: BlobSource) -> str:
        if isinstance(source, bytes | bytearray | memoryview) and len(source) <= CHUNK_SIZE:
            return self._put_small(source)
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

    def put_file(self, path: str | os.PathLike[str], *, link: StoreLink | None = None) -> str:
        """Store a local file's bytes; return its digest.

        Args:
            path: The file.
            link: This call's link mode; defaults to the store's (see the class).

        Raises:
            IntegrityError: The file changed while it was being stored.
        """
        mode = self.link if link is None else parse_store_link(link)
        before = os.stat(path)
        if mode != "copy" and stat.S_ISREG(before.st_mode):
            digest = self._put_clone(path)
            if digest is None and mode == "hardlink":
                digest = self._put_hardlink(path, before)
            if digest is not None:
                return digest
        return self._put_copy(path, before)

    def _put_clone(self, path: str | os.PathLike[str]) -> str | None:
        """Store a clone of the file; ``None`` where the filesystem cannot clone it."""
        handle, name = self._temp()
        try:
            with open(path, "rb") as src:
                cloned = clone_file(src.fileno(), handle.fileno())
            if not cloned:
                handle.close()
                os.unlink(name)
                return None
            # The clone is ours alone: hashing it cannot race with someone writing the source.
            return self._commit(handle, name, digest_file(name))
        except BaseException:
            handle.close()
            with contextlib.suppress(FileNotFoundError):
                os.unlink(name)
            raise

    def _put_hardlink(self, path: str | os.PathLike[str], before: os.stat_result) -> str | None:
        """Store the file's own inode under its digest; ``None`` where it cannot be linked."""
        digest = digest_file(path)
        folder, final = self._location(digest)
        if _present(final):
            return digest
        temp = f"{self._tmp_text}/link-{uuid.uuid4().hex}"
        if not link_file(path, temp):
            return None
        try:
            # One inode, two names: the user's file becomes read-only along with the blob.
            os.chmod(temp, _READ_ONLY)
        except PermissionError:
            # Someone else's file that we may write to but not protect: it cannot be a blob.
            os.unlink(temp)
            return None
        try:
            if _identity(os.stat(temp)) != _identity(before):
                raise _changed_error(path)
            if self.fsync:
                fd = os.open(temp, os.O_RDONLY)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
            self._publish(temp, folder, final)
            return digest
        except BaseException:
            # Through the store's own name: the user's path may name another file by now.
            with contextlib.suppress(OSError):
                os.chmod(temp, stat.S_IMODE(before.st_mode))
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp)
            raise

    def _put_copy(
        self, path: str | os.PathLike[str], before: os.stat_result, *, skip_present: bool = True
    ) -> str:
        handle, name = self._temp()
        try:
            with open(path, "rb") as src:
                if _identity(os.fstat(src.fileno())) != _identity(before):
                    raise _changed_error(path)
                digest, complete = hash_and_copy(
                    src.fileno(),
                    handle.fileno(),
                    before.st_size,
                    present=self.exists if skip_present else None,
                )
            if _identity(os.stat(path)) != _identity(before):
                raise _changed_error(path)
            if complete:
                return self._commit(handle, name, digest)
            handle.close()
            os.unlink(name)
        except BaseException:
            handle.close()
            with contextlib.suppress(FileNotFoundError):
                os.unlink(name)
            raise
        # The copy stopped early because the blob was present; it must still be.
        if _present(self._location(digest)[1]):
            return digest
        return self._put_copy(path, before, skip_present=False)

    def open(self, digest: str) -> BinaryIO:
        path = self._location(digest)[1]
        try:
            handle = cast("BinaryIO", open(path, "rb"))  # noqa: SIM115
        except FileNotFoundError:
            if not self.restore(digest):
                raise NotFoundError(
                    f"blob {digest} is not in the store at {self.root}",
                    hint="it may have been deleted; run `labledger verify`",
                ) from None
            handle = cast("BinaryIO", open(path, "rb"))  # noqa: SIM115
        if self.verify_on_read:
            return cast("BinaryIO", VerifyingReader(handle, digest))
        return handle

    def exists(self, digest: str) -> bool:
        return os.path.isfile(self._location(digest)[1]) or self.restore(digest)

    def size(self, digest: str) -> int:
        path = self._location(digest)[1]
        try:
            return os.stat(path).st_size
        except FileNotFoundError:
            if self.restore(digest):
                return os.stat(path).st_size
            raise NotFoundError(f"blob {digest} is not in the store at {self.root}") from None

    def delete(self, digest: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path_of(digest))

    def digests(self) -> Iterator[str]:
        for first in sorted(self.root.iterdir()):
            if first.name in ("tmp", TRASH_FOLDER) or not first.is_dir():
                continue
            for blob in first.iterdir():
                if len(blob.name) == 64 and blob.name.startswith(first.name):
                    yield f"blake3:{blob.name}"

    def modified_at(self, digest: str) -> float:
        """When the blob was stored (Unix seconds)."""
        return _modified(self.path_of(digest).stat())

    # -- the trash (see labledger.workspace.gc) ---------------------------------------------

    def _trash_path(self, digest: str) -> str:
        return f"{self._trash_text}/{hex_of(digest)}"

    def listing(self) -> Iterator[Listed]:
        for digest in self.digests():
            with contextlib.suppress(FileNotFoundError):
                status = os.stat(self._location(digest)[1])
                yield Listed(
                    digest,
                    _modified(status),
                    status.st_size,
                    stamp=status.st_mtime_ns,
                    shared=status.st_nlink > 1,
                )

    def trash(self, blob: Listed) -> bool:
        final = self._location(blob.digest)[1]
        target = self._trash_path(blob.digest)
        os.makedirs(self._trash_text, exist_ok=True)
        try:
            # Atomic: from here on a writer's stat misses the blob and stores it again.
            os.replace(final, target)
        except FileNotFoundError:
            return False
        status = os.stat(target)
        if status.st_mtime_ns != blob.stamp or status.st_nlink > 1:
            # A writer renewed it between the listing and the move (or linked a file in its place).
            self.restore(blob.digest)
            return False
        # The change time starts the trash's grace period (most filesystems move it on rename).
        os.chmod(target, _READ_ONLY)
        return True

    def trashed(self) -> Iterator[Trashed]:
        try:
            entries = list(os.scandir(self._trash_text))
        except FileNotFoundError:
            return
        for entry in entries:
            if len(entry.name) != _HEX_LENGTH:
                continue
            with contextlib.suppress(FileNotFoundError):
                status = entry.stat()
                digest = f"blake3:{entry.name}"
                yield Trashed(
                    digest,
                    max(status.st_mtime, status.st_ctime),
                    status.st_size,
                    stored=os.path.isfile(self._location(digest)[1]),
                )

    def restore(self, digest: str) -> bool:
        folder, final = self._location(digest)
        source = self._trash_path(digest)
        try:
            os.replace(source, final)
        except FileNotFoundError:
            if not os.path.lexists(source):
                return os.path.isfile(final)
            os.makedirs(folder, exist_ok=True)
            try:
                os.replace(source, final)
            except FileNotFoundError:
                return os.path.isfile(final)
        return True

    def purge(self, digest: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._trash_path(digest))

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
