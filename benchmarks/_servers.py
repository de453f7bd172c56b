"""Tracking servers as subprocesses on free loopback ports: ``labledger server`` and ``mlflow server``.

Each context manager starts the server, waits for its health route to answer, yields its base URL
and process group (``Served``, which also reads the group's CPU time), and stops it with SIGINT (then SIGKILL if it does not stop within 20 s). The server's output goes to
a log file beside its data, shown when it fails to start.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from _common import console

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ["Served", "free_port", "labledger_server", "mlflow_server", "server_durations"]

_START_TIMEOUT_S = 120.0
_STOP_TIMEOUT_S = 20.0
_SRC = Path(__file__).resolve().parent.parent / "src"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return f"(no log at {path})"


@dataclass(frozen=True)
class Served:
    """A started server: its base URL and its process group (the server and its workers)."""

    url: str
    group: int
    log: Path | None = None  # labledger's: one JSON line per request, with its duration

    def cpu_s(self) -> float | None:
        """User plus system CPU seconds of every live process in the server's group so far
        (``None`` off Linux)."""
        total, found = 0.0, False
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == self.group:  # the process group
                total += int(fields[11]) + int(fields[12])
                found = True
        return total / os.sysconf("SC_CLK_TCK") if found else None


@contextmanager
def _served(
    name: str, args: list[str], health: str, log: Path, env: dict[str, str]
) -> Iterator[int]:
    with log.open("wb") as out:
        # A session of its own: SIGINT reaches the server and its workers, not this process.
        process = subprocess.Popen(
            args, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        started = time.monotonic()
        deadline = started + _START_TIMEOUT_S
        while True:
            try:
                with urllib.request.urlopen(health, timeout=2):
                    break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"{' '.join(args[:4])} did not start:\n{_tail(log)}"
                    ) from None
                time.sleep(0.2)
        console.print(f"  {name} up in {time.monotonic() - started:.1f} s")
        yield process.pid
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGINT)
            try:
                process.wait(timeout=_STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


@contextmanager
def labledger_server(
    folder: Path, *, workspace: Path | None = None, catalog: str | None = None
) -> Iterator[Served]:
    """``labledger server`` (one process) over the workspace folder, or over ``catalog`` with its
    blob store in ``folder / "store"``."""
    port = free_port()
    args = [sys.executable, "-m", "labledger", "server", "--port", str(port)]
    if catalog is not None:
        args += ["--catalog", catalog, "--store", str(folder / "store")]
    else:
        assert workspace is not None
        args += ["-w", str(workspace)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(_SRC), *sys.path])}
    env.pop("LABLEDGER_URI", None)
    base = f"http://127.0.0.1:{port}"
    log = folder / "labledger-server.log"
    with _served("labledger server", args, f"{base}/healthz", log, env) as group:
        yield Served(base, group, log)


def server_durations(log: Path, path_suffix: str, start: float, end: float) -> list[float]:
    """Seconds labledger's server took over each request whose path ends with ``path_suffix``
    and that ended between ``start`` and ``end`` (wall clock), as its log times them: from the
    request reaching the application to its answer."""
    found = []
    for line in log.read_text(errors="replace").splitlines():
        if not line.startswith("{") or '"duration_ms"' not in line:
            continue
        record = json.loads(line)
        if str(record.get("path", "")).endswith(path_suffix) and start <= record["time"] <= end:
            found.append(record["duration_ms"] / 1000)
    return found


def mlflow_executable() -> str:
    beside = Path(sys.executable).with_name("mlflow")
    if not beside.exists():
        raise SystemExit("mlflow is not installed; see benchmarks/README.md for the benchmark venv")
    return str(beside)


@contextmanager
def mlflow_server(folder: Path, backend: str, *, workers: int) -> Iterator[Served]:
    """``mlflow server`` with ``workers`` worker processes over ``backend`` (a SQLAlchemy URL),
    artifacts in ``folder / "mlartifacts"``."""
    port = free_port()
    args = [
        mlflow_executable(), "server",
        "--backend-store-uri", backend,
        "--artifacts-destination", (folder / "mlartifacts").as_uri(),
        "--host", "127.0.0.1",
        "--port", str(port),
        "--workers", str(workers),
    ]  # fmt: skip
    env = {**os.environ, "MLFLOW_ENABLE_ASYNC_LOGGING": "false", "MLFLOW_DISABLE_TELEMETRY": "true"}
    base = f"http://127.0.0.1:{port}"
    with _served(
        f"mlflow server ({workers} workers)",
        args,
        f"{base}/health",
        folder / "mlflow-server.log",
        env,
    ) as group:
        yield Served(base, group)
