"""Runs whose process died: readers report them lost, writers seal them crashed."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from typing import TYPE_CHECKING, Any

import pytest
import sqlalchemy as sa

from labledger.tracking import get_run, reap_crashed_runs, start_run
from labledger.workspace import schema
from labledger.workspace.ledger import iter_entries
from labledger.workspace.recovery import HEARTBEAT_TIMEOUT_S, mark_crashed_runs, process_is_alive
from labledger.workspace.verify import verify_workspace
from labledger.workspace.workspace import Workspace

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


@pytest.fixture
def sleeper() -> Iterator[int]:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        yield child.pid
    finally:
        child.kill()
        child.wait()


def _running_row(ws: Workspace, pid: int, **overrides: Any) -> str:
    run_id = f"run-{pid}-{time.monotonic_ns()}"
    now = time.time()
    row = {
        "id": run_id,
        "project_id": ws.project_id(),
        "name": "orphan",
        "kind": "run",
        "status": "running",
        "user": ws.actor,
        "host": ws.host,
        "pid": pid,
        "started_at": now,
        "heartbeat_at": now,
        **overrides,
    }
    with ws.write() as conn:
        conn.execute(schema.runs.insert(), row)
        ws.record(conn, "run.started", f"run:{run_id}", {"run_id": run_id, "name": "orphan"})
    return run_id


def _status(ws: Workspace, run_id: str) -> str:
    with ws.read() as conn:
        return conn.execute(
            sa.select(schema.runs.c.status).where(schema.runs.c.id == run_id)
        ).scalar_one()


def test_process_is_alive() -> None:
    assert process_is_alive(os.getpid())
    assert not process_is_alive(_dead_pid())


def test_zombies_count_as_dead() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with open(f"/proc/{child.pid}/stat") as handle:
            if handle.read().rsplit(")", 1)[1].split()[0] == "Z":
                break
        time.sleep(0.02)
    try:
        assert not process_is_alive(child.pid)
    finally:
        child.wait()


def _ledger_size(ws: Workspace) -> int:
    with ws.read() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(schema.ledger)).scalar_one())


def test_opening_leaves_a_dead_run_alone_and_reports_it_lost(
    workspace: Workspace, tmp_path: Path
) -> None:
    pid = _dead_pid()
    run_id = _running_row(workspace, pid)
    before = _ledger_size(workspace)
    with Workspace.open(tmp_path) as ws:
        assert _status(ws, run_id) == "running"
        run = get_run(run_id, workspace=ws)
        assert run.status == "running"
        assert run.lost == f"process {pid} is gone"
        assert _ledger_size(ws) == before


def test_a_dead_local_run_is_sealed_crashed_by_the_next_start_run(
    workspace: Workspace, tmp_path: Path
) -> None:
    run_id = _running_row(workspace, _dead_pid())
    with Workspace.open(tmp_path) as ws:
        start_run("next", workspace=ws).end()
        assert _status(ws, run_id) == "crashed"
        assert get_run(run_id, workspace=ws).lost is None
        with ws.read() as conn:
            entries = list(iter_entries(conn, subject=f"run:{run_id}"))
            error = conn.execute(
                sa.select(schema.runs.c.error).where(schema.runs.c.id == run_id)
            ).scalar_one()
        assert [e.kind for e in entries] == ["run.started", "run.crashed"]
        assert entries[0].payload["run_id"] == run_id
        # Sealed as it stood: the crashed run's record digest, in the catalog and the ledger.
        with ws.read() as conn:
            sealed = conn.execute(
                sa.select(schema.runs.c.record_digest).where(schema.runs.c.id == run_id)
            ).scalar_one()
        assert entries[-1].payload["record_digest"] == sealed
        assert "ended without finishing" in error
        assert verify_workspace(ws).ok
    # Sealed once: another writer finds nothing to do.
    with Workspace.open(tmp_path) as ws:
        assert reap_crashed_runs(workspace=ws) == []
        with ws.read() as conn:
            assert len(list(iter_entries(conn, kind="run.crashed"))) == 1


def test_start_run_looks_for_dead_runs_at_most_once_a_while(workspace: Workspace) -> None:
    start_run("first", workspace=workspace).end()
    run_id = _running_row(workspace, _dead_pid())
    # Looked a moment ago: this start does not look again (the hot path stays cheap)...
    start_run("second", workspace=workspace).end()
    assert _status(workspace, run_id) == "running"
    # ...while an explicit reap always does.
    assert reap_crashed_runs(workspace=workspace) == [run_id]
    assert _status(workspace, run_id) == "crashed"


def test_a_remote_run_without_heartbeat_is_reported_lost(workspace: Workspace) -> None:
    stale = _running_row(
        workspace, 1, host="other-host", heartbeat_at=time.time() - HEARTBEAT_TIMEOUT_S - 300
    )
    fresh = _running_row(workspace, 2, host="other-host")
    assert get_run(stale, workspace=workspace).lost == "no heartbeat for 20 min"
    assert get_run(fresh, workspace=workspace).lost is None
    assert _status(workspace, stale) == "running"


def test_a_live_local_run_is_left_alone(workspace: Workspace, sleeper: int) -> None:
    run_id = _running_row(workspace, sleeper)
    assert mark_crashed_runs(workspace) == []
    assert _status(workspace, run_id) == "running"


def test_a_run_of_this_process_is_left_alone(workspace: Workspace) -> None:
    run_id = _running_row(workspace, os.getpid())
    assert mark_crashed_runs(workspace) == []
    assert _status(workspace, run_id) == "running"


def test_remote_runs_are_judged_by_their_heartbeat(workspace: Workspace) -> None:
    stale = _running_row(
        workspace, 1, host="other-host", heartbeat_at=time.time() - HEARTBEAT_TIMEOUT_S - 60
    )
    fresh = _running_row(workspace, 2, host="other-host")
    assert mark_crashed_runs(workspace) == [stale]
    assert _status(workspace, stale) == "crashed"
    assert _status(workspace, fresh) == "running"


def test_finished_runs_are_never_touched(workspace: Workspace) -> None:
    run_id = _running_row(workspace, _dead_pid(), status="finished")
    assert mark_crashed_runs(workspace) == []
    assert _status(workspace, run_id) == "finished"
