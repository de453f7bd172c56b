"""Uploading blobs to a real ``labledger server``: a client that goes away mid-upload leaves
nothing, the upload limit is the server's option, and with an S3 store large blobs go straight to
the bucket through presigned URLs, checked by the server before they become visible."""

from __future__ import annotations

import os
import socket
import time
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from labledger._foundation.digests import digest_bytes
from labledger._foundation.errors import ValidationError
from labledger._foundation.settings import server_settings
from labledger.workspace.fsspec_store import FsspecBlobStore
from labledger.workspace.http.blobs import HttpBlobStore
from labledger.workspace.http.workspace import RemoteWorkspace
from labledger.workspace.s3_staging import S3Staging
from labledger.workspace.workspace import Workspace
from tests.conftest import subprocess_env
from tests.integration.server_processes import start_server

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from tests.integration.conftest import S3Server
    from tests.integration.server_processes import ServerProcess

pytestmark = pytest.mark.integration

pytest.importorskip("uvicorn")


@pytest.fixture
def folder_server(tmp_path: Path) -> Iterator[tuple[ServerProcess, Workspace]]:
    """A server over a workspace folder, with a 4 MiB upload limit."""
    served = Workspace.init(tmp_path / "ws")
    server = start_server("-w", str(tmp_path / "ws"), "--max-upload-mb", "4")
    try:
        server.wait_until_up()
        yield server, served
    finally:
        server.stop()
        served.close()


def _staging(served: Workspace) -> list[str]:
    return os.listdir(served.store.root / "tmp")  # type: ignore[attr-defined]


def _wait_for(condition: Any, timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return bool(condition())


def test_a_client_that_goes_away_mid_upload_leaves_nothing(
    folder_server: tuple[ServerProcess, Workspace],
) -> None:
    server, served = folder_server
    data = os.urandom(3 * 1024 * 1024)
    digest = digest_bytes(data)
    with socket.create_connection(("127.0.0.1", server.port)) as raw:
        raw.sendall(
            (
                f"PUT /api/v1/blobs/{digest} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
                f"Content-Type: application/octet-stream\r\nContent-Length: {len(data)}\r\n\r\n"
            ).encode()
        )
        raw.sendall(data[: len(data) // 2])
        # The server is writing its temporary copy...
        assert _wait_for(lambda: _staging(served) != [])
    # ...and drops it once it sees the connection close.
    assert _wait_for(lambda: _staging(served) == [])
    assert not served.store.exists(digest)
    # The server is fine, and takes the whole blob afterwards.
    whole = httpx.put(f"{server.base}/api/v1/blobs/{digest}", content=data, timeout=30)
    assert whole.status_code == 201
    assert served.store.exists(digest)


def test_the_upload_limit_is_the_servers_option_and_not_the_json_limit(
    folder_server: tuple[ServerProcess, Workspace],
) -> None:
    server, served = folder_server
    big = os.urandom(5 * 1024 * 1024)
    refused = httpx.put(f"{server.base}/api/v1/blobs/{digest_bytes(big)}", content=big)
    assert refused.status_code == 413
    assert set(refused.json()) == {"code", "message", "hint"}
    assert refused.json()["code"] == "too_large"
    assert not served.store.exists(digest_bytes(big))
    # Over nothing but the limit: 3 MiB passes a 4 MiB upload limit (the JSON limit is 16 MiB).
    fine = os.urandom(3 * 1024 * 1024)
    assert httpx.put(f"{server.base}/api/v1/blobs/{digest_bytes(fine)}", content=fine).is_success
    assert _staging(served) == []


def test_mismatched_bytes_and_reuploads_through_a_real_server(
    folder_server: tuple[ServerProcess, Workspace], tmp_path: Path
) -> None:
    server, served = folder_server
    remote = RemoteWorkspace(server_settings(server.base))
    try:
        path = tmp_path / "measurements.bin"
        path.write_bytes(os.urandom(2 * 1024 * 1024))
        digest = remote.store.put_file(path)
        assert served.store.exists(digest)
        assert remote.store.put_file(path) == digest  # asked first, not sent again
        wrong = digest_bytes(b"other")
        with pytest.raises(ValidationError, match="nothing was stored"):
            remote.client.upload(f"/api/v1/blobs/{wrong}", lambda: iter([b"bytes"]), 5, dict)
        assert not served.store.exists(wrong)
    finally:
        remote.close()


# -- direct uploads to S3 ---------------------------------------------------------------------


@pytest.fixture
def s3_served(
    team_env: str, s3_server: S3Server, s3_bucket_url: str
) -> Iterator[tuple[ServerProcess, FsspecBlobStore]]:
    """A server over PostgreSQL and an S3 bucket (single-user, on loopback), and the bucket."""
    env = subprocess_env(
        AWS_ACCESS_KEY_ID=s3_server.access_key, AWS_SECRET_ACCESS_KEY=s3_server.secret_key
    )
    server = start_server(
        "--catalog",
        team_env,
        "--store",
        s3_bucket_url,
        "--s3-endpoint-url",
        s3_server.endpoint_url,
        "--max-upload-mb",
        "64",
        env=env,
    )
    bucket = FsspecBlobStore(s3_bucket_url, storage_options=s3_server.storage_options)
    try:
        server.wait_until_up()
        yield server, bucket
    finally:
        server.stop()


def _staged(bucket: FsspecBlobStore) -> list[str]:
    from labledger.workspace.s3_staging import STAGING_FOLDER

    fs: Any = bucket._fs
    folder = f"{bucket._root}/{STAGING_FOLDER}"
    fs.invalidate_cache(folder)
    try:
        found = fs.find(folder)
    except FileNotFoundError:
        return []
    # The S3 server may list the folder itself as an entry: only staged objects count.
    return [path for path in found if len(path.rsplit("/", 1)[-1]) == 32]


def test_a_large_blob_goes_straight_to_the_bucket(
    s3_served: tuple[ServerProcess, FsspecBlobStore], tmp_path: Path
) -> None:
    server, bucket = s3_served
    remote = RemoteWorkspace(server_settings(server.base))
    try:
        store = HttpBlobStore(remote.client, direct_upload_bytes=1024 * 1024)
        sent: list[tuple[str, str]] = []
        remote.client._http.event_hooks["request"].append(
            lambda request: sent.append((request.method, request.url.path))
        )
        path = tmp_path / "large.bin"
        data = os.urandom(3 * 1024 * 1024 + 5)
        path.write_bytes(data)
        digest = store.put_file(path)
        assert digest == digest_bytes(data)
        assert bucket.exists(digest) and bucket.size(digest) == len(data)
        with store.open(digest) as handle:
            assert handle.read() == data
        assert _staged(bucket) == []
        # The bytes went to the bucket, not through the server.
        assert ("PUT", f"/api/v1/blobs/{digest}") not in sent
        assert [m for m, p in sent if p.endswith("/complete")] == ["POST"]
        # Small blobs still go through the server (in a batched upload).
        small = store.put(b"small")
        assert bucket.exists(small) and sent[-1] == ("POST", "/api/v1/blobs/batch")
    finally:
        remote.close()


def test_a_tampered_staged_object_is_refused_and_removed(
    s3_served: tuple[ServerProcess, FsspecBlobStore],
) -> None:
    server, bucket = s3_served
    meant = os.urandom(1024 * 1024)
    digest = digest_bytes(meant)
    claim = {"digest": digest, "size": len(meant)}
    uploads = f"{server.base}/api/v1/blobs/uploads"
    offer = httpx.post(uploads, json=claim).json()
    assert offer["direct"] is True and f"/{digest[7:]}" not in offer["url"]
    tampered = bytearray(meant)
    tampered[1000] ^= 0xFF
    assert httpx.put(offer["url"], content=bytes(tampered)).is_success
    assert len(_staged(bucket)) == 1
    refused = httpx.post(f"{uploads}/{offer['upload_id']}/complete", json=claim)
    assert refused.status_code == 400
    assert "nothing was stored" in refused.json()["message"]
    assert not bucket.exists(digest)
    assert _staged(bucket) == []
    # A size other than the one claimed is refused as well, before any hashing.
    offer = httpx.post(uploads, json=claim).json()
    assert httpx.put(offer["url"], content=meant[:-1]).is_success
    short = httpx.post(f"{uploads}/{offer['upload_id']}/complete", json=claim)
    assert short.status_code == 400 and "not the" in short.json()["message"]
    assert not bucket.exists(digest) and _staged(bucket) == []
    # The honest bytes are taken; completing again (a retry) answers without storing twice.
    offer = httpx.post(uploads, json=claim).json()
    assert httpx.put(offer["url"], content=meant).is_success
    done = httpx.post(f"{uploads}/{offer['upload_id']}/complete", json=claim)
    assert done.status_code == 200 and done.json()["stored"] is True
    again = httpx.post(f"{uploads}/{offer['upload_id']}/complete", json=claim)
    assert again.status_code == 200 and again.json()["stored"] is False
    assert bucket.exists(digest)
    never = httpx.post(f"{uploads}/{'f' * 32}/complete", json=claim)
    assert never.status_code in (200, 404)
    # A staged object nobody completes is removed by the clean-up.
    offer = httpx.post(uploads, json=claim).json()
    assert httpx.put(offer["url"], content=meant).is_success
    assert len(_staged(bucket)) == 1
    assert S3Staging(bucket).clean(older_than_s=0) == 1
    assert _staged(bucket) == []
    unknown = httpx.post(
        f"{uploads}/{'e' * 32}/complete", json={**claim, "digest": digest_bytes(b"n")}
    )
    assert unknown.status_code == 404
