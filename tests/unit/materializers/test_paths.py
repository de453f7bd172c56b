"""Files and folders: the tree manifest format, links refused, and loads that stay in their folder."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import pytest

from labledger._foundation.canonical import canonical_json
from labledger._foundation.digests import digest_bytes, digest_file
from labledger._foundation.errors import NotFoundError, ValidationError
from labledger.materializers import load, ref_for, save
from labledger.materializers.paths import read_manifest, write_tree

if TYPE_CHECKING:
    from pathlib import Path

    from labledger.workspace.blobstore import BlobStore


def _write(root: Path, files: dict[str, bytes]) -> Path:
    for relative, data in files.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_bytes(data)
    return root


def test_the_manifest_is_canonical_json_sorted_part_by_part(
    store: BlobStore, tmp_path: Path
) -> None:
    folder = _write(tmp_path / "data", {"a/x": b"1", "a-b/x": b"22", "a.txt": b"333"})
    (folder / "empty").mkdir()
    stored = save(folder, store)
    # Part by part ("a" < "a-b" < "a.txt"), as sorting Path objects does: not by the whole string.
    expected = [
        {"path": p, "digest": digest_file(folder / p), "size": (folder / p).stat().st_size}
        for p in ("a/x", "a-b/x", "a.txt")
    ]
    manifest = canonical_json({"kind": "tree", "entries": expected})
    assert stored.digest == digest_bytes(manifest)
    assert (stored.kind, stored.format, stored.size) == ("tree", "tree", len(manifest))
    assert stored.schema == {"name": "data"}
    assert stored.stats == {"files": 3, "bytes": 6}
    assert read_manifest(store, stored.digest) == expected


def test_a_file(store: BlobStore, tmp_path: Path) -> None:
    path = tmp_path / "Plate.CSV"
    path.write_text("well\nA1\n")
    stored = save(path, store)
    assert (stored.kind, stored.format, stored.digest) == ("file", "csv", digest_file(path))
    assert stored.stats == {"bytes": path.stat().st_size}
    (tmp_path / "README").write_text("x")
    assert save(tmp_path / "README", store).format == "bin"


@pytest.mark.parametrize("target_is_dir", [False, True])
def test_links_inside_a_folder_are_refused(
    target_is_dir: bool, store: BlobStore, tmp_path: Path
) -> None:
    folder = _write(tmp_path / "data", {"real.txt": b"x"})
    outside = _write(tmp_path / "outside", {"secret.txt": b"s"})
    target = outside if target_is_dir else outside / "secret.txt"
    os.symlink(target, folder / "link", target_is_directory=target_is_dir)
    for allow_pickle in (False, True):
        with pytest.raises(ValidationError, match="'link' is a symbolic link") as caught:
            save(folder, store, allow_pickle=allow_pickle)
        assert "cp -rL" in str(caught.value)
    assert list(store.digests()) == []


def test_a_link_to_a_folder_can_be_stored_itself(store: BlobStore, tmp_path: Path) -> None:
    folder = _write(tmp_path / "data", {"real.txt": b"x"})
    os.symlink(folder, tmp_path / "alias", target_is_directory=True)
    assert save(tmp_path / "alias", store).stats == {"files": 1, "bytes": 1}


def test_a_missing_path_is_not_found(store: BlobStore, tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="no file or folder"):
        save(tmp_path / "absent", store)


def _forged_tree(store: BlobStore, path: str) -> str:
    inner = store.put(b"evil")
    manifest = {"kind": "tree", "entries": [{"path": path, "digest": inner, "size": 4}]}
    return store.put(canonical_json(manifest))


@pytest.mark.parametrize("entry", ["../evil.txt", "a/../../evil.txt", "/tmp/evil.txt", "."])
def test_tree_entries_cannot_leave_the_destination(
    entry: str, store: BlobStore, tmp_path: Path
) -> None:
    ref = ref_for(digest=_forged_tree(store, entry), kind="tree", format="tree")
    with pytest.raises(ValidationError, match="tree entry"):
        load(ref, store, workdir=tmp_path / "work")
    assert not (tmp_path / "evil.txt").exists()
    assert not list((tmp_path / "work").rglob("*.txt"))


def test_a_link_in_the_destination_cannot_redirect_a_write(
    store: BlobStore, tmp_path: Path
) -> None:
    destination = tmp_path / "dest"
    destination.mkdir()
    (tmp_path / "elsewhere").mkdir()
    os.symlink(tmp_path / "elsewhere", destination / "sub", target_is_directory=True)
    with pytest.raises(ValidationError, match="outside"):
        write_tree(store, _forged_tree(store, "sub/evil.txt"), destination)
    assert not (tmp_path / "elsewhere" / "evil.txt").exists()


@pytest.mark.parametrize(
    "document",
    [b"not json", b"[1, 2]", b'{"kind": "not a tree"}', b'{"kind": "tree", "entries": [{}]}'],
)
def test_other_blobs_are_not_manifests(document: bytes, store: BlobStore) -> None:
    with pytest.raises(ValidationError, match="tree manifest"):
        read_manifest(store, store.put(document))


def test_loads_stay_inside_the_work_folder(store: BlobStore, tmp_path: Path) -> None:
    digest = store.put(b"payload")
    forged = ref_for(digest=digest, kind="file", format="bin", schema={"name": "../../escape"})
    out = load(forged, store, workdir=tmp_path / "work")
    assert out == tmp_path / "work" / "escape"
    nameless = load(ref_for(digest=digest, kind="file", format="csv"), store, workdir=tmp_path)
    assert nameless == tmp_path / f"{digest[7:19]}.csv"
    assert nameless.read_bytes() == b"payload"


def test_without_a_work_folder_loads_go_to_a_fresh_one(store: BlobStore, tmp_path: Path) -> None:
    folder = _write(tmp_path / "model", {"w.bin": b"w"})
    out = load(save(folder, store), store)
    try:
        assert out.name == "model"
        assert out.parent != tmp_path
        assert (out / "w.bin").read_bytes() == b"w"
    finally:
        import shutil

        shutil.rmtree(out.parent)
