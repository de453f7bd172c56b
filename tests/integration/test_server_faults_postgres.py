"""Faults under load, against real services: a ``labledger server`` on a PostgreSQL catalog, clients
in their own processes (``LABLEDGER_URI``), and the database restarted, the server SIGKILLed or sent
SIGTERM in the middle of their writes.

What must hold each time: every write a client saw acknowledged is in the catalog, no metric value
is stored twice, every run ends sealed, and ``labledger verify`` passes.
"""

from __future__ import annotations

import contextlib
import json
import signal
import socket
import subprocess
import sys
import time
import urllib.error
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pytest
import sqlalchemy as sa

from labledger.workspace import schema
from labledger.workspace.workspace import Workspace
from tests.conftest import subprocess_env
from tests.integration.server_processes import call, free_port

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from tests.integration.conftest import _PostgresCluster

pytestmark = pytest.mark.integration

pytest.importorskip("uvicorn")

# A client process: ``RUNS`` runs, each logging ``STEPS`` steps of two metrics, flushed (and a tag
# set) every ``EVERY`` steps. It prints a JSON line for each flush the server acknowledged and for
# each run it finished. When even the client's own retries run out it waits and tries again, as a
# careful training script would: the failed batch is kept and sent again unchanged.
_CLIENT = """
import json, sys, time
import labledger
from labledger._foundation.errors import StoreUnavailableError

name, runs, steps, every, pause = sys.argv[1], *map(int, sys.argv[2:5]), float(sys.argv[5])

def say(**fields):
    print(json.dumps(fields), flush=True)

def settle(action):
    for _ in range(30):
        try:
            return action()
        except StoreUnavailableError as error:
            say(event="retry", error=str(error))
            time.sleep(0.5)
    return action()

for number in range(runs):
    run = labledger.start_run(f"{name}-{number}", params={"client": name})
    say(event="started", run=run.id)
    settle(lambda: run.log_param("steps", steps))
    for step in range(steps):
        run.log_metrics({"loss": 1.0 / (step + 1), "acc": step / steps}, step=step)
        if (step + 1) % every == 0:
            settle(run.flush)
            settle(lambda: run.set_tag("progress", str(step)))
            say(event="acked", run=run.id, step=step)
            time.sleep(pause)
    settle(run.end)
    say(event="finished", run=run.id)
"""


@dataclass
class _Server:
    """``labledger server`` on a catalog, on one port across restarts, logging to a file."""

    args: list[str]
    folder: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.folder / "server.log"

    def start(self, timeout: float = 60) -> None:
        self.starts += 1
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "labledger", "server", "--port", str(self.port), *self.args],
                # The key a team server signs checkpoints with, the same across restarts.
                env=subprocess_env(LABLEDGER_WORKSPACE_KEY=str(self.folder / "workspace-key.pem")),
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
        deadline = time.monotonic() + timeout
        while True:
            try:
                call(f"{self.base}/healthz")
                return
            except (urllib.error.URLError, ConnectionError):
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop(signal.SIGKILL)
                    raise AssertionError(f"the server did not come up:\n{self.log_text()}")
                time.sleep(0.1)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int | None:
        """Send ``sig`` and wait for the process to end; its exit status."""
        process, self.process = self.process, None
        if process is None:
            return None
        if process.poll() is None:
            process.send_signal(sig)
        try:
            return process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            return process.wait()

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]

    def statuses(self) -> list[int]:
        """The status of every request it logged."""
        found = []
        for line in self.log.read_text(errors="replace").splitlines():
            if line.startswith("{") and '"status"' in line:
                with contextlib.suppress(ValueError):
                    found.append(int(json.loads(line)["status"]))
        return found


@dataclass
class _Client:
    """A client process running ``_CLIENT``; its JSON lines go to a file."""

    name: str
    process: subprocess.Popen[bytes]
    out: Path
    err: Path

    def events(self) -> list[dict[str, Any]]:
        lines = self.out.read_text(errors="replace").splitlines()
        return [json.loads(line) for line in lines if line.startswith("{")]

    def acked(self) -> list[tuple[str, int]]:
        return [(e["run"], e["step"]) for e in self.events() if e["event"] == "acked"]


def _start_client(
    base: str, folder: Path, name: str, runs: int, steps: int, every: int, pause: float
) -> _Client:
    out, err = folder / f"{name}.out", folder / f"{name}.err"
    env = subprocess_env(LABLEDGER_URI=base, LABLEDGER_STATE_DIR=str(folder / "state"))
    env.pop("LABLEDGER_TOKEN", None)
    with out.open("wb") as stdout, err.open("wb") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-c", _CLIENT, name, str(runs), str(steps), str(every), str(pause)],
            env=env,
            cwd=folder,
            stdout=stdout,
            stderr=stderr,
        )
    return _Client(name, process, out, err)


def _wait_until(condition: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.05)


def _finish(client: _Client, timeout: float) -> None:
    try:
        client.process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        client.process.kill()
        client.process.wait()
    assert client.process.returncode == 0, client.err.read_text(errors="replace")[-3000:]


@pytest.fixture
def team_catalog(
    fresh_postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[str, Path]]:
    """A new team workspace: its PostgreSQL catalog URL and its blob store folder."""
    store = tmp_path / "objects"
    monkeypatch.setenv("LABLEDGER_STORE", str(store))
    Workspace.init(fresh_postgres_url).close()
    yield fresh_postgres_url, store


@contextlib.contextmanager
def _served(catalog: str, store: Path, folder: Path) -> Iterator[_Server]:
    server = _Server(["--catalog", catalog, "--store", str(store)], folder)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _metric_counts(catalog: str) -> dict[tuple[str, str, int], int]:
    """How many rows the catalog holds of each ``(run, key, step)``."""
    m = schema.metrics
    with Workspace.open(catalog) as ws, ws.read() as conn:
        rows = conn.execute(
            sa.select(m.c.run_id, m.c.key, m.c.step, sa.func.count()).group_by(
                m.c.run_id, m.c.key, m.c.step
            )
        ).all()
    return {(run_id, key, step): count for run_id, key, step, count in rows}


def _history_steps(ws: Workspace, run_id: str, key: str) -> list[int]:
    """The steps of ``key`` in ``run_id``'s metric history, page by page, as a reader sees them."""
    steps: list[int] = []
    token: str | None = None
    while True:
        page = ws.stores.runs.metric_history(run_id, [key], page_token=token, max_results=5000)
        steps.extend(point.step for point in page.items)
        token = page.next_token
        if token is None:
            return steps


def _verify(catalog: str, store: Path, folder: Path, server: str | None = None) -> None:
    """``labledger verify`` on the catalog itself, and through the server when given one."""
    env = subprocess_env(LABLEDGER_STORE=str(store), LABLEDGER_STATE_DIR=str(folder / "state"))
    env.pop("LABLEDGER_URI", None)
    commands = [[sys.executable, "-m", "labledger", "verify", "-w", catalog]]
    if server is not None:
        commands.append([sys.executable, "-m", "labledger", "verify", "--full", "-w", server])
    for command in commands:
        done = subprocess.run(
            command, env=env, capture_output=True, text=True, timeout=120, check=False, cwd=folder
        )
        assert done.returncode == 0, done.stdout + done.stderr


def test_a_postgresql_restart_mid_run_loses_and_doubles_nothing(
    team_catalog: tuple[str, Path], _postgres_cluster: _PostgresCluster, tmp_path: Path
) -> None:
    catalog, store = team_catalog
    steps = 10_000  # two metrics a step: 20,000 values, flushed 100 at a time
    with _served(catalog, store, tmp_path) as server:
        client = _start_client(server.base, tmp_path, "restart", 1, steps, 100, 0.02)
        try:
            _wait_until(lambda: len(client.acked()) >= 10, 40, "the client has logged a while")
            restarted_at = client.acked()[-1][1]
            _postgres_cluster.stop_server("fast")  # every connection dropped, mid-request too
            try:
                time.sleep(1.5)  # long enough for the client's batches to meet the outage
            finally:
                _postgres_cluster.start_server()
            _finish(client, 50)
        finally:
            client.process.kill()
        statuses = server.statuses()
        _verify(catalog, store, tmp_path, server.base)
    events = client.events()
    (run_id,) = {e["run"] for e in events if e["event"] == "finished"}
    assert restarted_at < steps - 1000, "the restart came too late to test anything"
    # The outage was met (the catalog answered 503, which the client waited out), never a 500.
    assert 503 in statuses, statuses[-20:]
    assert not [status for status in statuses if status >= 500 and status != 503]
    counts = _metric_counts(catalog)
    assert {(key, step) for (_, key, step) in counts} == {
        (key, step) for key in ("loss", "acc") for step in range(steps)
    }
    assert set(counts.values()) == {1}
    with Workspace.open(catalog) as ws:
        (run,) = ws.stores.runs.get_runs([run_id])
        assert run.status == "finished" and run.record_digest
        for key in ("loss", "acc"):
            assert _history_steps(ws, run_id, key) == list(range(steps))
