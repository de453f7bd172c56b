"""Runs whose process died: judging a ``running`` run's lease, and sealing dead ones ``crashed``.

A ``running`` run holds a lease: on its own host, for as long as its process lives; on any other
host, for ``HEARTBEAT_TIMEOUT_S`` after its last heartbeat (a running run beats every few
seconds). ``lease_lost`` judges it without writing, for readers; ``mark_crashed_runs`` seals the
dead ones through the run store, and only writers call it (``Workspace.reap_dead_runs``, ``labledger runs reap``).

A crashed run is sealed as it stands (its record digest in the ``run.crashed`` ledger entry), so the
tasks it finished can serve a re-run from the cache: only sealed runs' tasks can.
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from labledger.workspace.workspace import Workspace

__all__ = [
    "CRASHED_REASON",
    "HEARTBEAT_TIMEOUT_S",
    "lease_lost",
    "mark_crashed_runs",
    "process_is_alive",
]

# A run on another host that has not reported for this long is taken as dead.
HEARTBEAT_TIMEOUT_S = 15 * 60.0
# The error a run sealed as crashed is left with.
CRASHED_REASON = "the process ended without finishing the run"


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
    """Seal dead ``running`` runs as ``crashed`` (see ``lease_lost``); return their ids.

    The policy (which runs are dead) is judged here; the run store seals them.
    """
    runs = workspace.stores.runs
    now = time.time()
    dead = [
        live.run_id
        for live in runs.running()
        if lease_lost(live.host, live.pid, live.heartbeat_at, here=workspace.host, now=now)
    ]
    if not dead:
        return []
    return runs.mark_crashed(dead, reason=CRASHED_REASON, at=now)
