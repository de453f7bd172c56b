"""Writing one blob to a file: checked while copied, renamed into place only when it matches."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import pytest

from labledger._foundation.digests import digest_bytes
from labledger._foundation.errors import IntegrityError, ValidationError
from labledger.workspace.blob_export import TEMP_PREFIX, export_blob, name_problem
from labledger.workspace.file_transfer import DIRECT_COPY_THRESHOLD
from labledger.workspace.local_store import LocalBlobStore
from labledger.workspace.memory_store import MemoryBlobStore

if TYPE_CHECKING:
    from pathlib import Path

    from labledger.workspace.blobstore import BlobStore


@pytest.fixture(params=["memory", "local", "local-verifying"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
    if request.param == "memory":
        return MemoryBlobStore()
    return LocalBlobStore(tmp_path / "objects", verify_on_read=request.param == "local-verifying")


def corrupt(store: BlobStore, digest: str, data: bytes) -> None:
    """Replace a stored blob's bytes behind the store's back."""
    if isinstance(store, MemoryBlobStore):
        store._blobs[digest] = data
        return
    assert isinstance(store, LocalBlobStore)
    path = store.path_of(digest)
    path.chmod(0o644)  # blobs are read-only
    path.write_bytes(data)


def _names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("", "empty"),
        (".", "folder itself"),
        ("..", "outside"),
        ("a/b", "separator"),
        ("a\\b", "backslash"),
        ("a\x00b", "control character"),
        ("a\nb", "control character"),
        ("C:", "drive letter"),
        ("c:model.bin", "drive letter"),
    ],
)
def test_names_that_are_not_one_plain_name_are_refused(name: str, why: str) -> None:
    problem = name_problem(name)
    assert problem is not None and why in problem


@pytest.mark.parametrize("name", ["model.bin", ".hidden", "a b", "naïve", "ab:c", "...", "a..b"])
def test_plain_names_pass(name: str) -> None:
    assert name_problem(name) is None


@pytest.mark.parametrize("size", [0, 7, DIRECT_COPY_THRESHOLD + 4097])
def test_a_blob_is_written_whole(store: BlobStore, tmp_path: Path, size: int) -> None:
    data = os.urandom(size)
    digest = store.put(data)
    out = export_blob(store, digest, tmp_path / "out" / "deep", "model.bin")
    assert out == tmp_path / "out" / "deep" / "model.bin"
    assert out.read_bytes() == data
    assert _names(out.parent) == ["model.bin"]


@pytest.mark.parametrize("size", [7, DIRECT_COPY_THRESHOLD + 4097])
def test_corrupt_bytes_raise_and_leave_nothing(store: BlobStore, tmp_path: Path, size: int) -> None:
    data = os.urandom(size)
    digest = store.put(data)
    corrupt(store, digest, data[:-1] + bytes([data[-1] ^ 1]))
    folder = tmp_path / "out"
    with pytest.raises(IntegrityError, match=r"artifact 'm' \(42\).*corrupt") as raised:
        export_blob(store, digest, folder, "m.bin", what="artifact 'm' (42)")
    assert digest in str(raised.value)
    assert "nothing was written" in str(raised.value)
    assert _names(folder) == []  # no file, no temporary file


def test_corrupt_bytes_leave_a_file_being_replaced_untouched(
    store: BlobStore, tmp_path: Path
) -> None:
    digest = store.put(b"good")
    corrupt(store, digest, b"evil")
    (tmp_path / "m.bin").write_bytes(b"original")
    with pytest.raises(IntegrityError):
        export_blob(store, digest, tmp_path, "m.bin", overwrite=True)
    assert (tmp_path / "m.bin").read_bytes() == b"original"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(TEMP_PREFIX)]


def test_an_existing_file_is_kept_unless_overwrite(store: BlobStore, tmp_path: Path) -> None:
    digest = store.put(b"new")
    (tmp_path / "m.bin").write_bytes(b"old")
    with pytest.raises(ValidationError, match="exists; not overwriting"):
        export_blob(store, digest, tmp_path, "m.bin")
    assert (tmp_path / "m.bin").read_bytes() == b"old"
    export_blob(store, digest, tmp_path, "m.bin", overwrite=True)
    assert (tmp_path / "m.bin").read_bytes() == b"new"
    assert _names(tmp_path) == ["m.bin", *(["objects"] if (tmp_path / "objects").exists() else [])]


@pytest.mark.parametrize("overwrite", [False, True])
def test_a_link_at_the_destination_is_never_followed(
    store: BlobStore, tmp_path: Path, overwrite: bool
) -> None:
    digest = store.put(b"payload")
    victim = tmp_path / "victim.txt"
    victim.write_bytes(b"original")
    folder = tmp_path / "out"
    folder.mkdir()
    (folder / "m.bin").symlink_to(victim)
    with pytest.raises(ValidationError, match="symbolic link"):
        export_blob(store, digest, folder, "m.bin", overwrite=overwrite)
    assert victim.read_bytes() == b"original"


def test_a_linked_folder_is_refused(store: BlobStore, tmp_path: Path) -> None:
    digest = store.put(b"payload")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "out").symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(ValidationError, match="symbolic link"):
        export_blob(store, digest, tmp_path / "out", "m.bin")
    assert list(elsewhere.iterdir()) == []


@pytest.mark.parametrize("name", ["..", ".", "", "a\x00b", "C:x"])
def test_a_file_name_that_leads_elsewhere_is_refused(
    store: BlobStore, tmp_path: Path, name: str
) -> None:
    digest = store.put(b"payload")
    folder = tmp_path / "out"
    with pytest.raises(ValidationError, match="cannot write"):
        export_blob(store, digest, folder, name)
    assert not folder.exists() or list(folder.iterdir()) == []


def test_a_folder_in_the_way_is_refused(store: BlobStore, tmp_path: Path) -> None:
    digest = store.put(b"payload")
    (tmp_path / "m.bin").mkdir()
    with pytest.raises(ValidationError, match="is a folder"):
        export_blob(store, digest, tmp_path, "m.bin", overwrite=True)


def test_the_digest_is_checked_without_verify_on_read(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "objects", verify_on_read=False)
    digest = store.put(b"good bytes")
    corrupt(store, digest, b"bad bytes!")
    with pytest.raises(IntegrityError, match=digest_bytes(b"bad bytes!")):
        export_blob(store, digest, tmp_path / "out", "m.bin")
