"""``labledger server`` for real: a uvicorn process on a free loopback port, reached over HTTP."""

from __future__ import annotations

import contextlib
import json
import signal
import socket
import time
from typing import TYPE_CHECKING

import pytest

from labledger.identity import IdentityService
from labledger.workspace.checkpoints import make_checkpoint
from labledger.workspace.signing import generate_key
from tests.conftest import subprocess_env
from tests.integration.server_processes import ServerProcess, call, start_server

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from labledger.workspace.workspace import Workspace

pytestmark = pytest.mark.integration

pytest.importorskip("uvicorn")


@pytest.fixture
def one_mib(workspace: Workspace) -> Iterator[ServerProcess]:
    """A server over ``workspace`` that takes JSON bodies of 1 MiB at most, up and answering."""
    server = start_server("-w", str(workspace.settings.root), "--max-body-mb", "1")
    try:
        server.wait_until_up()
        yield server
    finally:
        server.stop()


def test_server_process_answers_health_and_authenticated_routes(workspace: Workspace) -> None:
    service = IdentityService(workspace.stores.identity)
    service.create_user("ada", by="root", is_admin=True)
    secret = service.issue_token("ada", "test", by="root").secret
    server = start_server("-w", str(workspace.settings.root))
    try:
        server.wait_until_up()
        assert call(f"{server.base}/healthz") == (200, {"status": "ok"})
        status, me = call(f"{server.base}/api/v1/me", token=secret)
        assert status == 200 and me["name"] == "ada"
        status, error = call(f"{server.base}/api/v1/me")
        assert status == 401 and error["code"] == "unauthenticated"
    finally:
        assert server.stop(signal.SIGINT) == 0
    requests = [line for line in server.log_lines() if line.get("message") == "request"]
    assert any(r["path"] == "/api/v1/me" and r["user"] == "ada" for r in requests)
    assert all("request_id" in r for r in requests)
    assert secret not in server.stderr


def _refused(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return False
    except OSError:
        return True


def test_sigterm_finishes_the_request_in_flight_and_exits_0(workspace: Workspace) -> None:
    server = start_server("-w", str(workspace.settings.root))
    server.wait_until_up()
    body = json.dumps({"name": "bob", "display_name": "B" * 100}).encode()
    half = len(body) // 2
    head = (
        "POST /api/v1/users HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    # A slow client: the request is in flight, half of its body sent, when the signal comes.
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as client:
        client.sendall(head + body[:half])
        time.sleep(0.5)
        server.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 10
        while not _refused(server.port):  # it stops accepting new connections at once
            assert time.monotonic() < deadline, "still accepting after SIGTERM"
            time.sleep(0.1)
        assert server.process.poll() is None  # ... but waits for the request in flight
        client.sendall(body[half:])
        answer = b""
        while chunk := client.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 201"), answer[:200]
    assert server.stop() == 0, server.stderr
    users = IdentityService(workspace.stores.identity).list_users()
    assert [user.name for user in users] == ["bob"]


def _raw_post(port: int, body: bytes, *, pause_s: float, chunked: bool = False) -> bytes:
    """POST ``body`` on one socket, headers first and the body ``pause_s`` later (with its
    length declared, or in chunks), then read the whole answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        length = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {len(body)}"
        head = (
            "POST /api/v1/users HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Content-Type: application/json\r\n{length}\r\nConnection: close\r\n\r\n"
        )
        sock.sendall(head.encode())
        time.sleep(pause_s)
        step = 64 * 1024
        for start in range(0, len(body), step):
            piece = body[start : start + step]
            sock.sendall(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
            time.sleep(0.005)
        if chunked:
            sock.sendall(b"0\r\n\r\n")
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
        return answer


def test_a_refused_body_is_read_before_the_answer_so_the_client_sees_413(
    one_mib: ServerProcess,
) -> None:
    # Answering with the body unread resets the connection: a client still sending would see
    # "broken pipe" and never the 413 that says why.
    body = json.dumps({"name": "x" * (2 * 1024 * 1024)}).encode()
    for chunked in (False, True):
        answer = _raw_post(one_mib.port, body, pause_s=0.3, chunked=chunked)
        assert answer.startswith(b"HTTP/1.1 413"), (chunked, answer[:200])
        assert b'"too_large"' in answer


def test_a_body_over_max_body_mb_is_refused(one_mib: ServerProcess) -> None:
    status, error = call(
        f"{one_mib.base}/api/v1/users", method="POST", body={"name": "x" * (1024 * 1024)}
    )
    assert (status, error["code"]) == (413, "too_large")
    assert "1048576 bytes" in error["message"]
    status, _ = call(
        f"{one_mib.base}/api/v1/users", method="POST", body={"name": "y", "display_name": "z"}
    )
    assert status == 201


def test_a_server_without_the_catalogs_workspace_key_does_not_start(
    workspace: Workspace, tmp_path: Path
) -> None:
    # Started with another key it would sign nothing every client's verify accepts: said at
    # start, to whoever starts it, rather than to each user later.
    make_checkpoint(workspace)  # makes and registers the folder's workspace key
    other = tmp_path / "other.pem"
    generate_key(other)
    server = start_server(
        "-w",
        str(workspace.settings.root),
        env={**subprocess_env(), "LABLEDGER_WORKSPACE_KEY": str(other)},
    )
    assert server.process.wait(timeout=60) != 0
    server.stop()
    assert "is not the one this catalog's checkpoints are signed with" in server.stderr
    assert "LABLEDGER_WORKSPACE_KEY" in server.stderr


def test_a_body_far_over_the_limit_is_answered_at_once_and_the_connection_closed(
    one_mib: ServerProcess,
) -> None:
    with socket.create_connection(("127.0.0.1", one_mib.port), timeout=10) as sock:
        sock.sendall(
            b"POST /api/v1/users HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 1073741824\r\n\r\n{"
        )
        answer = b""
        while chunk := sock.recv(65536):  # the server closes: recv ends
            answer += chunk
    head = answer.split(b"\r\n\r\n", 1)[0].lower()
    assert head.startswith(b"http/1.1 413")
    assert b"connection: close" in head


def test_a_streamed_body_far_over_the_limit_ends_its_connection(one_mib: ServerProcess) -> None:
    import threading

    sent: list[int] = []
    with socket.create_connection(("127.0.0.1", one_mib.port), timeout=20) as sock:
        sock.sendall(
            b"POST /api/v1/users HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        piece = b"%x\r\n%s\r\n" % (65536, b" " * 65536)

        def stream() -> None:  # 64 MiB, far past the limit and what is drained
            with contextlib.suppress(OSError):
                for _ in range(1024):
                    sock.sendall(piece)
                    sent.append(len(piece))

        sender = threading.Thread(target=stream, daemon=True)
        sender.start()
        answer = b""
        # The server closes: recv ends, or the rest of the body still arriving makes the close a
        # reset, which may come before the answer is read.
        with contextlib.suppress(ConnectionResetError):
            while chunk := sock.recv(65536):
                answer += chunk
        sender.join(timeout=20)
    assert sum(sent) < 64 * 1024 * 1024  # the connection ended before the body did
    if answer:
        head = answer.split(b"\r\n\r\n", 1)[0].lower()
        assert head.startswith(b"http/1.1 413")
        assert b"connection: close" in head
