"""Runs whose process died: judging a ``running`` run's lease, and sealing dead ones ``crashed``.

A ``running`` run holds a lease: on its own host, for as long as its process lives; on any other
host, for ``HEARTBEAT_TIMEOUT_S`` after its last heartbeat (a running run beats every few
seconds). ``lease_lost`` judges it without writing, for readers; ``mark_crashed_runs`` seals the
dead ones, and only writers call it (``Workspace.reap_dead_runs``, ``labledger runs reap``).

A crashed run is sealed as it stands (its record digest in the ``run.crashed`` ledger entry), so the
tasks it finished can serve a re-run from the cache: only sealed runs' tasks can.
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING

from sqlalchemy import select, update

from labledger.workspace import schema
from labledger.workspace.artifact_entries import record_run_artifacts
from labledger.workspace.records import run_record, seal_fields

if TYPE_CHECKING:
    from labledger.workspace.workspace import Workspace

__all__ = ["HEARTBEAT_TIMEOUT_S", "lease_lost", "mark_crashed_runs", "process_is_alive"]

# A run on another host that has not reported for this long is taken as dead.
HEARTBEAT_TIMEOUT_S = 15 * 60.0


def process_is_alive(pid: int) -> bool:
    """Whether a process with ``pid`` exists on this host (zombies count as dead)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


def _minutes(seconds: float) -> str:
    minutes = max(1, round(seconds / 60))
    return f"{minutes} min" if minutes < 120 else f"{minutes / 60:.0f} h"


def lease_lost(
    host: str, pid: int | None, heartbeat_at: float | None, *, here: str, now: float
) -> str | None:
    """Why a ``running`` run is taken as dead, or ``None`` while it holds its lease.

    Args:
        host: The host the run's process runs on.
        pid: Its process id.
        heartbeat_at: When it last reported (seconds since the epoch).
        here: This host's name: a run here is judged by its process, elsewhere by its heartbeat.
        now: The time to judge at.
    """
    if host == here:
        if pid is None or pid == os.getpid() or process_is_alive(pid):
            return None
        return f"process {pid} is gone"
    silent = now - (heartbeat_at or 0.0)
    if silent > HEARTBEAT_TIMEOUT_S:
        return f"no heartbeat for {_minutes(silent)}"
    return None


def mark_crashed_runs(workspace: Workspace) -> list[str]:
    """Seal dead ``running`` runs as ``crashed`` (see ``lease_lost``); return their ids."""
    runs = schema.runs
    with workspace.read() as conn:
        candidates = conn.execute(
            select(runs.c.id, runs.c.host, runs.c.pid, runs.c.heartbeat_at).where(
                runs.c.status == "running"
            )
        ).all()
    now = time.time()
    dead = [
        row.id
        for row in candidates
        if lease_lost(row.host, row.pid, row.heartbeat_at, here=workspace.host, now=now)
    ]
    if not dead:
        return []
    with workspace.write() as conn:
        for run_id in dead:
            changed = conn.execute(
                update(runs)
                .where(runs.c.id == run_id, runs.c.status == "running")
                .values(
                    status="crashed",
                    ended_at=now,
                    error="the process ended without finishing the run",
                )
            ).rowcount
            if changed:
                # Sealed as it stands: the tasks it finished stay usable from the cache (a re-run
                # resumes), and edits made after this are seen by `verify`.
                sealed = seal_fields(run_record(conn, run_id))
                record = sealed["record_digest"]
                conn.execute(update(runs).where(runs.c.id == run_id).values(record_digest=record))
                record_run_artifacts(workspace, conn, run_id)
                workspace.record(
                    conn,
                    "run.crashed",
                    f"run:{run_id}",
                    {"run_id": run_id, **sealed, "artifacts_recorded": True},
                )
    return dead
