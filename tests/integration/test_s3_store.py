"""The fsspec blob store against a real S3 server (SeaweedFS)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from labledger._foundation.digests import digest_bytes
from labledger._foundation.errors import IntegrityError, NotFoundError
from labledger.workspace.fsspec_store import FsspecBlobStore
from tests.unit.workspace.blobstore_conformance import BlobStoreConformance, read_all, some_bytes

if TYPE_CHECKING:
    from pathlib import Path

    from tests.integration.conftest import S3Server

pytestmark = pytest.mark.integration

MULTI_MIB = 13 * 1024 * 1024 + 7


class TestS3BlobStore(BlobStoreConformance):
    @pytest.fixture
    def store(self, s3_bucket_url: str, s3_storage_options: dict[str, Any]) -> FsspecBlobStore:
        return FsspecBlobStore(s3_bucket_url, storage_options=s3_storage_options)


def test_multi_mib_file_round_trip(
    s3_bucket_url: str, s3_storage_options: dict[str, Any], tmp_path: Path
) -> None:
    store = FsspecBlobStore(s3_bucket_url, storage_options=s3_storage_options)
    data = some_bytes(MULTI_MIB, seed=10)
    source = tmp_path / "large.bin"
    source.write_bytes(data)
    digest = store.put_file(source)
    assert digest == digest_bytes(data)
    assert store.size(digest) == MULTI_MIB
    verifying = FsspecBlobStore(
        s3_bucket_url, storage_options=s3_storage_options, verify_on_read=True
    )
    assert read_all(verifying, digest) == data


def test_two_stores_on_one_bucket_see_each_other(
    s3_bucket_url: str, s3_storage_options: dict[str, Any]
) -> None:
    writer = FsspecBlobStore(s3_bucket_url, storage_options=s3_storage_options)
    # A separate filesystem instance, as another process would have.
    reader = FsspecBlobStore(
        s3_bucket_url, storage_options={**s3_storage_options, "skip_instance_cache": True}
    )
    assert list(reader.digests()) == []
    digest = writer.put(b"shared")
    assert reader.exists(digest)
    assert read_all(reader, digest) == b"shared"
    assert list(reader.digests()) == [digest]
    other = reader.put(b"written by the reader")
    assert sorted(writer.digests()) == sorted([digest, other])
    reader.delete(digest)
    assert not writer.exists(digest)
    with pytest.raises(NotFoundError):
        writer.open(digest)


def test_flipped_byte_detected_by_verify_on_read(
    s3_server: S3Server, s3_bucket_url: str, s3_storage_options: dict[str, Any]
) -> None:
    store = FsspecBlobStore(s3_bucket_url, storage_options=s3_storage_options, verify_on_read=True)
    data = some_bytes(100_000, seed=11)
    digest = store.put(data)
    damaged = bytearray(data)
    damaged[50_000] ^= 0x10
    s3_server.filesystem().pipe_file(store.path_of(digest), bytes(damaged))
    with pytest.raises(IntegrityError, match=digest):
        read_all(store, digest)


def test_missing_bucket_is_a_clear_error(
    s3_server: S3Server, s3_storage_options: dict[str, Any]
) -> None:
    store = FsspecBlobStore(
        "s3://labledger-no-such-bucket/blobs", storage_options=s3_storage_options
    )
    with pytest.raises(NotFoundError, match="bucket"):
        store.put(b"nowhere to go")
    assert not store.exists(digest_bytes(b"nowhere to go"))
