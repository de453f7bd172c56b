"""The behaviour every ``BlobStore`` must have.

Subclass ``BlobStoreConformance`` in a ``Test*`` class and give it a ``store`` fixture that returns
an empty store; every test below then runs against that implementation.
"""

from __future__ import annotations

import io
import random
from typing import TYPE_CHECKING

import pytest

from labledger._foundation.digests import digest_bytes, digest_file
from labledger._foundation.errors import NotFoundError, ValidationError
from labledger.workspace.blobstore import BlobStore, exists_many

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["BlobStoreConformance", "read_all"]

# Above the size at which digest_file switches to mmap and threads.
LARGE_SIZE = 5 * 1024 * 1024 + 123

INVALID_DIGESTS = [
    "",
    "nope",
    "blake3:",
    "blake3:" + "g" * 64,
    "blake3:" + "A" * 64,
    "blake3:" + "a" * 63,
    "sha256:" + "a" * 64,
    "../../etc/passwd",
]


def read_all(store: BlobStore, digest: str) -> bytes:
    """The blob's bytes, read through ``open`` and closed afterwards."""
    with store.open(digest) as handle:
        return handle.read()


def some_bytes(size: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(size)


class BlobStoreConformance:
    """Tests of the ``BlobStore`` contract; needs a ``store`` fixture."""

    @pytest.fixture
    def store(self) -> BlobStore:
        raise NotImplementedError("a conformance subclass must define the `store` fixture")

    def test_satisfies_protocol(self, store: BlobStore) -> None:
        assert isinstance(store, BlobStore)
        assert isinstance(store.url, str)

    @pytest.mark.parametrize("kind", [bytes, bytearray, memoryview])
    def test_put_bytes_returns_digest(self, store: BlobStore, kind: type) -> None:
        data = b"hello blobs"
        assert store.put(kind(data)) == digest_bytes(data)

    def test_put_stream_returns_digest(self, store: BlobStore) -> None:
        data = some_bytes(3000)
        assert store.put(io.BytesIO(data)) == digest_bytes(data)

    def test_put_file_returns_digest(self, store: BlobStore, tmp_path: Path) -> None:
        data = some_bytes(3000, seed=1)
        source = tmp_path / "source.bin"
        source.write_bytes(data)
        assert store.put_file(source) == digest_bytes(data)
        assert store.put_file(str(source)) == digest_bytes(data)

    def test_round_trip(self, store: BlobStore, tmp_path: Path) -> None:
        by_bytes = b"by bytes"
        by_stream = b"by stream"
        source = tmp_path / "by-file.bin"
        source.write_bytes(b"by file")
        assert read_all(store, store.put(by_bytes)) == by_bytes
        assert read_all(store, store.put(io.BytesIO(by_stream))) == by_stream
        assert read_all(store, store.put_file(source)) == b"by file"

    def test_open_reads_in_chunks(self, store: BlobStore) -> None:
        data = some_bytes(10_000, seed=2)
        digest = store.put(data)
        with store.open(digest) as handle:
            parts = []
            while chunk := handle.read(777):
                parts.append(chunk)
        assert b"".join(parts) == data

    def test_put_twice_stores_one_blob(self, store: BlobStore, tmp_path: Path) -> None:
        data = b"same bytes"
        source = tmp_path / "same.bin"
        source.write_bytes(data)
        first = store.put(data)
        assert store.put(io.BytesIO(data)) == first
        assert store.put_file(source) == first
        assert list(store.digests()) == [first]
        assert read_all(store, first) == data

    def test_exists_size_delete(self, store: BlobStore) -> None:
        data = b"x" * 1234
        digest = store.put(data)
        assert store.exists(digest)
        assert store.size(digest) == 1234
        store.delete(digest)
        assert not store.exists(digest)
        assert list(store.digests()) == []
        with pytest.raises(NotFoundError):
            store.size(digest)
        with pytest.raises(NotFoundError):
            store.open(digest)

    def test_exists_many_answers_for_each_digest(self, store: BlobStore) -> None:
        present = [store.put(f"blob {i}".encode()) for i in range(20)]
        absent = [digest_bytes(f"never stored {i}".encode()) for i in range(5)]
        asked = [*absent[:2], *present, *absent[2:], present[0]]
        answers = exists_many(store, asked)
        assert list(answers) == list(dict.fromkeys(asked))
        assert answers == {**dict.fromkeys(present, True), **dict.fromkeys(absent, False)}
        assert exists_many(store, []) == {}

    def test_put_after_delete_restores(self, store: BlobStore) -> None:
        digest = store.put(b"again")
        store.delete(digest)
        assert store.put(b"again") == digest
        assert store.exists(digest)
        assert read_all(store, digest) == b"again"

    def test_delete_absent_is_noop(self, store: BlobStore) -> None:
        kept = store.put(b"kept")
        store.delete(digest_bytes(b"never stored"))
        assert list(store.digests()) == [kept]

    def test_missing_blob_raises_not_found(self, store: BlobStore) -> None:
        missing = digest_bytes(b"never stored")
        assert not store.exists(missing)
        with pytest.raises(NotFoundError, match=missing):
            store.open(missing)
        with pytest.raises(NotFoundError, match=missing):
            store.size(missing)

    def test_digests_lists_what_was_put(self, store: BlobStore) -> None:
        assert list(store.digests()) == []
        blobs = [f"blob {number}".encode() for number in range(12)]
        expected = {store.put(blob) for blob in blobs}
        assert expected == {digest_bytes(blob) for blob in blobs}
        listed = list(store.digests())
        assert sorted(listed) == sorted(expected)

    @pytest.mark.parametrize("bad", INVALID_DIGESTS)
    def test_invalid_digest_raises_validation_error(self, store: BlobStore, bad: str) -> None:
        with pytest.raises(ValidationError):
            store.open(bad)
        with pytest.raises(ValidationError):
            store.exists(bad)
        with pytest.raises(ValidationError):
            store.size(bad)
        with pytest.raises(ValidationError):
            store.delete(bad)

    def test_large_file_round_trip(self, store: BlobStore, tmp_path: Path) -> None:
        data = some_bytes(LARGE_SIZE, seed=3)
        source = tmp_path / "large.bin"
        source.write_bytes(data)
        digest = store.put_file(source)
        assert digest == digest_bytes(data) == digest_file(source)
        assert store.size(digest) == LARGE_SIZE
        assert read_all(store, digest) == data
        assert store.put(io.BytesIO(data)) == digest
        assert list(store.digests()) == [digest]

    def test_empty_blob(self, store: BlobStore, tmp_path: Path) -> None:
        empty = tmp_path / "empty.bin"
        empty.write_bytes(b"")
        digest = store.put(b"")
        assert digest == digest_bytes(b"")
        assert store.put(io.BytesIO()) == digest
        assert store.put_file(empty) == digest
        assert store.exists(digest)
        assert store.size(digest) == 0
        assert read_all(store, digest) == b""
        assert list(store.digests()) == [digest]
