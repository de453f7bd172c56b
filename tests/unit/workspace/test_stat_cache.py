"""The stat cache: digests follow the bytes, and unchanged files are not read again."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from labledger._foundation.canonical import canonical_json
from labledger._foundation.digests import digest_bytes
from labledger.workspace.stat_cache import StatCache, TreeEntry, tree_manifest

if TYPE_CHECKING:
    from pathlib import Path


def _age(path: Path, seconds: float = 10.0) -> None:
    """Date a file back, as files look between two real runs (older than the racy window)."""
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns - int(seconds * 1e9)))


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


def test_unchanged_files_are_not_read_again(tmp_path: Path) -> None:
    _tree(tmp_path / "data")
    cache_file = tmp_path / "stat-cache.db"
    with StatCache(cache_file) as first:
        before = first.hash_folder(tmp_path / "data")
        assert first.hashed == 5
    with StatCache(cache_file) as second:
        assert second.hash_folder(tmp_path / "data") == before
        assert second.hashed == 0


def test_an_edited_byte_changes_the_digest_even_with_the_old_times_put_back(
    tmp_path: Path,
) -> None:
    _tree(tmp_path / "data")
    cache_file = tmp_path / "stat-cache.db"
    path = tmp_path / "data" / "a-b" / "x.txt"
    with StatCache(cache_file) as first:
        before = first.hash_folder(tmp_path / "data")
    stat = path.stat()
    path.write_text("9")  # same size
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # same modification time
    with StatCache(cache_file) as second:
        after = second.hash_folder(tmp_path / "data")
        assert second.hashed == 1
    assert after.digest != before.digest
    assert after.size == before.size


def test_a_file_hashed_right_after_it_changed_is_read_again(tmp_path: Path) -> None:
    path = tmp_path / "fresh.txt"
    path.write_text("new")  # modified now: inside the racy window
    cache_file = tmp_path / "stat-cache.db"
    with StatCache(cache_file) as first:
        first.hash_file(path)
    with StatCache(cache_file) as second:
        second.hash_file(path)
        assert second.hashed == 1
