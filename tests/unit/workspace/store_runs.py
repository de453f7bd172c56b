"""Runs made through a workspace's run store alone, as a server's client makes them: no
``ActiveRun`` digests their rows, so the store seals what it holds."""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING

from labledger._foundation.ids import new_id
from labledger.stores.runs import NewRun

if TYPE_CHECKING:
    from labledger.workspace.workspace import Workspace

__all__ = ["store_run"]


def store_run(ws: Workspace) -> str:
    """A new running run of the workspace's actor; its id."""
    run_id = new_id()
    ws.stores.runs.create_run(
        NewRun(run_id, ws.project_id(), "r", "run", ws.actor, ws.host, os.getpid(), time.time())
    )
    return run_id
