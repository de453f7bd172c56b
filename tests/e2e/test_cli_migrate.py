"""``labledger migrate`` and ``labledger runs reap``: the two commands that write what opening no
longer does."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import TYPE_CHECKING

from labledger.workspace.catalog import HEAD_REVISION
from tests.conftest import subprocess_env
from tests.old_catalogs import folder_catalog_at

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from typer.testing import Result

    from labledger.workspace.workspace import Workspace

_DIE_MID_RUN = """
import os, sys, labledger
run = labledger.start_run("orphan", workspace=labledger.open_workspace(sys.argv[1]))
print(run.id, flush=True)
os._exit(0)  # dies without ending the run
"""


def _orphan_run(root: Path) -> str:
    env = subprocess_env()
    done = subprocess.run(
        [sys.executable, "-c", _DIE_MID_RUN, str(root)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout.strip()


def test_an_old_catalog_is_refused_until_migrate_brings_it_up(
    cli: Callable[..., Result], tmp_path: Path
) -> None:
    folder_catalog_at(tmp_path, "0002")
    where = str(tmp_path)
    refused = cli("runs", "list", "-w", where)
    assert refused.exit_code != 0
    assert "labledger migrate" in refused.output
    assert f"revision 0002; this labledger needs {HEAD_REVISION}" in refused.output

    migrated = cli("migrate", "-w", where)
    assert migrated.exit_code == 0, migrated.output
    assert f"migrated: 0002 → {HEAD_REVISION}" in migrated.stdout
    again = cli("migrate", "-w", where, "--json")
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout) == {
        "from_revision": HEAD_REVISION,
        "to_revision": HEAD_REVISION,
        "changed": False,
    }
    assert "already at the newest schema" in cli("migrate", "-w", where).stdout
    assert json.loads(cli("runs", "list", "-w", where, "--json").stdout) == []


def test_runs_list_reports_a_lost_run_and_reap_seals_it(
    cli: Callable[..., Result], workspace: Workspace, tmp_path: Path
) -> None:
    run_id = _orphan_run(tmp_path)
    where = str(tmp_path)
    listed = cli("runs", "list", "-w", where, "--wide")
    assert "running (lost: process" in listed.stdout
    [row] = json.loads(cli("runs", "list", "-w", where, "--json").stdout)
    assert (row["id"], row["status"]) == (run_id, "running")
    assert row["lost"].startswith("process ")
    shown = json.loads(cli("runs", "show", run_id, "-w", where, "--json").stdout)
    assert shown["status"] == "running" and shown["lost"] == row["lost"]

    reaped = cli("runs", "reap", "-w", where)
    assert reaped.exit_code == 0, reaped.output
    assert f"sealed {run_id} as crashed" in reaped.stdout
    [row] = json.loads(cli("runs", "list", "-w", where, "--json").stdout)
    assert (row["status"], row["lost"]) == ("crashed", None)
    assert json.loads(cli("runs", "reap", "-w", where, "--json").stdout) == {"crashed": []}
    assert cli("verify", "-w", where, "--no-state").exit_code == 0
