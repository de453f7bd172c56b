"""Copying the blobs a catalog snapshot references into a backup, incrementally and by digest.

A blob already in the backup with the expected size is left alone (it was hashed when it was
copied); any other is copied to a temporary name while it is hashed, flushed, made read-only and
renamed into place, so a backup interrupted half-way holds only whole blobs. Bytes that do not hash
to their digest are never put in place: the blob is reported as corrupt in the source.

A local source is read where the blob is, or in the store's trash (where ``gc`` may have moved a blob
that a newer catalog no longer references) without moving it back; other stores are read through
``BlobStore.open``, which takes a trashed blob back out.
"""

from __future__ import annotations

import contextlib
import os
import stat
import uuid
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, BinaryIO

from labledger._foundation.digests import CHUNK_SIZE, Hasher, digest_file, hex_of
from labledger._foundation.errors import NotFoundError
from labledger.workspace.file_transfer import clone_file, hash_and_copy
from labledger.workspace.local_store import LocalBlobStore
from labledger.workspace.trash import TRASH_FOLDER

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from pathlib import Path

    from labledger.workspace.blobstore import BlobStore

__all__ = ["BlobCopy", "blob_path", "copy_blobs", "rehash_blobs", "upload_blobs"]

_READ_ONLY = stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH
# Local copies are bound by the disk, remote ones by round trips: more requests in flight help.
_LOCAL_WORKERS = 4
_REMOTE_WORKERS = 16


@dataclass(frozen=True, slots=True)
class BlobCopy:
    """What ``copy_blobs`` did.

    Attributes:
        copied: Blobs copied into the backup.
        present: Blobs already there with the right size, left alone.
        bytes_copied: Bytes copied.
        missing: Blobs in neither the source store nor its trash.
        corrupt: Blobs whose bytes in the source do not hash to their digest (not copied).
    """

    copied: list[str] = field(default_factory=list)
    present: int = 0
    bytes_copied: int = 0
    missing: list[str] = field(default_factory=list)
    corrupt: list[str] = field(default_factory=list)


def blob_path(objects: Path, digest: str) -> Path:
    """Where a blob lives in a local ``objects`` folder."""
    hex_ = hex_of(digest)
    return objects / hex_[:2] / hex_


def _is_present(path: Path, size: int) -> bool:
    try:
        return path.stat().st_size == size
    except FileNotFoundError:
        return False


def _local_candidates(store: LocalBlobStore, digest: str) -> list[Path]:
    return [store.path_of(digest), store.root / TRASH_FOLDER / hex_of(digest)]


def _copy_local(store: LocalBlobStore, digest: str, temp: Path) -> tuple[str, int] | None:
    """Copy a local blob (in place or in the trash) to ``temp``; its digest and size, or ``None``."""
    for candidate in _local_candidates(store, digest):
        try:
            source = os.open(candidate, os.O_RDONLY)
        except FileNotFoundError:
            continue  # moved to (or out of) the trash meanwhile: try the other place
        try:
            size = os.fstat(source).st_size
            target = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, _READ_ONLY)
            try:
                if clone_file(source, target):
                    # A clone shares blocks with the source; hashing it checks what the backup holds.
                    found = digest_file(temp)
                else:
                    found, _ = hash_and_copy(source, target, size)
                os.fsync(target)
            finally:
                os.close(target)
        finally:
            os.close(source)
        return found, size
    return None


def _copy_stream(store: BlobStore, digest: str, temp: Path) -> tuple[str, int] | None:
    try:
        handle: BinaryIO = store.open(digest)
    except NotFoundError:
        return None
    hasher = Hasher()
    size = 0
    with handle, open(os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, _READ_ONLY), "wb") as out:
        while chunk := handle.read(CHUNK_SIZE):
            hasher.update(chunk)
            out.write(chunk)
            size += len(chunk)
        out.flush()
        os.fsync(out.fileno())
    return hasher.digest, size


def _copy_one(store: BlobStore, digest: str, objects: Path) -> tuple[str, int]:
    """Copy one blob into ``objects``: ``("copied", size)``, ``("missing", 0)`` or ``("corrupt", 0)``."""
    temp = objects / "tmp" / f"backup-{uuid.uuid4().hex}"
    try:
        if isinstance(store, LocalBlobStore):
            result = _copy_local(store, digest, temp)
        else:
            result = _copy_stream(store, digest, temp)
        if result is None:
            return "missing", 0
        found, size = result
        if found != digest:
            return "corrupt", 0
        final = blob_path(objects, digest)
        final.parent.mkdir(exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            # A damaged copy from an earlier backup is read-only; replacing it needs no write bit
            # on the file, only on its folder.
            final.unlink()
        os.replace(temp, final)
        return "copied", size
    finally:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()


def copy_blobs(
    store: BlobStore,
    wanted: Mapping[str, int],
    objects: Path,
    *,
    rehash_present: bool = False,
    progress: Callable[[str, int, int], None] | None = None,
) -> BlobCopy:
    """Copy each of ``wanted`` (digest -> size) that ``objects`` lacks from ``store``.

    Args:
        store: Where the blobs are.
        wanted: The blobs to have, with the sizes the catalog recorded.
        objects: The backup's ``objects`` folder (created when missing).
        rehash_present: Also re-hash blobs already there, and copy again those that are damaged.
        progress: Called as ``progress(phase, done, total)``: ``"checking"`` counts blobs,
            ``"copying"`` counts bytes.
    """
    (objects / "tmp").mkdir(parents=True, exist_ok=True)
    todo: list[str] = []
    present = 0
    for done, (digest, size) in enumerate(sorted(wanted.items()), 1):
        path = blob_path(objects, digest)
        if _is_present(path, size) and (not rehash_present or digest_file(path) == digest):
            present += 1
        else:
            todo.append(digest)
        if progress:
            progress("checking", done, len(wanted))
    total = sum(wanted[d] for d in todo)
    copied: list[str] = []
    missing: list[str] = []
    corrupt: list[str] = []
    moved = 0
    workers = _LOCAL_WORKERS if isinstance(store, LocalBlobStore) else _REMOTE_WORKERS
    if progress and todo:
        progress("copying", 0, total)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="labledger-backup") as pool:
        futures = {pool.submit(_copy_one, store, d, objects): d for d in todo}
        for future in as_completed(futures):
            outcome, size = future.result()
            digest = futures[future]
            {"copied": copied, "missing": missing, "corrupt": corrupt}[outcome].append(digest)
            moved += size
            if progress:
                progress("copying", moved, max(total, moved))
    return BlobCopy(sorted(copied), present, moved, sorted(missing), sorted(corrupt))


def rehash_blobs(
    objects: Path,
    digests: list[str],
    *,
    progress: Callable[[str, int, int], None] | None = None,
) -> list[tuple[str, str]]:
    """Re-hash blobs as the backup holds them; ``(digest, reason)`` for each that fails."""
    problems: list[tuple[str, str]] = []
    for done, digest in enumerate(digests, 1):
        path = blob_path(objects, digest)
        try:
            actual = digest_file(path)
        except FileNotFoundError:
            problems.append((digest, "missing from the backup"))
        else:
            if actual != digest:
                problems.append((digest, f"its bytes in the backup hash to {actual}"))
        if progress:
            progress("blobs", done, len(digests))
    return problems


def _upload_one(objects: Path, digest: str, store: BlobStore) -> tuple[str, int]:
    path = blob_path(objects, digest)
    if not path.is_file():
        return "missing", 0
    if store.put_file(path, link="copy") != digest:
        return "corrupt", 0
    return "copied", path.stat().st_size


def upload_blobs(
    objects: Path,
    wanted: Mapping[str, int],
    store: BlobStore,
    *,
    progress: Callable[[str, int, int], None] | None = None,
) -> BlobCopy:
    """Put each of ``wanted`` that ``store`` lacks from the local ``objects`` folder into it.

    A local target store is filled by ``copy_blobs`` (same checks, same speed); this serves the
    others, such as S3, through the store's own ``put_file``.
    """
    if isinstance(store, LocalBlobStore):
        return copy_blobs(LocalBlobStore(objects), wanted, store.root, progress=progress)
    from labledger.workspace.blobstore import exists_many

    there = exists_many(store, wanted)
    todo = sorted(d for d, present in there.items() if not present)
    copied: list[str] = []
    missing: list[str] = []
    corrupt: list[str] = []
    moved = 0
    total = sum(wanted[d] for d in todo)
    with ThreadPoolExecutor(max_workers=_REMOTE_WORKERS) as pool:
        futures = {pool.submit(_upload_one, objects, d, store): d for d in todo}
        for future in as_completed(futures):
            outcome, size = future.result()
            {"copied": copied, "missing": missing, "corrupt": corrupt}[outcome].append(
                futures[future]
            )
            moved += size
            if progress:
                progress("copying", moved, max(total, moved))
    return BlobCopy(
        sorted(copied), len(wanted) - len(todo), moved, sorted(missing), sorted(corrupt)
    )
