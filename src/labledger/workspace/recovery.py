"""Marking runs whose process died as ``crashed``, done whenever a workspace is opened.

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

__all__ = ["HEARTBEAT_TIMEOUT_S", "mark_crashed_runs", "process_is_alive"]

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


def mark_crashed_runs(workspace: Workspace) -> list[str]:
    """Mark dead ``running`` runs as ``crashed``; return their ids."""
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
        if (row.host == workspace.host and row.pid != os.getpid() and not process_is_alive(row.pid))
        or (row.host != workspace.host and now - row.heartbeat_at > HEARTBEAT_TIMEOUT_S)
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
