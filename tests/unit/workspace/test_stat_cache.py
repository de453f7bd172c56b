"""The stat cache: unchanged files cost a stat, any change of bytes is seen, trouble only costs speed."""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labledger._foundation.canonical import canonical_json
from labledger._foundation.digests import digest_bytes
from labledger._foundation.errors import NotFoundError, ValidationError
from labledger.workspace.stat_cache import RACY_WINDOW_NS, StatCache, TreeEntry, tree_manifest

if TYPE_CHECKING:
    from pathlib import Path


def _age(path: Path, seconds: float = 10.0) -> None:
    stat = path.stat()
    past = time.time_ns() - int(seconds * 1e9)
    os.utime(path, ns=(stat.st_atime_ns, past))


@pytest.fixture(autouse=True)
def _no_racy_window(monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> None:
    """Files written by a test changed a moment ago, and their change time (ctime) cannot be set
    back: without a racy window, entries count as trusted as they would two seconds later."""
    if "racy" not in request.node.name:
        monkeypatch.setattr("labledger.workspace.stat_cache.RACY_WINDOW_NS", 0)


def test_a_file_hashed_once_is_not_read_again_while_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_bytes(b"1,2,3")
    _age(path)
    db = tmp_path / "cache.db"
    with StatCache(db) as cache:
        assert cache.hash_file(path).digest == digest_bytes(b"1,2,3")
        assert cache.hashed == 1
    with StatCache(db) as cache:  # a new process would read the same file
        assert cache.hash_file(path).digest == digest_bytes(b"1,2,3")
        assert cache.hashed == 0


def test_a_same_size_edit_with_the_old_modification_time_is_still_seen(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_bytes(b"1,2,3")
    _age(path)
    before = path.stat()
    db = tmp_path / "cache.db"
    with StatCache(db) as cache:
        cache.hash_file(path)
    path.write_bytes(b"1,2,4")  # same size; the modification time is put back
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    with StatCache(db) as cache:
        assert cache.hash_file(path).digest == digest_bytes(b"1,2,4")


def test_a_file_changed_right_after_hashing_is_never_trusted_racy(tmp_path: Path) -> None:
    # Written and hashed within the timestamps' granularity: the entry is racy.
    path = tmp_path / "a.csv"
    path.write_bytes(b"first")
    db = tmp_path / "cache.db"
    with StatCache(db) as cache:
        cache.hash_file(path)
    with StatCache(db) as cache:
        cache.hash_file(path)
        assert cache.hashed == 1  # re-read: changed less than the racy window before hashing
    assert RACY_WINDOW_NS >= 1_000_000_000


def test_a_replaced_file_with_a_new_inode_is_read_again(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_bytes(b"old")
    _age(path)
    db = tmp_path / "cache.db"
    with StatCache(db) as cache:
        cache.hash_file(path)
    replacement = tmp_path / "tmp.csv"
    replacement.write_bytes(b"new")
    _age(replacement)
    os.replace(replacement, path)  # how editors save: a new file renamed over the old
    with StatCache(db) as cache:
        assert cache.hash_file(path).digest == digest_bytes(b"new")


def test_a_folder_costs_a_stat_per_file_once_hashed(tmp_path: Path) -> None:
    folder = tmp_path / "plates"
    for i in range(20):
        (folder / f"p{i % 3}").mkdir(parents=True, exist_ok=True)
        (folder / f"p{i % 3}" / f"{i}.txt").write_text(str(i))
    for path in folder.rglob("*.txt"):
        _age(path)
    db = tmp_path / "cache.db"
    with StatCache(db) as cache:
        first = cache.hash_folder(folder)
        assert cache.hashed == 20
    with StatCache(db) as cache:
        again = cache.hash_folder(folder)
        assert cache.hashed == 0
    assert again.digest == first.digest
    assert [e.path for e in first.entries][:2] == ["p0/0.txt", "p0/12.txt"]
    (folder / "p1" / "1.txt").write_text("edited")
    with StatCache(db) as cache:
        assert cache.hash_folder(folder).digest != first.digest
        assert cache.hashed == 1


def test_a_corrupt_or_unwritable_cache_file_only_costs_speed(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_bytes(b"x")
    db = tmp_path / "cache.db"
    db.write_bytes(b"this is not a database" * 100)
    with StatCache(db) as cache:
        assert cache.hash_file(path).digest == digest_bytes(b"x")
    _age(path)
    with StatCache(db) as cache:  # the damaged file was replaced by a working cache
        assert cache.hash_file(path).digest == digest_bytes(b"x")
    with StatCache(db) as cache:
        cache.hash_file(path)
        assert cache.hashed == 0
    with StatCache(tmp_path / "no" / "such" / "\0bad" / "cache.db") as cache:
        assert cache.hash_file(path).digest == digest_bytes(b"x")


def test_missing_and_wrong_kinds_are_clear_errors(tmp_path: Path) -> None:
    cache = StatCache(None)
    with pytest.raises(NotFoundError, match="no file"):
        cache.hash_file(tmp_path / "missing.csv")
    with pytest.raises(NotFoundError, match="no folder"):
        cache.hash_folder(tmp_path / "missing")
    with pytest.raises(ValidationError, match="is a folder"):
        cache.hash_file(tmp_path)
    (tmp_path / "f").write_text("f")
    with pytest.raises(ValidationError, match="is a file"):
        cache.hash_folder(tmp_path / "f")


@settings(max_examples=40, deadline=None)
@given(first=st.binary(max_size=64), second=st.binary(max_size=64), aged=st.booleans())
def test_any_change_of_bytes_changes_the_digest_and_a_touch_does_not(
    tmp_path_factory: pytest.TempPathFactory, first: bytes, second: bytes, aged: bool
) -> None:
    folder = tmp_path_factory.mktemp("prop")
    path = folder / "input.bin"
    path.write_bytes(first)
    if aged:
        _age(path)
    db = folder / "cache.db"
    with StatCache(db) as cache:
        before = cache.hash_file(path).digest
    stat = path.stat()
    path.write_bytes(second)
    # Put the old times back: only the bytes (and the change time) differ.
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    with StatCache(db) as cache:
        after = cache.hash_file(path).digest
    assert (after == before) == (first == second)
    os.utime(path)  # a touch: new times, same bytes
    with StatCache(db) as cache:
        assert cache.hash_file(path).digest == after


def _tree(root: Path) -> None:
    for name, text in {
        "a.csv": "1",
        "a-b/x.txt": "2",
        "a/b.txt": "3",
        "plaque-é/ü.txt": "4",
        "z/deep/er/file": "5",
    }.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        _age(path)


def test_a_folder_manifest_is_the_canonical_json_of_its_entries(tmp_path: Path) -> None:
    _tree(tmp_path)
    hashed = StatCache(None).hash_folder(tmp_path)
    document = {
        "kind": "tree",
        "entries": [{"path": e.path, "digest": e.digest, "size": e.size} for e in hashed.entries],
    }
    assert hashed.manifest == canonical_json(document)
    assert hashed.digest == digest_bytes(hashed.manifest)
    assert [e.path for e in hashed.entries] == [
        "a/b.txt",
        "a-b/x.txt",
        "a.csv",
        "plaque-é/ü.txt",
        "z/deep/er/file",
    ]


def test_tree_manifest_escapes_like_canonical_json() -> None:
    entries = (TreeEntry('q"uote\\back\tslash/ñ', "blake3:" + "0" * 64, 3),)
    assert tree_manifest(entries) == canonical_json(
        {
            "kind": "tree",
            "entries": [{"path": e.path, "digest": e.digest, "size": e.size} for e in entries],
        }
    )


def test_an_old_modification_time_put_back_does_not_make_a_fresh_change_trusted_racy(
    tmp_path: Path,
) -> None:
    # `cp -p` and `rsync -t` set an old mtime on bytes just written: the change time says when.
    path = tmp_path / "copied.csv"
    path.write_bytes(b"1,2,3")
    _age(path, seconds=3600)
    db = tmp_path / "cache.db"
    with StatCache(db) as cache:
        cache.hash_file(path)
    with StatCache(db) as cache:
        cache.hash_file(path)
        assert cache.hashed == 1


def test_bytes_changed_within_one_timestamp_tick_are_seen_by_changed_racy(tmp_path: Path) -> None:
    # On a filesystem with coarse times, new bytes can keep every stat value: a racy file is read.
    import dataclasses

    path = tmp_path / "data.txt"
    path.write_bytes(b"hello world")
    hashed = StatCache(None).hash_file(path)
    assert not hashed.changed()
    path.write_bytes(b"HELLO WORLD")
    same_stat = dataclasses.replace(hashed, seen=(("", tuple(_key_of(path))),))
    assert same_stat.changed()


def _key_of(path: Path) -> tuple[int, ...]:
    st = path.stat()
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def test_a_path_through_a_link_is_hashed_where_the_system_opens_it(tmp_path: Path) -> None:
    (tmp_path / "sub" / "real").mkdir(parents=True)
    (tmp_path / "sub" / "x.txt").write_text("the one opened")
    (tmp_path / "x.txt").write_text("a decoy")
    (tmp_path / "lnk").symlink_to(tmp_path / "sub" / "real")
    through = tmp_path / "lnk" / ".." / "x.txt"
    assert through.read_text() == "the one opened"
    hashed = StatCache(None).hash_file(str(through))
    assert hashed.digest == digest_bytes(b"the one opened")
