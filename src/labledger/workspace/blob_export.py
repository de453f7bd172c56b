"""Writing a blob out of the store to a local file: checked while copied, never half-written.

Every byte is hashed as it is copied into a temporary file in the destination's folder, and the
file takes its name only when the digest matches: a damaged blob raises ``IntegrityError`` and
leaves nothing at the destination. The folder is opened with ``O_NOFOLLOW`` and the name checked
with ``lstat``, so a symbolic link at the destination is refused, never written through; the
temporary file is created with ``O_EXCL | O_NOFOLLOW``. Without ``overwrite`` the finished file is
hard-linked to its name, which fails rather than replace a file that appeared meanwhile.

A local store's blob is a file: a copy-on-write clone of it costs no I/O where the filesystem can
clone, and otherwise one thread hashes it while another writes it (see ``file_transfer``), so an
export runs at the speed of a plain copy. Other stores are streamed and hashed chunk by chunk.
"""

from __future__ import annotations

import contextlib
import errno
import mmap
import os
import re
import secrets
import stat
from typing import TYPE_CHECKING, BinaryIO

from blake3 import blake3

from labledger._foundation.digests import ALGORITHM, CHUNK_SIZE, Hasher
from labledger._foundation.errors import IntegrityError, ValidationError
from labledger.workspace.file_transfer import clone_file, hash_and_copy

if TYPE_CHECKING:
    from pathlib import Path

    from labledger.workspace.blobstore import BlobStore

__all__ = [
    "FOLDER_FLAGS",
    "LINK_HINT",
    "TEMP_PREFIX",
    "export_blob",
    "install_file",
    "lstat_at",
    "name_problem",
    "open_folder",
    "refuse_existing",
    "temp_name",
    "write_checked",
]

TEMP_PREFIX = ".labledger-export-"
_NOFOLLOW: int = getattr(os, "O_NOFOLLOW", 0)
FOLDER_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC | _NOFOLLOW
_NEW_FILE = os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | _NOFOLLOW
_DRIVE = re.compile(r"[A-Za-z]:")
_STREAM_CHUNK = 4 * CHUNK_SIZE
_MMAP_HASH = 4 * 1024 * 1024
# Filesystems that cannot hard-link: install by a rename after an lstat instead.
_NO_LINKS = frozenset(
    {errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EMLINK, errno.ENOSYS, errno.EACCES}
)
LINK_HINT = "remove the link, or choose a destination that is not one"


_SPECIAL_NAMES = {
    "": "it is empty",
    ".": "'.' names the folder itself",
    "..": "'..' leads to the parent folder, outside the destination",
}


def name_problem(name: str) -> str | None:
    """Why ``name`` cannot be one file or folder name inside a destination; ``None`` if it can."""
    if name in _SPECIAL_NAMES:
        return _SPECIAL_NAMES[name]
    control = next((c for c in name if ord(c) < 32 or ord(c) == 127), None)
    why = None
    if "/" in name:
        why = "it holds a path separator (/)"
    elif "\\" in name:
        why = "it holds a backslash, a path separator on Windows"
    elif control is not None:
        why = f"it holds the control character {control!r}"
    elif _DRIVE.match(name):
        why = f"it starts with a drive letter ({name[:2]}), which leads outside the destination"
    return why


def lstat_at(folder_fd: int, name: str) -> os.stat_result | None:
    """``lstat`` of ``name`` in the open folder, never following a link; ``None`` when absent."""
    try:
        return os.stat(name, dir_fd=folder_fd, follow_symlinks=False)
    except FileNotFoundError:
        return None


def open_folder(path: Path, *, create: bool = True) -> int:
    """Open the folder ``path`` (created with its parents when missing) without following a link.

    Raises:
        ValidationError: ``path`` is a symbolic link or not a folder.
    """
    if path.is_symlink():
        raise ValidationError(
            f"{path} is a symbolic link; refusing to write through it", hint=LINK_HINT
        )
    if create:
        with contextlib.suppress(FileExistsError, NotADirectoryError):  # fails just below
            path.mkdir(parents=True, exist_ok=True)
    try:
        return os.open(path, FOLDER_FLAGS)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise ValidationError(
                f"{path} is a symbolic link; refusing to write through it", hint=LINK_HINT
            ) from None
        if exc.errno == errno.ENOTDIR:
            raise ValidationError(
                f"{path} is a file, not a folder", hint="choose a folder path, e.g. ./out/"
            ) from None
        raise


def refuse_existing(found: os.stat_result | None, shown: Path, *, overwrite: bool) -> None:
    """Raise unless a file may be written at ``shown``, whose ``lstat`` is ``found``."""
    if found is None:
        return
    if stat.S_ISLNK(found.st_mode):
        raise ValidationError(
            f"{shown} is a symbolic link; refusing to write through it", hint=LINK_HINT
        )
    if stat.S_ISDIR(found.st_mode):
        raise ValidationError(
            f"{shown} is a folder",
            hint="name a file, or end the path with / to write inside the folder",
        )
    if not overwrite:
        raise ValidationError(
            f"{shown} exists; not overwriting it",
            hint="pass --force (overwrite=True) to replace it, or choose another path",
        )


def _fileno(source: BinaryIO) -> int | None:
    try:
        return source.fileno()
    except (OSError, ValueError, AttributeError):  # not a plain file (S3, memory, a verifier)
        return None


def _digest_fd(fd: int, size: int) -> str:
    """The digest of the first ``size`` bytes of the file open as ``fd``."""
    if size >= _MMAP_HASH:
        hasher = blake3(max_threads=blake3.AUTO)
        with mmap.mmap(fd, size, prot=mmap.PROT_READ) as mapping:
            hasher.update(mapping)
        return f"{ALGORITHM}:{hasher.hexdigest()}"
    small = Hasher()
    offset = 0
    while offset < size and (chunk := os.pread(fd, min(CHUNK_SIZE, size - offset), offset)):
        small.update(chunk)
        offset += len(chunk)
    return small.digest


def _stream(source: BinaryIO, fd: int) -> str:
    hasher = Hasher()
    while chunk := source.read(_STREAM_CHUNK):
        hasher.update(chunk)
        with memoryview(chunk) as view:
            done = 0
            while done < len(view):
                done += os.write(fd, view[done:])
    return hasher.digest


def _copy(store: BlobStore, digest: str, fd: int) -> str:
    """Copy the blob into the empty file ``fd``; return the digest of the bytes written."""
    with store.open(digest) as source:
        source_fd = _fileno(source)
        if source_fd is None:
            return _stream(source, fd)
        size = os.fstat(source_fd).st_size
        if size and clone_file(source_fd, fd):
            return _digest_fd(fd, size)  # the clone's bytes, which are what the user gets
        return hash_and_copy(source_fd, fd, size, direct=False)[0]


def write_checked(
    store: BlobStore, digest: str, folder_fd: int, name: str, *, what: str, shown: Path
) -> None:
    """Write the blob as the new file ``name`` in the open folder, checking its digest.

    Args:
        store: Where the blob is.
        digest: The blob's digest; the bytes written must hash to it.
        folder_fd: The folder to write in.
        name: A name that does not exist yet there (``O_EXCL``).
        what: What is written, for messages (``artifact 'model.bin' (0190...)``).
        shown: The destination, for messages.

    Raises:
        IntegrityError: The bytes do not match ``digest``; the file is removed.
    """
    fd = os.open(name, _NEW_FILE, 0o666, dir_fd=folder_fd)
    try:
        try:
            got = _copy(store, digest, fd)
        finally:
            os.close(fd)
    except IntegrityError as exc:  # the store's own check (LABLEDGER_VERIFY_ON_READ)
        _remove(folder_fd, name)
        raise IntegrityError(
            f"{what}: {exc.message}; nothing was written to {shown}", hint=exc.hint
        ) from None
    except BaseException:
        _remove(folder_fd, name)
        raise
    if got != digest:
        _remove(folder_fd, name)
        raise IntegrityError(
            f"{what}: blob {digest} is corrupt, its bytes hash to {got}; nothing was written "
            f"to {shown}",
            hint="run `labledger verify` to list every damaged blob, then restore it from a copy "
            "or store the data again",
        )


def _remove(folder_fd: int, name: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(name, dir_fd=folder_fd)


def install_file(
    src_fd: int, src: str, dst_fd: int, dst: str, *, overwrite: bool, shown: Path
) -> None:
    """Give the finished file ``src`` its final name ``dst``; replace a file only on ``overwrite``.

    Raises:
        ValidationError: ``dst`` exists and ``overwrite`` is false.
    """
    if overwrite:
        os.rename(src, dst, src_dir_fd=src_fd, dst_dir_fd=dst_fd)
        return
    try:
        os.link(src, dst, src_dir_fd=src_fd, dst_dir_fd=dst_fd)
    except FileExistsError:
        refuse_existing(lstat_at(dst_fd, dst), shown, overwrite=False)
        raise
    except OSError as exc:
        if exc.errno not in _NO_LINKS:
            raise
        refuse_existing(lstat_at(dst_fd, dst), shown, overwrite=False)
        os.rename(src, dst, src_dir_fd=src_fd, dst_dir_fd=dst_fd)
        return
    os.unlink(src, dir_fd=src_fd)


def temp_name() -> str:
    """A fresh hidden name for a file or folder being written."""
    return f"{TEMP_PREFIX}{secrets.token_hex(8)}"


def export_blob(
    store: BlobStore,
    digest: str,
    folder: Path,
    name: str,
    *,
    overwrite: bool = False,
    what: str = "blob",
) -> Path:
    """Write a blob to the file ``folder / name`` (the folder is created when missing).

    Args:
        store: Where the blob is.
        digest: The blob; the bytes written must hash to it.
        folder: The folder to write in; it may not be a symbolic link.
        name: The file's name; a symbolic link or a folder there is refused.
        overwrite: Replace a file that is already there.
        what: What is written, for messages.

    Returns:
        The path written.

    Raises:
        ValidationError: ``name`` is not a plain file name, something is in the way, or a
            symbolic link would be followed.
        IntegrityError: The blob's bytes do not match its digest; nothing is written.
    """
    target = folder / name
    why = name_problem(name)
    if why is not None:
        raise ValidationError(
            f"cannot write {what} to {str(target)!r}: {why}",
            hint="pass a destination that names a file",
        )
    folder_fd = open_folder(folder)
    try:
        refuse_existing(lstat_at(folder_fd, name), target, overwrite=overwrite)
        temp = temp_name()
        write_checked(store, digest, folder_fd, temp, what=what, shown=target)
        try:
            install_file(folder_fd, temp, folder_fd, name, overwrite=overwrite, shown=target)
        except BaseException:
            _remove(folder_fd, temp)
            raise
    finally:
        os.close(folder_fd)
    return target
