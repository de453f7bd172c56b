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
import threading
import time
import urllib.error
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pytest
import sqlalchemy as sa

from labledger.identity import IdentityService, Role, local_user
from labledger.workspace import schema
from labledger.workspace.checkpoints import ensure_workspace_key
from labledger.workspace.ledger import iter_entries
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
    base: str, token: str, folder: Path, name: str, runs: int, steps: int, every: int, pause: float
) -> _Client:
    out, err = folder / f"{name}.out", folder / f"{name}.err"
    env = subprocess_env(
        LABLEDGER_URI=base, LABLEDGER_TOKEN=token, LABLEDGER_STATE_DIR=str(folder / "state")
    )
    for variable in ("LABLEDGER_HTTP_RETRIES", "LABLEDGER_HTTP_BACKOFF_S"):
        env.pop(variable, None)  # the client's default retry budget
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


@dataclass(frozen=True)
class _Team:
    """A new team workspace: its PostgreSQL catalog, its blob store folder, an editor's token."""

    catalog: str
    store: Path
    token: str
    admin_token: str


@pytest.fixture
def team(fresh_postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> _Team:
    store = tmp_path / "objects"
    monkeypatch.setenv("LABLEDGER_STORE", str(store))
    with Workspace.init(fresh_postgres_url) as ws:
        service = IdentityService(ws.stores.identity)
        service.create_user("ed", by="root")
        service.grant("default", "ed", Role.EDITOR, actor=local_user("root"))
        # Every request is signed in: the token is looked up in the catalog each time.
        token = service.issue_token("ed", "trainer", by="root").secret
        service.create_user("ada", by="root", is_admin=True)
        admin_token = service.issue_token("ada", "audit", by="root").secret
    return _Team(fresh_postgres_url, store, token, admin_token)


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


def _verify(team: _Team, folder: Path, server: str | None = None) -> None:
    """``labledger verify`` on the catalog itself, and through the server (an administrator walking
    every entry) when given one."""
    env = subprocess_env(
        LABLEDGER_STORE=str(team.store),
        LABLEDGER_STATE_DIR=str(folder / "state"),
        LABLEDGER_TOKEN=team.admin_token,
    )
    env.pop("LABLEDGER_URI", None)
    catalog = team.catalog
    commands = [[sys.executable, "-m", "labledger", "verify", "-w", catalog]]
    if server is not None:
        commands.append([sys.executable, "-m", "labledger", "verify", "--full", "-w", server])
    for command in commands:
        done = subprocess.run(
            command, env=env, capture_output=True, text=True, timeout=120, check=False, cwd=folder
        )
        assert done.returncode == 0, done.stdout + done.stderr


def test_a_postgresql_restart_mid_run_loses_and_doubles_nothing(
    team: _Team, _postgres_cluster: _PostgresCluster, tmp_path: Path
) -> None:
    catalog, store = team.catalog, team.store
    steps = 10_000  # two metrics a step: 20,000 values, flushed 100 at a time
    with _served(catalog, store, tmp_path) as server:
        client = _start_client(server.base, team.token, tmp_path, "restart", 1, steps, 100, 0.02)
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
        _verify(team, tmp_path, server.base)
    events = client.events()
    (run_id,) = {e["run"] for e in events if e["event"] == "finished"}
    assert restarted_at < steps - 1000, "the restart came too late to test anything"
    # The client's own retries rode the outage out: the script never had to.
    assert not [e for e in events if e["event"] == "retry"], events[-3:]
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


def test_a_server_sigkilled_under_eight_writers_loses_no_acknowledged_write(
    team: _Team, tmp_path: Path
) -> None:
    catalog, store = team.catalog, team.store
    runs, steps, every = 2, 300, 20
    with _served(catalog, store, tmp_path) as server:
        clients = [
            _start_client(server.base, team.token, tmp_path, f"c{n}", runs, steps, every, 0.01)
            for n in range(8)
        ]
        try:
            _wait_until(
                lambda: all(len(c.acked()) >= 3 for c in clients), 40, "every client has logged"
            )
            assert server.stop(signal.SIGKILL) == -signal.SIGKILL
            acked_before = {c.name: c.acked() for c in clients}
            # Killed mid-load: no client had written everything yet.
            assert all(len(a) < runs * steps // every for a in acked_before.values())
            # Writes in flight lose their answer; new ones are refused until a new process (on
            # the same catalog and port) answers, which the clients wait for.
            time.sleep(0.5)
            server.start()
            for client in clients:
                _finish(client, 50)
        finally:
            for client in clients:
                client.process.kill()
        _verify(team, tmp_path, server.base)
    assert server.starts == 2
    # Neither process failed a request: every error a client met was the connection's.
    assert not [status for status in server.statuses() if status >= 500], server.log_text()
    counts = _metric_counts(catalog)
    assert set(counts.values()) == {1}, "a metric value was stored twice"
    run_ids: set[str] = set()
    with Workspace.open(catalog) as ws:
        for client in clients:
            events = client.events()
            started = [e["run"] for e in events if e["event"] == "started"]
            finished = [e["run"] for e in events if e["event"] == "finished"]
            assert len(started) == runs and finished == started, events[-5:]
            run_ids.update(started)
            # Everything acknowledged before the kill is there, and so is everything after.
            for run_id, step in acked_before[client.name]:
                assert counts[(run_id, "loss", step)] == counts[(run_id, "acc", step)] == 1
            for run_id in started:
                assert {(key, step) for (rid, key, step) in counts if rid == run_id} == {
                    (key, step) for key in ("loss", "acc") for step in range(steps)
                }
                (run,) = ws.stores.runs.get_runs([run_id])
                assert run.status == "finished" and run.record_digest, run
                assert run.params == {"steps": str(steps), "client": client.name}
                assert run.tags["progress"] == str(steps - 1)
        # No run was left behind: every run in the catalog is one a client finished.
        with ws.read() as conn:
            assert set(conn.execute(sa.select(schema.runs.c.id)).scalars()) == run_ids


def _refused(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return False
    except OSError:
        return True


def _half_sent_batch(port: int, token: str, run_id: str, rows: int) -> tuple[socket.socket, bytes]:
    """A connection that has sent half of a batch of ``rows`` metric values; the rest of it."""
    batch = {
        "batch_id": f"{run_id}:1-{rows}",
        "metrics": [["loss", 1.0 / (i + 1), i, 1_700_000_001.0 + i, i + 1] for i in range(rows)],
    }
    body = json.dumps(batch).encode()
    head = (
        f"POST /api/v1/runs/{run_id}/batch HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    half = len(body) // 2
    connection = socket.create_connection(("127.0.0.1", port), timeout=30)
    connection.sendall(head + body[:half])
    return connection, body[half:]


def _sigterm_and_wait_until_refusing(server: _Server) -> None:
    assert server.process is not None
    time.sleep(0.3)  # the server has read the head and part of the body
    server.process.send_signal(signal.SIGTERM)
    _wait_until(lambda: _refused(server.port), 10, "the server stops accepting")
    assert server.process.poll() is None, "it must wait for the request in flight"


def test_sigterm_during_a_batch_writes_all_of_it_or_none_of_it(team: _Team, tmp_path: Path) -> None:
    catalog, store = team.catalog, team.store
    with Workspace.open(catalog) as ws:
        project = ws.project_id("default")
    rows = 5000
    server = _Server(["--catalog", catalog, "--store", str(store)], tmp_path)
    run_ids = ["0190bbbb-0000-7000-8000-000000000001", "0190bbbb-0000-7000-8000-000000000002"]
    try:
        server.start()
        for run_id in run_ids:
            spec = {
                "id": run_id,
                "project_id": project,
                "name": "graceful",
                "kind": "run",
                "host": "trainer",
                "pid": 4242,
                "started_at": 1_700_000_000.0,
            }
            status, body = call(
                f"{server.base}/api/v1/runs", method="POST", body={"run": spec}, token=team.token
            )
            assert status == 201, body

        # The batch in flight when SIGTERM comes is accepted whole once its body arrives.
        connection, rest = _half_sent_batch(server.port, team.token, run_ids[0], rows)
        with connection:
            _sigterm_and_wait_until_refusing(server)
            connection.sendall(rest)
            answer = connection.recv(65536)
        assert answer.startswith(b"HTTP/1.1 204"), answer[:300]
        assert server.stop() == 0, server.log_text()

        # The client that gives up halfway through its body leaves nothing of it behind.
        server.start()
        connection, _ = _half_sent_batch(server.port, team.token, run_ids[1], rows)
        with connection:
            _sigterm_and_wait_until_refusing(server)
        assert server.stop() == 0, server.log_text()
    finally:
        server.stop(signal.SIGKILL)
    counts = _metric_counts(catalog)
    assert sum(1 for (run_id, _, _) in counts if run_id == run_ids[0]) == rows
    assert set(counts.values()) == {1}
    assert not [key for key in counts if key[0] == run_ids[1]]
    with Workspace.open(catalog) as ws:
        first, second = ws.stores.runs.get_runs(run_ids)
        assert first.metrics == {"loss": 1.0 / rows}
        assert second.metrics == {}


def test_writers_registering_the_workspace_key_at_once_all_get_it(
    team: _Team, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What a server's first seals after a (re)start do, several requests at once, and replicas
    # starting together: register the workspace key it signs checkpoints with.
    monkeypatch.setenv("LABLEDGER_WORKSPACE_KEY", str(tmp_path / "workspace-key.pem"))
    workspaces = [Workspace.open(team.catalog) for _ in range(8)]
    start = threading.Barrier(len(workspaces))

    def register(ws: Workspace) -> str:
        start.wait()
        signer = ensure_workspace_key(ws)
        assert signer is not None
        return signer.public_key_hex

    try:
        with ThreadPoolExecutor(len(workspaces)) as pool:
            keys = list(pool.map(register, workspaces))
    finally:
        for ws in workspaces:
            ws.close()
    assert len(set(keys)) == 1
    with Workspace.open(team.catalog) as ws, ws.read() as conn:
        registered = list(iter_entries(conn, kind="key.registered"))
        assert [e.subject for e in registered].count("key:workspace") == 1
