"""Getting a local file's bytes into the local blob store: a clone, a hard link, or a copy.

A *clone* (``FICLONE``, on btrfs, XFS, bcachefs and other copy-on-write filesystems) shares the
source's blocks until either side is written, so it costs no data I/O and is still an independent
file. A *hard link* is the source's own inode under a second name: free, but only as immutable as
the source file is left alone. A *copy* writes every byte again.

A large copy is made in one pass: the source is memory-mapped, one thread hashes the mapping while
another writes it to the target with direct I/O, straight from the page cache to the disk. The
target's ``fsync`` then has no dirty pages left to write, so copying, hashing and flushing overlap
instead of following each other. Hashing is faster than writing, so the digest is known before the
copy ends: when the store already holds those bytes, the copy stops there.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import mmap
import os
import sys
import threading
from typing import TYPE_CHECKING

from blake3 import blake3

from labledger._foundation.digests import ALGORITHM, CHUNK_SIZE

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["DIRECT_COPY_THRESHOLD", "clone_file", "hash_and_copy", "link_file"]

# Below this size a plain read-hash-write loop is as fast, without the thread and the mapping.
DIRECT_COPY_THRESHOLD = 16 * 1024 * 1024
_DIRECT_CHUNK = 16 * 1024 * 1024
# Direct I/O wants block-aligned offsets and lengths; a page is a multiple of every block size.
_ALIGNMENT = mmap.PAGESIZE
_FICLONE = 0x40049409  # _IOW(0x94, 9, int) from linux/fs.h
_O_DIRECT: int = getattr(os, "O_DIRECT", 0)
# What a filesystem or platform answers when it cannot clone or link: fall back to copying.
_UNSUPPORTED = frozenset(
    {
        errno.EOPNOTSUPP,
        errno.ENOTSUP,
        errno.ENOTTY,
        errno.EINVAL,
        errno.EXDEV,
        errno.ENOSYS,
        errno.EPERM,
        errno.EACCES,
        errno.EMLINK,
    }
)


def clone_file(source_fd: int, target_fd: int) -> bool:
    """Make the empty file ``target_fd`` a copy-on-write clone of ``source_fd``.

    Returns ``False`` where the filesystem (or the platform) cannot clone, or the two files are on
    different filesystems; the caller then copies.
    """
    if not sys.platform.startswith("linux"):  # FICLONE is a Linux ioctl
        return False
    try:
        fcntl.ioctl(target_fd, _FICLONE, source_fd)
    except OSError as exc:
        if exc.errno in _UNSUPPORTED:
            return False
        raise
    return True


def link_file(source: str | os.PathLike[str], target: str | os.PathLike[str]) -> bool:
    """Hard-link ``source`` as ``target``; ``False`` where the filesystem or permissions refuse."""
    try:
        os.link(source, target)
    except OSError as exc:
        if exc.errno in _UNSUPPORTED:
            return False
        raise
    return True


def hash_and_copy(
    source_fd: int,
    target_fd: int,
    size: int,
    *,
    present: Callable[[str], bool] | None = None,
    direct: bool = True,
) -> tuple[str, bool]:
    """Copy the first ``size`` bytes of ``source_fd`` to the empty ``target_fd`` while hashing them.

    Args:
        source_fd: A file open for reading.
        target_fd: An empty file open for writing.
        size: How many bytes to copy.
        present: Called with the digest as soon as it is known; when it returns ``True`` the copy
            may stop early, because those bytes are stored already.
        direct: Write with direct I/O where the filesystem offers it (for a target that is
            flushed next); ``False`` leaves the bytes in the page cache, as a plain copy does.

    Returns:
        The digest, and whether the target holds every byte (``False`` when the copy stopped
        early; the target must then be discarded).
    """
    if size < DIRECT_COPY_THRESHOLD:
        return _hash_and_copy_small(source_fd, target_fd, size), True
    with mmap.mmap(source_fd, size, prot=mmap.PROT_READ) as mapping:
        hasher = blake3(max_threads=blake3.AUTO)
        digest: list[str] = []
        failure: list[BaseException] = []
        stop = threading.Event()

        def hash_mapping() -> None:
            try:
                hasher.update(mapping)
                digest.append(f"{ALGORITHM}:{hasher.hexdigest()}")
                if present is not None and present(digest[0]):
                    stop.set()
            except BaseException as exc:  # re-raised by the copying thread
                failure.append(exc)
                stop.set()

        # BLAKE3 releases the GIL: hashing runs on the other cores while this thread writes.
        thread = threading.Thread(target=hash_mapping, name="labledger-hash", daemon=True)
        thread.start()
        try:
            complete = _write_mapping(mapping, target_fd, size, stop, direct=direct)
        finally:
            thread.join()
        if failure:
            raise failure[0]
        return digest[0], complete


def _hash_and_copy_small(source_fd: int, target_fd: int, size: int) -> str:
    hasher = blake3()
    offset = 0
    while offset < size:
        chunk = os.pread(source_fd, min(CHUNK_SIZE, size - offset), offset)
        if not chunk:
            break
        hasher.update(chunk)
        _write_all(target_fd, memoryview(chunk), offset)
        offset += len(chunk)
    return f"{ALGORITHM}:{hasher.hexdigest()}"


def _write_all(fd: int, data: memoryview, offset: int) -> None:
    # Every view is released on the way out, even on an error: a mapping with a view left over
    # cannot be closed, and that error would hide the real one.
    done = 0
    with data:
        while done < len(data):
            with data[done:] as rest:
                done += os.pwrite(fd, rest, offset + done)


def _set_direct(fd: int, on: bool) -> bool:
    """Switch direct I/O on ``fd`` on or off; ``False`` where the filesystem does not offer it."""
    if not _O_DIRECT:
        return False
    flags = fcntl.fcntl(fd, fcntl.F_GETFL)
    try:
        fcntl.fcntl(fd, fcntl.F_SETFL, (flags | _O_DIRECT) if on else (flags & ~_O_DIRECT))
    except OSError as exc:
        if exc.errno == errno.EINVAL:
            return False
        raise
    return True


def _write_mapping(
    mapping: mmap.mmap, fd: int, size: int, stop: threading.Event, *, direct: bool
) -> bool:
    """Write the mapping to ``fd`` unless ``stop`` is set first; ``True`` once all is written.

    The aligned part goes with direct I/O where the filesystem offers it, the rest buffered.
    """
    offset = 0
    aligned = size - size % _ALIGNMENT
    direct = direct and _set_direct(fd, on=True)
    with memoryview(mapping) as view:
        try:
            while direct and offset < aligned:
                if stop.is_set():
                    return False
                length = min(_DIRECT_CHUNK, aligned - offset)
                try:
                    with view[offset : offset + length] as chunk:
                        written = os.pwrite(fd, chunk, offset)
                except OSError as exc:
                    # A device that wants larger alignment than a page: write the rest buffered.
                    if exc.errno != errno.EINVAL:
                        raise
                    break
                offset += written
                # A short write leaves an unaligned offset, which only a buffered write may follow.
                direct = offset % _ALIGNMENT == 0
        finally:
            with contextlib.suppress(OSError):
                _set_direct(fd, on=False)
        while offset < size:
            if stop.is_set():
                return False
            length = min(_DIRECT_CHUNK, size - offset)
            _write_all(fd, view[offset : offset + length], offset)
            offset += length
    return True
