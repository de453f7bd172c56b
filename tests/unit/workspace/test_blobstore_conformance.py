"""Every in-process blob store against the conformance suite, plus what only some promise."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import fsspec
import pytest

from labledger._foundation.digests import digest_bytes
from labledger._foundation.errors import ConfigurationError, IntegrityError
from labledger.workspace import local_store
from labledger.workspace.fsspec_store import FsspecBlobStore
from labledger.workspace.local_store import LocalBlobStore
from labledger.workspace.memory_store import MemoryBlobStore
from tests.conftest import subprocess_env
from tests.unit.workspace.blobstore_conformance import BlobStoreConformance, read_all, some_bytes

if TYPE_CHECKING:
    from collections.abc import Iterator

    from labledger.workspace.blobstore import BlobStore


@pytest.fixture
def memory_fs_url() -> Iterator[str]:
    """A unique prefix on fsspec's process-wide memory filesystem, emptied afterwards."""
    root = f"/labledger-test-{uuid.uuid4().hex}"
    yield f"memory://{root}/blobs"
    memory = fsspec.filesystem("memory")
    if memory.exists(root):
        memory.rm(root, recursive=True)


class TestBlobStoreConformance(BlobStoreConformance):
    @pytest.fixture(
        params=["local", "local-copy", "local-hardlink", "memory", "fsspec-memory", "fsspec-file"]
    )
    def store(self, request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
        kind: str = request.param
        if kind == "local":
            return LocalBlobStore(tmp_path / "objects", fsync=False)
        if kind == "local-copy":
            return LocalBlobStore(tmp_path / "objects", link="copy")
        if kind == "local-hardlink":
            return LocalBlobStore(tmp_path / "objects", link="hardlink")
        if kind == "memory":
            return MemoryBlobStore()
        if kind == "fsspec-memory":
            return FsspecBlobStore(request.getfixturevalue("memory_fs_url"))
        return FsspecBlobStore(f"file://{tmp_path / 'fsspec-objects'}")


class TestLocalBlobStore:
    """What the local store promises beyond the protocol."""

    @pytest.fixture
    def store(self, tmp_path: Path) -> LocalBlobStore:
        return LocalBlobStore(tmp_path / "objects")

    def test_blobs_are_read_only(self, store: LocalBlobStore) -> None:
        path = store.path_of(store.put(b"frozen"))
        assert stat.S_IMODE(path.stat().st_mode) & 0o222 == 0

    def test_one_level_fan_out(self, store: LocalBlobStore) -> None:
        digest = store.put(b"fan out")
        hex_ = digest.removeprefix("blake3:")
        path = store.path_of(digest)
        assert path.relative_to(store.root) == Path(hex_[:2], hex_)
        assert path.is_file()

    def test_flipped_byte_detected_by_verify_on_read(self, tmp_path: Path) -> None:
        data = some_bytes(50_000, seed=4)
        store = LocalBlobStore(tmp_path / "objects", verify_on_read=True)
        digest = store.put(data)
        path = store.path_of(digest)
        path.chmod(0o644)
        damaged = bytearray(data)
        damaged[12_345] ^= 0x01
        path.write_bytes(bytes(damaged))
        with pytest.raises(IntegrityError, match=digest):
            read_all(store, digest)
        # Without verification the damage goes unnoticed, which is why the option exists.
        assert read_all(LocalBlobStore(tmp_path / "objects"), digest) == bytes(damaged)

    def test_failing_rename_leaves_no_blob(
        self, store: LocalBlobStore, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        def failing_replace(src: Any, dst: Any) -> None:
            raise OSError(5, "Input/output error")

        monkeypatch.setattr(os, "replace", failing_replace)
        with pytest.raises(OSError, match="Input/output error"):
            store.put(b"never lands")
        monkeypatch.undo()
        assert not store.exists(digest_bytes(b"never lands"))
        assert list(store.digests()) == []
        assert list((store.root / "tmp").iterdir()) == []

    def test_killed_writer_leaves_no_blob_and_clean_temp_removes_leftovers(
        self, store: LocalBlobStore
    ) -> None:
        script = textwrap.dedent(
            """
            import os, sys
            from labledger.workspace.local_store import LocalBlobStore

            class DiesMidway:
                calls = 0

                def read(self, size=-1):
                    self.calls += 1
                    if self.calls > 1:
                        os._exit(3)
                    return b"partial" * 1000

            LocalBlobStore(sys.argv[1]).put(DiesMidway())
            """
        )
        environment = subprocess_env()
        finished = subprocess.run(
            [sys.executable, "-c", script, str(store.root)],
            env=environment,
            check=False,
            capture_output=True,
        )
        assert finished.returncode == 3, finished.stderr
        assert list(store.digests()) == []
        assert not store.exists(digest_bytes(b"partial" * 1000))
        assert store.clean_temp() == 1
        assert list((store.root / "tmp").iterdir()) == []
        assert store.clean_temp() == 0

    def test_put_file_of_a_file_changed_during_copy(
        self, store: LocalBlobStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        source = tmp_path / "growing.log"
        source.write_bytes(b"first line\n")
        real_copy = local_store.hash_and_copy

        def copy_then_append(*args: Any, **kwargs: Any) -> tuple[str, bool]:
            copied = real_copy(*args, **kwargs)
            with source.open("ab") as writer:
                writer.write(b"second line\n")
            return copied

        monkeypatch.setattr(local_store, "hash_and_copy", copy_then_append)
        with pytest.raises(IntegrityError, match="changed while it was being stored"):
            store.put_file(source)
        assert list(store.digests()) == []
        assert list((store.root / "tmp").iterdir()) == []


class TestFsspecBlobStore:
    """What the fsspec store promises beyond the protocol, on fsspec's memory filesystem."""

    def test_import_does_not_load_s3_packages(self) -> None:
        probe = (
            "import sys, labledger.workspace.fsspec_store; "
            "print(sorted(m for m in ('s3fs', 'aiobotocore', 'botocore', 'boto3') "
            "if m in sys.modules))"
        )
        environment = subprocess_env()
        finished = subprocess.run(
            [sys.executable, "-c", probe], env=environment, check=True, capture_output=True
        )
        assert finished.stdout.decode().strip() == "[]"

    def test_key_layout_matches_local_store(self, memory_fs_url: str) -> None:
        store = FsspecBlobStore(memory_fs_url + "/")
        digest = store.put(b"layout")
        hex_ = digest.removeprefix("blake3:")
        assert store.url == memory_fs_url
        assert store.path_of(digest).endswith(f"/blobs/{hex_[:2]}/{hex_}")
        assert fsspec.filesystem("memory").cat_file(store.path_of(digest)) == b"layout"

    def test_ignores_foreign_objects_when_listing(self, memory_fs_url: str) -> None:
        store = FsspecBlobStore(memory_fs_url)
        digest = store.put(b"mine")
        memory = fsspec.filesystem("memory")
        root = store.path_of(digest).rsplit("/", 3)[0]
        memory.pipe_file(f"{root}/README", b"not a blob")
        memory.pipe_file(f"{root}/zz/{'0' * 64}", b"wrong fan-out")
        assert list(store.digests()) == [digest]

    def test_flipped_byte_detected_by_verify_on_read(self, memory_fs_url: str) -> None:
        data = some_bytes(20_000, seed=5)
        store = FsspecBlobStore(memory_fs_url, verify_on_read=True)
        digest = store.put(data)
        damaged = bytearray(data)
        damaged[777] ^= 0x80
        fsspec.filesystem("memory").pipe_file(store.path_of(digest), bytes(damaged))
        with pytest.raises(IntegrityError, match=digest):
            read_all(store, digest)

    def test_put_file_of_a_file_changed_during_upload(
        self, memory_fs_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        store = FsspecBlobStore(memory_fs_url)
        source = tmp_path / "growing.log"
        source.write_bytes(b"first line\n")
        filesystem = fsspec.filesystem("memory")
        real_put_file = filesystem.put_file

        def append_then_upload(lpath: str, rpath: str, **kwargs: Any) -> None:
            with source.open("ab") as writer:
                writer.write(b"second line\n")
            real_put_file(lpath, rpath, **kwargs)

        monkeypatch.setattr(filesystem, "put_file", append_then_upload)
        with pytest.raises(IntegrityError, match="changed while it was being stored"):
            store.put_file(source)
        monkeypatch.undo()
        assert list(store.digests()) == []

    def test_unknown_scheme_is_a_configuration_error(self) -> None:
        with pytest.raises(ConfigurationError, match="nosuchscheme"):
            FsspecBlobStore("nosuchscheme://bucket/prefix")
