"""``labledger server`` processes for tests: started on a free loopback port, reached over HTTP."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any

from tests.conftest import subprocess_env


def free_port() -> int:
    """A TCP port free on 127.0.0.1 just now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def call(
    url: str, *, method: str = "GET", body: Any = None, token: str | None = None
) -> tuple[int, Any]:
    """One request; the status and the JSON body (of an error too)."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@dataclass
class ServerProcess:
    """A running ``labledger server``; ``stop`` it to read its exit status and log."""

    process: subprocess.Popen[bytes]
    port: int
    stderr: str = field(default="")

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_until_up(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                call(f"{self.base}/healthz")
                return
            except (urllib.error.URLError, ConnectionError):
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise AssertionError(f"the server did not come up:\n{self.stderr}") from None
                time.sleep(0.2)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        """Send ``sig``, wait for the process to end, keep its log; its exit status."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            _, err = self.process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            _, err = self.process.communicate()
        self.stderr += err.decode(errors="replace")
        return int(self.process.returncode)

    def log_lines(self) -> list[dict[str, Any]]:
        """The JSON lines it logged (after ``stop``)."""
        return [json.loads(line) for line in self.stderr.splitlines() if line.startswith("{")]


def start_server(*args: str, env: dict[str, str] | None = None) -> ServerProcess:
    """Start ``labledger server ARGS --port FREE`` (not waiting for it to answer)."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "labledger", "server", "--port", str(port), *args],
        env=env if env is not None else subprocess_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    return ServerProcess(process, port)
