"""Local blob store details beyond the conformance suite."""

from __future__ import annotations

import errno
import io
import os
from typing import TYPE_CHECKING, Any

import pytest

from labledger._foundation.digests import digest_bytes
from labledger.workspace.local_store import LocalBlobStore

if TYPE_CHECKING:
    from pathlib import Path


def test_a_fan_out_folder_removed_behind_the_store_is_made_again(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "objects")
    digest = store.put(b"first")
    store.delete(digest)
    store.path_of(digest).parent.rmdir()
    assert store.put(b"first") == digest
    assert store.exists(digest)
    assert list((tmp_path / "objects" / "tmp").iterdir()) == []


def test_blobs_are_read_only_from_the_start(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "objects", fsync=False)
    digest = store.put(b"bytes")
    assert store.path_of(digest).stat().st_mode & 0o222 == 0


@pytest.mark.parametrize("size", [10, 3 * 1024 * 1024], ids=["in-memory path", "streamed path"])
def test_a_full_disk_mid_write_leaves_no_blob_and_no_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, size: int
) -> None:
    store = LocalBlobStore(tmp_path / "objects")
    data = os.urandom(size)
    real_write = os.write

    def full_disk(fd: int, chunk: Any) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    class FullDiskFile(io.FileIO):
        def write(self, chunk: Any) -> int:
            return full_disk(self.fileno(), chunk)

    monkeypatch.setattr(os, "write", full_disk)  # the in-memory path writes with os.write
    monkeypatch.setattr(os, "fdopen", lambda fd, mode: FullDiskFile(fd, "wb"))  # the streamed one
    with pytest.raises(OSError, match="No space left"):
        store.put(data)
    monkeypatch.undo()
    assert os.write is real_write
    assert not store.exists(digest_bytes(data))
    assert list((tmp_path / "objects" / "tmp").iterdir()) == []
    assert store.put(data) == digest_bytes(data)


def test_storing_present_bytes_writes_nothing_and_renews_the_blob(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "objects")
    digest = store.put(b"twice")
    path = store.path_of(digest)
    os.utime(path, (1_000_000, 1_000_000))
    inode = path.stat().st_ino
    assert store.put(b"twice") == digest
    assert path.stat().st_ino == inode
    # The grace period restarts, so gc cannot take it before the new reference is committed.
    assert store.modified_at(digest) > 1_000_000


def test_put_many_syncs_once_and_publishes_only_after_the_sync(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from labledger.workspace import local_store

    store = LocalBlobStore(tmp_path / "objects")
    had = store.put(b"present already")
    blobs = [b"one", b"two", b"present already", b"one"]
    synced: list[list[str]] = []

    def sync(folder: Path) -> None:
        # At the sync, the new blobs are still temporary files: none is visible yet.
        synced.append(sorted(d for d in store.digests()))

    monkeypatch.setattr(local_store, "sync_folder", sync)
    assert store.put_many(blobs) == [digest_bytes(b) for b in blobs]
    assert synced == [[had]]
    for data in blobs:
        with store.open(digest_bytes(data)) as handle:
            assert handle.read() == data
    assert list((tmp_path / "objects" / "tmp").iterdir()) == []
    synced.clear()
    store.put_many([b"one", b"two"])  # all present: nothing to write or sync
    assert synced == []


def test_put_many_that_fails_leaves_no_blob_and_no_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from labledger.workspace import local_store

    store = LocalBlobStore(tmp_path / "objects")

    def failing_sync(folder: Path) -> None:
        raise OSError(errno.EIO, "the disk failed")

    monkeypatch.setattr(local_store, "sync_folder", failing_sync)
    with pytest.raises(OSError, match="disk failed"):
        store.put_many([b"one", b"two"])
    assert list(store.digests()) == []
    assert list((tmp_path / "objects" / "tmp").iterdir()) == []
