"""Uploading blobs to a server: checked digests, limits, roles, idempotence, the client side."""

from __future__ import annotations

import io
import os
from typing import TYPE_CHECKING, Any

import pytest

from labledger._foundation.digests import digest_bytes
from labledger._foundation.errors import ConfigurationError, IntegrityError
from labledger._foundation.settings import server_settings
from labledger.identity import IdentityService, Role, local_user
from labledger.server import create_app
from labledger.workspace.http.workspace import RemoteWorkspace
from tests.unit.server.app_transport import AppTransport

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

    from fastapi.testclient import TestClient

    from labledger.workspace.workspace import Workspace

BLOBS = "/api/v1/blobs"


@pytest.fixture
def app(workspace: Workspace) -> Any:
    # A JSON body limit far below the blobs sent: uploads have their own limit.
    return create_app(workspace, auth_required=True, body_limit=4096, upload_limit=5_000_000)


@pytest.fixture
def roles(workspace: Workspace, team: dict[str, str]) -> dict[str, str]:
    """The team, with vera a viewer and ed an editor of the workspace's default project."""
    service = IdentityService(workspace.stores.identity)
    service.grant("default", "vera", Role.VIEWER, actor=local_user("root"))
    service.grant("default", "ed", Role.EDITOR, actor=local_user("root"))
    return team


def _headers(roles: dict[str, str], name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {roles[name]}"}


def _staging_leftovers(workspace: Workspace) -> list[str]:
    return os.listdir(workspace.store.root / "tmp")  # type: ignore[attr-defined]


def test_an_upload_is_stored_once_and_reads_back(
    client: TestClient, roles: dict[str, str], workspace: Workspace
) -> None:
    data = os.urandom(3_000_000)
    digest = digest_bytes(data)
    made = client.put(f"{BLOBS}/{digest}", content=data, headers=_headers(roles, "ed"))
    assert made.status_code == 201
    assert made.json() == {"digest": digest, "size": len(data), "stored": True}
    with workspace.store.open(digest) as handle:
        assert handle.read() == data
    before = os.stat(workspace.store.path_of(digest)).st_ino  # type: ignore[attr-defined]
    again = client.put(f"{BLOBS}/{digest}", content=data, headers=_headers(roles, "ed"))
    assert again.status_code == 200 and again.json()["stored"] is False
    assert os.stat(workspace.store.path_of(digest)).st_ino == before  # type: ignore[attr-defined]
    assert client.get(f"{BLOBS}/{digest}", headers=_headers(roles, "vera")).content == data
    assert _staging_leftovers(workspace) == []


def test_bytes_that_do_not_match_their_digest_leave_nothing(
    client: TestClient, roles: dict[str, str], workspace: Workspace
) -> None:
    claimed = digest_bytes(b"what the client meant to send")
    sent = b"something else" * 100_000
    answer = client.put(f"{BLOBS}/{claimed}", content=sent, headers=_headers(roles, "ed"))
    assert answer.status_code == 400
    body = answer.json()
    assert body["code"] == "validation" and "nothing was stored" in body["message"]
    assert digest_bytes(sent) in body["message"]
    assert not workspace.store.exists(claimed)
    assert not workspace.store.exists(digest_bytes(sent))
    assert list(workspace.store.digests()) == []
    assert _staging_leftovers(workspace) == []


@pytest.mark.parametrize(
    "digest", ["blake3:..%2F..%2Fetc", "blake3:" + "A" * 64, "sha256:" + "0" * 64]
)
def test_a_malformed_digest_is_refused(
    client: TestClient, roles: dict[str, str], workspace: Workspace, digest: str
) -> None:
    answer = client.put(f"{BLOBS}/{digest}", content=b"x", headers=_headers(roles, "ed"))
    assert answer.status_code in (400, 404)
    assert set(answer.json()) == {"code", "message", "hint"}
    assert list(workspace.store.digests()) == []


def test_uploads_over_the_upload_limit_get_413_declared_or_streamed(
    client: TestClient, roles: dict[str, str], workspace: Workspace
) -> None:
    data = b"z" * 6_000_000
    digest = digest_bytes(data)
    declared = client.put(f"{BLOBS}/{digest}", content=data, headers=_headers(roles, "ed"))
    assert declared.status_code == 413
    assert declared.json()["code"] == "too_large"
    assert "--max-upload-mb" in declared.json()["hint"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it streams in
        for _ in range(6):
            yield b"z" * 1_000_000

    streamed = client.put(f"{BLOBS}/{digest}", content=chunks(), headers=_headers(roles, "ed"))
    assert streamed.status_code == 413
    assert set(streamed.json()) == {"code", "message", "hint"}
    assert not workspace.store.exists(digest)
    assert _staging_leftovers(workspace) == []


def test_viewers_cannot_upload_and_outsiders_see_nothing(
    client: TestClient, roles: dict[str, str], workspace: Workspace
) -> None:
    digest = digest_bytes(b"data")
    denied = client.put(f"{BLOBS}/{digest}", content=b"data", headers=_headers(roles, "vera"))
    assert denied.status_code == 403 and denied.json()["code"] == "permission_denied"
    hidden = client.put(f"{BLOBS}/{digest}", content=b"data", headers=_headers(roles, "otto"))
    assert hidden.status_code == 404
    anonymous = client.put(f"{BLOBS}/{digest}", content=b"data")
    assert anonymous.status_code == 401
    assert not workspace.store.exists(digest)


def test_direct_uploads_are_declined_by_a_store_that_is_not_s3(
    client: TestClient, roles: dict[str, str]
) -> None:
    claim = {"digest": digest_bytes(b"x"), "size": 1}
    offer = client.post(f"{BLOBS}/uploads", json=claim, headers=_headers(roles, "ed"))
    assert offer.status_code == 200
    assert offer.json()["direct"] is False and "not S3" in offer.json()["reason"]
    too_big = {"digest": digest_bytes(b"x"), "size": 10**12}
    refused = client.post(f"{BLOBS}/uploads", json=too_big, headers=_headers(roles, "ed"))
    assert refused.status_code == 413
    done = client.post(
        f"{BLOBS}/uploads/{'0' * 32}/complete", json=claim, headers=_headers(roles, "ed")
    )
    assert done.status_code == 400 and "not S3" in done.json()["message"]
    viewer = client.post(f"{BLOBS}/uploads", json=claim, headers=_headers(roles, "vera"))
    assert viewer.status_code == 403


@pytest.fixture
def open_as(app: Any, roles: dict[str, str]) -> Iterator[Callable[[str], RemoteWorkspace]]:
    transport = AppTransport(app)
    opened: list[RemoteWorkspace] = []

    def make(name: str) -> RemoteWorkspace:
        remote = RemoteWorkspace(
            server_settings("http://server.test"), transport=transport, token=roles[name]
        )
        remote.transport = transport  # type: ignore[attr-defined]
        opened.append(remote)
        return remote

    yield make
    for remote in opened:
        remote.close()


def test_the_http_blob_store_writes_through_the_server(
    open_as: Callable[[str], RemoteWorkspace], workspace: Workspace, tmp_path: Path
) -> None:
    remote = open_as("ed")
    transport: AppTransport = remote.transport  # type: ignore[attr-defined]
    small = remote.store.put(b"small")
    with workspace.store.open(small) as handle:
        assert handle.read() == b"small"
    streamed = remote.store.put(io.BytesIO(b"s" * 2_500_000))
    assert workspace.store.size(streamed) == 2_500_000
    files = []
    for i in range(4):
        path = tmp_path / f"f{i}.bin"
        path.write_bytes(bytes([i]) * 100_000)
        files.append(path)
    assert remote.store.put_file(files[0]) == digest_bytes(files[0].read_bytes())
    transport.requests.clear()
    digests = remote.store.put_files(files)
    assert digests == [digest_bytes(p.read_bytes()) for p in files]
    assert all(workspace.store.exists(d) for d in digests)
    # One question for the batch; the file the server had is not sent again.
    assert transport.requests.count(("POST", "/api/v1/blobs/presence")) == 1
    assert len([r for r in transport.requests if r[0] == "PUT"]) == 3
    with pytest.raises(ConfigurationError, match="garbage collection"):
        remote.store.delete(small)
    assert workspace.store.exists(small)


def test_a_viewer_cannot_store_blobs_through_the_store(
    open_as: Callable[[str], RemoteWorkspace], workspace: Workspace
) -> None:
    from labledger._foundation.errors import PermissionDeniedError

    with pytest.raises(PermissionDeniedError):
        open_as("vera").store.put(b"not allowed")
    assert not workspace.store.exists(digest_bytes(b"not allowed"))


def test_a_file_that_changes_while_it_is_sent_is_refused(
    open_as: Callable[[str], RemoteWorkspace], workspace: Workspace, tmp_path: Path
) -> None:
    remote = open_as("ed")
    path = tmp_path / "moving.bin"
    path.write_bytes(b"a" * 1_000_000)
    real_send = remote.store._send  # type: ignore[attr-defined]

    def rewrite_then_send(digest: str, size: int, chunks: Any) -> Any:
        path.write_bytes(b"b" * 1_000_000)  # same size, other bytes
        return real_send(digest, size, chunks)

    remote.store._send = rewrite_then_send  # type: ignore[attr-defined]
    with pytest.raises(IntegrityError, match="changed while it was being stored"):
        remote.store.put_file(path)
    assert list(workspace.store.digests()) == []


def test_the_direct_upload_threshold_is_a_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    from labledger.workspace.http.blobs import DIRECT_UPLOAD_BYTES, direct_upload_threshold

    monkeypatch.delenv("LABLEDGER_DIRECT_UPLOAD_MB", raising=False)
    assert direct_upload_threshold() == DIRECT_UPLOAD_BYTES == 64 * 1024 * 1024
    monkeypatch.setenv("LABLEDGER_DIRECT_UPLOAD_MB", "1.5")
    assert direct_upload_threshold() == 1536 * 1024
    for wrong in ("0", "-3", "lots", "nan", "inf"):
        monkeypatch.setenv("LABLEDGER_DIRECT_UPLOAD_MB", wrong)
        with pytest.raises(ConfigurationError, match="LABLEDGER_DIRECT_UPLOAD_MB"):
            direct_upload_threshold()


def test_storage_that_refuses_access_is_named_for_the_administrator(
    app: Any,
    roles: dict[str, str],
    workspace: Workspace,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Fault injection: the store's credentials are wrong (an S3 403 arrives as PermissionError).
    def refused(*_: Any, **__: Any) -> Any:
        raise PermissionError("Forbidden")

    monkeypatch.setattr(type(workspace.store), "put", refused)
    monkeypatch.setattr(type(workspace.store), "put_file", refused)
    from fastapi.testclient import TestClient

    client = TestClient(app, raise_server_exceptions=False)
    data = b"some bytes"
    answer = client.put(
        f"{BLOBS}/{digest_bytes(data)}", content=data, headers=_headers(roles, "ed")
    )
    assert answer.status_code == 500
    assert answer.json()["code"] == "storage_refused"
    assert "administrator" in answer.json()["hint"]
