"""How the local store takes files in: cloned, hard-linked or copied, and what each leaves behind."""

from __future__ import annotations

import os
import stat
import time
from typing import TYPE_CHECKING, Any

import pytest

from labledger._foundation.digests import digest_bytes
from labledger._foundation.errors import ConfigurationError, IntegrityError
from labledger.workspace import local_store
from labledger.workspace.file_transfer import DIRECT_COPY_THRESHOLD
from labledger.workspace.gc import DEFAULT_GRACE_S, collect_garbage
from labledger.workspace.local_store import LocalBlobStore
from labledger.workspace.workspace import Workspace
from tests.unit.workspace.blobstore_conformance import read_all, some_bytes

if TYPE_CHECKING:
    from pathlib import Path

WRITABLE = 0o644


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _source(tmp_path: Path, data: bytes = b"a,b\n1,2\n", *, age_s: float = 0.0) -> Path:
    source = tmp_path / "data.csv"
    source.write_bytes(data)
    source.chmod(WRITABLE)
    if age_s:
        then = time.time() - age_s
        os.utime(source, (then, then))
    return source


@pytest.fixture
def hardlinks(tmp_path: Path) -> LocalBlobStore:
    return LocalBlobStore(tmp_path / "objects", link="hardlink")


def test_copies_leave_the_file_alone(tmp_path: Path) -> None:
    source = _source(tmp_path)
    before = source.stat()
    for link in ("copy", "reflink"):
        store = LocalBlobStore(tmp_path / f"objects-{link}", link=link)
        blob = store.path_of(store.put_file(source))
        assert blob.stat().st_ino != before.st_ino
        assert _mode(blob) & 0o222 == 0
    after = source.stat()
    assert (after.st_mode, after.st_mtime_ns, after.st_nlink) == (
        before.st_mode,
        before.st_mtime_ns,
        before.st_nlink,
    )


def test_a_hardlinked_blob_is_the_file_made_read_only(
    hardlinks: LocalBlobStore, tmp_path: Path
) -> None:
    source = _source(tmp_path)
    mtime = source.stat().st_mtime_ns
    digest = hardlinks.put_file(source)
    blob = hardlinks.path_of(digest)
    assert digest == digest_bytes(b"a,b\n1,2\n")
    assert blob.stat().st_ino == source.stat().st_ino
    assert _mode(source) & 0o222 == 0
    # The file's modification time is its owner's, even when the blob is stored again.
    assert hardlinks.put_file(source) == digest
    assert source.stat().st_mtime_ns == mtime
    assert list((hardlinks.root / "tmp").iterdir()) == []


def test_a_freshly_hardlinked_old_file_keeps_its_grace_period(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LABLEDGER_STORE_LINK", "hardlink")
    with Workspace.init(tmp_path / "ws") as workspace:
        store = workspace.store
        assert isinstance(store, LocalBlobStore)
        source = _source(tmp_path, b"written long ago", age_s=2 * DEFAULT_GRACE_S)
        digest = store.put_file(source)
        assert store.path_of(digest).stat().st_ino == source.stat().st_ino
        # Not yet referenced by any catalog row, but just stored: gc must keep it.
        assert time.time() - store.modified_at(digest) < 60
        assert collect_garbage(workspace).unreferenced == []
        assert store.exists(digest)


def test_hardlink_falls_back_to_a_copy_across_filesystems(
    hardlinks: LocalBlobStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(local_store, "link_file", lambda source, target: False)
    source = _source(tmp_path)
    blob = hardlinks.path_of(hardlinks.put_file(source))
    assert blob.stat().st_ino != source.stat().st_ino
    assert _mode(source) == WRITABLE
    assert blob.read_bytes() == source.read_bytes()


def test_hardlink_falls_back_to_a_copy_of_a_file_it_cannot_protect(
    hardlinks: LocalBlobStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = _source(tmp_path)
    real_chmod = os.chmod

    def chmod_refused_for_links(path: Any, mode: int, **kwargs: Any) -> None:
        if "link-" in os.fspath(path):
            raise PermissionError(1, "Operation not permitted")
        real_chmod(path, mode, **kwargs)

    monkeypatch.setattr(os, "chmod", chmod_refused_for_links)
    blob = hardlinks.path_of(hardlinks.put_file(source))
    assert blob.stat().st_ino != source.stat().st_ino
    assert source.stat().st_nlink == 1
    assert list((hardlinks.root / "tmp").iterdir()) == []


def test_a_file_changed_while_being_linked_is_refused_and_left_writable(
    hardlinks: LocalBlobStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = _source(tmp_path)
    real_link = local_store.link_file

    def link_then_append(path: Any, target: Any) -> bool:
        with source.open("ab") as writer:
            writer.write(b"3,4\n")
        return real_link(path, target)

    monkeypatch.setattr(local_store, "link_file", link_then_append)
    with pytest.raises(IntegrityError, match="changed while it was being stored"):
        hardlinks.put_file(source)
    assert list(hardlinks.digests()) == []
    assert list((hardlinks.root / "tmp").iterdir()) == []
    assert _mode(source) == WRITABLE


def test_a_clone_is_hashed_from_the_clone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A filesystem that clones: the blob is what the clone holds, whatever the source does next.
    source = _source(tmp_path, b"cloned")

    def clone_then_change_the_source(source_fd: int, target_fd: int) -> bool:
        os.write(target_fd, os.pread(source_fd, 1024, 0))
        source.write_bytes(b"changed after the clone")
        return True

    monkeypatch.setattr(local_store, "clone_file", clone_then_change_the_source)
    store = LocalBlobStore(tmp_path / "objects")
    digest = store.put_file(source)
    assert digest == digest_bytes(b"cloned")
    assert read_all(store, digest) == b"cloned"
    assert store.path_of(digest).stat().st_ino != source.stat().st_ino
    assert _mode(store.path_of(digest)) & 0o222 == 0


def test_copy_mode_never_clones(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_clone_expected(source_fd: int, target_fd: int) -> bool:
        raise AssertionError("copy mode must not clone")

    monkeypatch.setattr(local_store, "clone_file", no_clone_expected)
    store = LocalBlobStore(tmp_path / "objects", link="copy")
    assert store.put_file(_source(tmp_path)) == digest_bytes(b"a,b\n1,2\n")


def test_a_large_file_stored_twice_is_stored_once(tmp_path: Path) -> None:
    data = some_bytes(DIRECT_COPY_THRESHOLD + 4097, seed=7)
    source = _source(tmp_path, data)
    store = LocalBlobStore(tmp_path / "objects", link="copy")
    digest = store.put_file(source)
    assert store.put_file(source) == digest
    assert list(store.digests()) == [digest]
    assert list((store.root / "tmp").iterdir()) == []
    assert read_all(store, digest) == data


def test_a_copy_cut_short_for_a_blob_deleted_meanwhile_is_completed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = some_bytes(DIRECT_COPY_THRESHOLD + 1, seed=8)
    source = _source(tmp_path, data)
    store = LocalBlobStore(tmp_path / "objects", link="copy")
    # The store claims the blob while hashing ends, and gc removes it before the copy is kept.
    monkeypatch.setattr(store, "exists", lambda digest: True)
    digest = store.put_file(source)
    assert store.path_of(digest).read_bytes() == data
    assert list((store.root / "tmp").iterdir()) == []


def test_per_call_link_overrides_the_store(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "objects", link="copy")
    source = _source(tmp_path)
    blob = store.path_of(store.put_file(source, link="hardlink"))
    assert blob.stat().st_ino == source.stat().st_ino


def test_an_unknown_link_mode_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="symlink"):
        LocalBlobStore(tmp_path / "objects", link="symlink")  # type: ignore[arg-type]
    store = LocalBlobStore(tmp_path / "objects")
    with pytest.raises(ConfigurationError, match="symlink"):
        store.put_file(_source(tmp_path), link="symlink")  # type: ignore[arg-type]


def test_the_setting_reaches_the_workspace_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LABLEDGER_STORE_LINK", "hardlink")
    with Workspace.init(tmp_path / "ws") as workspace:
        assert isinstance(workspace.store, LocalBlobStore)
        assert workspace.settings.store_link == workspace.store.link == "hardlink"
    monkeypatch.setenv("LABLEDGER_STORE_LINK", "copy")
    with Workspace.open(tmp_path / "ws") as workspace:
        assert isinstance(workspace.store, LocalBlobStore)
        assert workspace.store.link == "copy"


def test_gc_of_a_hardlinked_blob_leaves_the_file(hardlinks: LocalBlobStore, tmp_path: Path) -> None:
    source = _source(tmp_path)
    digest = hardlinks.put_file(source)
    hardlinks.delete(digest)
    assert not hardlinks.exists(digest)
    assert source.read_bytes() == b"a,b\n1,2\n"
