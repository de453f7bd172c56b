"""``labledger server`` for real: a uvicorn process on a free loopback port, reached over HTTP."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.conftest import subprocess_env

if TYPE_CHECKING:
    from labledger.workspace.workspace import Workspace

pytestmark = pytest.mark.integration

pytest.importorskip("uvicorn")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _get(url: str, token: str | None = None) -> tuple[int, dict[str, object]]:
    request = urllib.request.Request(url)
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_server_process_answers_health_and_authenticated_routes(workspace: Workspace) -> None:
    from labledger.identity import IdentityService

    service = IdentityService(workspace.stores.identity)
    service.create_user("ada", by="root", is_admin=True)
    secret = service.issue_token("ada", "test", by="root").secret
    port = _free_port()
    env = subprocess_env()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "labledger",
            "server",
            "--port",
            str(port),
            "-w",
            str(Path(workspace.settings.root)),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                status, body = _get(f"{base}/healthz")
                break
            except (urllib.error.URLError, ConnectionError):
                if process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(process.stderr.read().decode() if process.stderr else "")
                time.sleep(0.2)
        assert (status, body) == (200, {"status": "ok"})
        status, me = _get(f"{base}/api/v1/me", secret)
        assert status == 200 and me["name"] == "ada"
        status, error = _get(f"{base}/api/v1/me")
        assert status == 401 and error["code"] == "unauthenticated"
    finally:
        process.send_signal(signal.SIGINT)
        try:
            _, stderr = process.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            _, stderr = process.communicate()
    lines = [json.loads(line) for line in stderr.decode().splitlines() if line.startswith("{")]
    requests = [line for line in lines if line.get("message") == "request"]
    assert any(r["path"] == "/api/v1/me" and r["user"] == "ada" for r in requests)
    assert all("request_id" in r for r in requests)
    assert secret not in stderr.decode()
