"""Local blob store details beyond the conformance suite."""

from __future__ import annotations

from typing import TYPE_CHECKING

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
