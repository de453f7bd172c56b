"""Writing blobs out as a folder: paths checked first, bytes checked, nothing left on failure."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import pytest

from labledger._foundation.errors import IntegrityError, ValidationError
from labledger.workspace.folder_export import check_paths, write_folder
from labledger.workspace.local_store import LocalBlobStore
from labledger.workspace.memory_store import MemoryBlobStore
from tests.unit.workspace.test_blob_export import corrupt

if TYPE_CHECKING:
    from pathlib import Path

    from labledger.workspace.blobstore import BlobStore


@pytest.fixture(params=["memory", "local"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
    if request.param == "memory":
        return MemoryBlobStore()
    return LocalBlobStore(tmp_path / "objects")


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def _listing(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*"))


@pytest.mark.parametrize(
    "path",
    [
        "../x",
        "a/../../x",
        "/etc/x",
        "C:x",
        "c:/x",
        "a\x00b",
        "a/b\nc",
        "a\\..\\x",
        "",
        ".",
        "a/./b",
        "a//b",
        "a/",
        "..",
    ],
)
def test_unsafe_paths_are_refused(path: str) -> None:
    with pytest.raises(ValidationError, match="tree entry"):
        check_paths(["ok.txt", path], what="tree t")


@pytest.mark.parametrize(
    ("paths", "why"),
    [
        (["a", "a"], "twice"),
        (["a", "a/b"], "inside it"),
        (["x/a/b/c", "x/a"], "inside it"),
    ],
)
def test_clashing_paths_are_refused(paths: list[str], why: str) -> None:
    with pytest.raises(ValidationError, match=why):
        check_paths(paths, what="tree t")


def test_safe_paths_are_split() -> None:
    assert check_paths(["a.txt", "sub/b c.txt", ".hidden/x"], what="t") == [
        ("a.txt",),
        ("sub", "b c.txt"),
        (".hidden", "x"),
    ]


def _files(store: BlobStore, contents: dict[str, bytes]) -> list[tuple[str, str]]:
    return [(path, store.put(data)) for path, data in contents.items()]


def test_a_new_folder_is_written_whole(store: BlobStore, tmp_path: Path) -> None:
    contents = {"a.txt": b"alpha", "sub/deeper/b.txt": b"beta", "sub/c.txt": b""}
    out = write_folder(store, _files(store, contents), tmp_path / "out" / "tree")
    assert out == tmp_path / "out" / "tree"
    assert _tree(out) == contents
    assert _listing(tmp_path / "out") == [
        "tree",
        "tree/a.txt",
        "tree/sub",
        "tree/sub/c.txt",
        "tree/sub/deeper",
        "tree/sub/deeper/b.txt",
    ]


@pytest.mark.parametrize("exists", [False, True])
def test_a_corrupt_blob_leaves_nothing_new(store: BlobStore, tmp_path: Path, exists: bool) -> None:
    files = _files(store, {"a.txt": b"alpha", "sub/b.txt": b"beta"})
    corrupt(store, files[1][1], b"evil")
    destination = tmp_path / "dest"
    if exists:
        destination.mkdir()
        (destination / "kept.txt").write_bytes(b"kept")
    with pytest.raises(IntegrityError, match=r"file 'sub/b.txt' of tree t.*corrupt"):
        write_folder(store, files, destination, what="tree t")
    if exists:
        assert _listing(destination) == ["kept.txt"]
    else:
        assert not destination.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name != "objects"] == (
        ["dest"] if exists else []
    )


def test_an_existing_folder_is_filled_without_replacing_files(
    store: BlobStore, tmp_path: Path
) -> None:
    destination = tmp_path / "dest"
    (destination / "sub").mkdir(parents=True)
    (destination / "sub" / "b.txt").write_bytes(b"mine")
    (destination / "other.txt").write_bytes(b"other")
    files = _files(store, {"a.txt": b"alpha", "sub/b.txt": b"beta"})
    with pytest.raises(ValidationError, match="exists; not overwriting"):
        write_folder(store, files, destination)
    assert _tree(destination) == {"sub/b.txt": b"mine", "other.txt": b"other"}
    write_folder(store, files, destination, overwrite=True)
    assert _tree(destination) == {"a.txt": b"alpha", "sub/b.txt": b"beta", "other.txt": b"other"}


def test_a_link_inside_the_destination_is_never_followed(store: BlobStore, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "b.txt").write_bytes(b"original")
    destination = tmp_path / "dest"
    destination.mkdir()
    (destination / "sub").symlink_to(elsewhere, target_is_directory=True)
    (destination / "a.txt").symlink_to(elsewhere / "b.txt")
    for files in (
        _files(store, {"sub/b.txt": b"evil"}),
        _files(store, {"a.txt": b"evil"}),
    ):
        for overwrite in (False, True):
            with pytest.raises(ValidationError, match="symbolic link"):
                write_folder(store, files, destination, overwrite=overwrite)
    assert _tree(elsewhere) == {"b.txt": b"original"}
    assert sorted(p.name for p in destination.iterdir()) == ["a.txt", "sub"]


def test_a_linked_destination_is_refused(store: BlobStore, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "dest").symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(ValidationError, match="symbolic link"):
        write_folder(store, _files(store, {"a.txt": b"x"}), tmp_path / "dest")
    assert list(elsewhere.iterdir()) == []


def test_a_file_in_place_of_a_folder_is_refused(store: BlobStore, tmp_path: Path) -> None:
    destination = tmp_path / "dest"
    destination.mkdir()
    (destination / "sub").write_bytes(b"a file")
    with pytest.raises(ValidationError, match="is a file where the tree has a folder"):
        write_folder(store, _files(store, {"sub/b.txt": b"b"}), destination, overwrite=True)
    assert (destination / "sub").read_bytes() == b"a file"
    (tmp_path / "plain").write_bytes(b"x")
    with pytest.raises(ValidationError, match="needs a folder"):
        write_folder(store, _files(store, {"a.txt": b"a"}), tmp_path / "plain")


def test_a_failed_move_takes_back_what_it_moved(
    store: BlobStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    destination = tmp_path / "dest"
    destination.mkdir()
    files = _files(store, {"a.txt": b"a", "new/b.txt": b"b", "new/c.txt": b"c"})
    real_link = os.link
    calls = []

    def failing_link(*args: object, **kwargs: object) -> None:
        calls.append(args)
        if len(calls) == 3:
            raise OSError(28, "No space left on device")  # a disk that fills up
        real_link(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "link", failing_link)
    with pytest.raises(OSError, match="No space"):
        write_folder(store, files, destination)
    assert list(destination.iterdir()) == []
