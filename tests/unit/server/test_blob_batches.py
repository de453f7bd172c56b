"""Batched blob uploads (``POST /api/v1/blobs/batch``): checked digests, bounds, retries, roles,
and the client side that sends a pipeline's small outputs together."""

from __future__ import annotations

import base64
import os
from typing import TYPE_CHECKING, Any

import pytest

from labledger._foundation.digests import digest_bytes
from labledger._foundation.errors import PermissionDeniedError
from labledger._foundation.settings import server_settings
from labledger.identity import IdentityService, Role, local_user
from labledger.server import create_app
from labledger.server.routes.blobs import BATCH_MAX_BLOBS, BATCH_MAX_BYTES
from labledger.workspace.buffered_store import BufferedBlobStore, buffers_writes
from labledger.workspace.http.blobs import BATCH_BLOB_BYTES
from labledger.workspace.http.workspace import RemoteWorkspace
from tests.unit.server.app_transport import AppTransport

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from fastapi.testclient import TestClient

    from labledger.workspace.workspace import Workspace

BATCH = "/api/v1/blobs/batch"


@pytest.fixture
def app(workspace: Workspace) -> Any:
    return create_app(workspace, auth_required=True, upload_limit=5_000_000)


@pytest.fixture
def roles(workspace: Workspace, team: dict[str, str]) -> dict[str, str]:
    """The team, with vera a viewer and ed an editor of the workspace's default project."""
    service = IdentityService(workspace.stores.identity)
    service.grant("default", "vera", Role.VIEWER, actor=local_user("root"))
    service.grant("default", "ed", Role.EDITOR, actor=local_user("root"))
    return team


def _headers(roles: dict[str, str], name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {roles[name]}"}


def _item(data: bytes, digest: str | None = None) -> dict[str, str]:
    return {"digest": digest or digest_bytes(data), "data": base64.b64encode(data).decode()}


def _leftovers(workspace: Workspace) -> list[str]:
    return os.listdir(workspace.store.root / "tmp")  # type: ignore[attr-defined]


def test_a_batch_is_stored_and_sending_it_again_changes_nothing(
    client: TestClient, roles: dict[str, str], workspace: Workspace
) -> None:
    blobs = [b"one", b"two", b"x" * 100_000, b"one"]
    answer = client.post(
        BATCH, json={"blobs": [_item(b) for b in blobs]}, headers=_headers(roles, "ed")
    )
    assert answer.status_code == 200
    assert answer.json()["blobs"] == [
        {"digest": digest_bytes(b), "size": len(b), "stored": True} for b in blobs
    ]
    for data in blobs:
        with workspace.store.open(digest_bytes(data)) as handle:
            assert handle.read() == data
    inode = os.stat(workspace.store.path_of(digest_bytes(b"two"))).st_ino  # type: ignore[attr-defined]
    again = client.post(
        BATCH, json={"blobs": [_item(b) for b in blobs]}, headers=_headers(roles, "ed")
    )
    assert again.status_code == 200
    assert [blob["stored"] for blob in again.json()["blobs"]] == [False] * len(blobs)
    assert os.stat(workspace.store.path_of(digest_bytes(b"two"))).st_ino == inode  # type: ignore[attr-defined]
    assert sorted(workspace.store.digests()) == sorted({digest_bytes(b) for b in blobs})
    assert _leftovers(workspace) == []


def test_one_wrong_digest_refuses_the_whole_batch(
    client: TestClient, roles: dict[str, str], workspace: Workspace
) -> None:
    claimed = digest_bytes(b"what was meant")
    body = {"blobs": [_item(b"fine"), _item(b"something else", claimed), _item(b"also fine")]}
    answer = client.post(BATCH, json=body, headers=_headers(roles, "ed"))
    assert answer.status_code == 400
    error = answer.json()
    assert error["code"] == "validation"
    assert claimed in error["message"] and "nothing was stored" in error["message"]
    assert digest_bytes(b"something else") in error["message"]
    assert list(workspace.store.digests()) == []
    assert _leftovers(workspace) == []


@pytest.mark.parametrize(
    "item",
    [
        {"digest": "blake3:" + "ab" * 32, "data": "not base64!"},
        {"digest": "blake3:..%2F..%2Fetc", "data": ""},
        {"digest": "sha256:" + "0" * 64, "data": ""},
    ],
)
def test_malformed_blobs_are_refused(
    client: TestClient, roles: dict[str, str], workspace: Workspace, item: dict[str, str]
) -> None:
    answer = client.post(BATCH, json={"blobs": [item]}, headers=_headers(roles, "ed"))
    assert answer.status_code == 400
    assert set(answer.json()) == {"code", "message", "hint"}
    assert list(workspace.store.digests()) == []


def test_too_many_or_too_large_blobs_are_refused(
    client: TestClient, roles: dict[str, str], workspace: Workspace
) -> None:
    many = {"blobs": [_item(str(i).encode()) for i in range(BATCH_MAX_BLOBS + 1)]}
    answer = client.post(BATCH, json=many, headers=_headers(roles, "ed"))
    assert answer.status_code == 422 and answer.json()["code"] == "invalid_request"
    # Each below the upload limit, together past the batch's bound.
    large = [os.urandom(3_000_000) for _ in range(BATCH_MAX_BYTES // 3_000_000 + 1)]
    answer = client.post(
        BATCH, json={"blobs": [_item(b) for b in large]}, headers=_headers(roles, "ed")
    )
    assert answer.status_code == 413 and answer.json()["code"] == "too_large"
    # One past the server's upload limit (5 MB here).
    answer = client.post(
        BATCH, json={"blobs": [_item(b"z" * 5_000_001)]}, headers=_headers(roles, "ed")
    )
    assert answer.status_code == 413
    assert list(workspace.store.digests()) == []
    assert _leftovers(workspace) == []


def test_viewers_cannot_send_batches(
    client: TestClient, roles: dict[str, str], workspace: Workspace
) -> None:
    answer = client.post(BATCH, json={"blobs": [_item(b"no")]}, headers=_headers(roles, "vera"))
    assert answer.status_code == 403
    assert list(workspace.store.digests()) == []


# -- the client side -------------------------------------------------------------------------


@pytest.fixture
def open_as(app: Any, roles: dict[str, str]) -> Iterator[Callable[..., RemoteWorkspace]]:
    opened: list[RemoteWorkspace] = []

    def make(name: str, served: Any = None) -> RemoteWorkspace:
        transport = AppTransport(served or app)
        remote = RemoteWorkspace(
            server_settings("http://server.test"), transport=transport, token=roles[name]
        )
        remote.transport = transport  # type: ignore[attr-defined]
        opened.append(remote)
        return remote

    yield make
    for remote in opened:
        remote.close()


def _sent(transport: AppTransport) -> list[tuple[str, str]]:
    return [
        (m, p if not p.startswith("/api/v1/blobs/blake3") else "PUT one")
        for m, p in transport.requests
    ]


def test_put_many_asks_once_and_sends_small_blobs_together(
    open_as: Callable[..., RemoteWorkspace], workspace: Workspace
) -> None:
    remote = open_as("ed")
    transport: AppTransport = remote.transport  # type: ignore[attr-defined]
    had = workspace.store.put(b"the server has this one")
    large = os.urandom(BATCH_BLOB_BYTES + 1)
    blobs = [b"a", b"b", b"the server has this one", large, b"a"]
    transport.requests.clear()
    assert remote.store.put_many(blobs) == [digest_bytes(b) for b in blobs]  # type: ignore[attr-defined]
    assert transport.requests.count(("POST", "/api/v1/blobs/presence")) == 1
    assert transport.requests.count(("POST", BATCH)) == 1
    assert _sent(transport).count(("PUT", "PUT one")) == 1  # the large one, streamed
    assert len(transport.requests) == 3
    assert sorted(workspace.store.digests()) == sorted({digest_bytes(b) for b in blobs} | {had})


def test_small_blobs_go_up_in_one_request_without_asking_first(
    open_as: Callable[..., RemoteWorkspace], workspace: Workspace
) -> None:
    remote = open_as("ed")
    transport: AppTransport = remote.transport  # type: ignore[attr-defined]
    had = workspace.store.put(b"kept as it is")
    blobs = [b"one", b"kept as it is", os.urandom(100_000)]
    transport.requests.clear()
    assert remote.store.put_many(blobs) == [digest_bytes(b) for b in blobs]  # type: ignore[attr-defined]
    assert transport.requests == [("POST", BATCH)]
    assert sorted(workspace.store.digests()) == sorted({digest_bytes(b) for b in blobs} | {had})
    with workspace.store.open(had) as handle:
        assert handle.read() == b"kept as it is"


def test_a_server_that_cannot_take_the_batch_gets_the_blobs_one_by_one(
    open_as: Callable[..., RemoteWorkspace], workspace: Workspace
) -> None:
    small_bodies = create_app(workspace, auth_required=True, body_limit=1024)
    remote = open_as("ed", small_bodies)
    transport: AppTransport = remote.transport  # type: ignore[attr-defined]
    blobs = [os.urandom(2000), os.urandom(2000)]
    assert remote.store.put_many(blobs) == [digest_bytes(b) for b in blobs]  # type: ignore[attr-defined]
    assert ("POST", BATCH) in transport.requests
    assert [m for m, _ in transport.requests].count("PUT") == 2
    assert all(workspace.store.exists(digest_bytes(b)) for b in blobs)


def test_a_viewer_cannot_store_through_put_many(
    open_as: Callable[..., RemoteWorkspace], workspace: Workspace
) -> None:
    with pytest.raises(PermissionDeniedError):
        open_as("vera").store.put_many([b"not allowed"])  # type: ignore[attr-defined]
    assert list(workspace.store.digests()) == []


def test_a_buffered_store_holds_small_blobs_until_it_is_flushed(
    open_as: Callable[..., RemoteWorkspace], workspace: Workspace
) -> None:
    remote = open_as("ed")
    transport: AppTransport = remote.transport  # type: ignore[attr-defined]
    assert buffers_writes(remote.store) and not buffers_writes(workspace.store)
    buffered = BufferedBlobStore(remote.store)
    transport.requests.clear()
    digests = [buffered.put(f"output {i}".encode()) for i in range(50)]
    assert transport.requests == []  # held here: no round trip per blob
    assert list(workspace.store.digests()) == []
    with buffered.open(digests[3]) as handle:
        assert handle.read() == b"output 3"
    assert buffered.exists(digests[0]) and buffered.size(digests[0]) == len(b"output 0")
    assert buffered.exists_many(digests[:2]) == {digests[0]: True, digests[1]: True}
    buffered.flush()
    assert transport.requests == [("POST", BATCH)]  # small: sent without asking first
    assert sorted(workspace.store.digests()) == sorted(digests)
    assert buffered.pending == 0
    transport.requests.clear()
    buffered.flush()
    assert transport.requests == []


def test_a_buffered_store_flushes_itself_when_it_holds_too_much(
    open_as: Callable[..., RemoteWorkspace], workspace: Workspace
) -> None:
    remote = open_as("ed")
    buffered = BufferedBlobStore(remote.store, max_pending=3)
    digests = [buffered.put(f"blob {i}".encode()) for i in range(4)]
    assert buffered.pending == 0
    assert sorted(workspace.store.digests()) == sorted(digests)
