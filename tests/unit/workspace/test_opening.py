"""Opening a workspace never writes to it; migrating is explicit (``Workspace.migrate``)."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from typing import TYPE_CHECKING

import pytest

import labledger
from labledger._foundation.errors import SchemaOutdatedError, WorkspaceNotFoundError
from labledger.metadata import search
from labledger.pipelines.run_detail import describe_run
from labledger.tracking import get_run, search_runs
from labledger.workspace import schema
from labledger.workspace.catalog import HEAD_REVISION
from labledger.workspace.verify import verify_workspace
from labledger.workspace.workspace import Workspace
from tests.conftest import subprocess_env
from tests.old_catalogs import folder_catalog_at

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path


def _catalog_file(root: Path) -> Path:
    return root / ".labledger" / "catalog.db"


def _dump(root: Path) -> list[str]:
    """Every row of every table, as SQL text: equal dumps mean nothing was written."""
    conn = sqlite3.connect(_catalog_file(root))
    try:
        return list(conn.iterdump())
    finally:
        conn.close()


_DIE_MID_RUN = """
import os, sys, time, labledger
ws = labledger.open_workspace(sys.argv[1])
run = labledger.start_run("orphan", params={"lr": 0.1}, workspace=ws)
run.log_metric("loss", 0.5)
time.sleep(0.5)  # the buffer flushes the metric
print(run.id, flush=True)
os._exit(0)  # dies without ending the run
"""


def _orphan_run(root: Path) -> str:
    """A run left ``running`` by a process that has since died."""
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


@pytest.fixture
def orphaned(tmp_path: Path) -> Iterator[str]:
    with Workspace.init(tmp_path) as ws:
        with labledger.start_run("done", workspace=ws) as done:
            done.log_metric("auc", 0.9)
    yield _orphan_run(tmp_path)


def test_reading_a_workspace_with_a_dead_run_writes_nothing(tmp_path: Path, orphaned: str) -> None:
    before = _dump(tmp_path)
    with Workspace.open(tmp_path) as ws:
        run = get_run(orphaned, workspace=ws)
        assert (run.status, run.lost) == ("running", f"process {_pid(ws, orphaned)} is gone")
        listed = {r.id: r for r in search_runs(workspace=ws)}
        assert listed[orphaned].lost == run.lost
        assert search_runs("metrics.auc > 0.5", workspace=ws)
        # A project nobody made is not made by asking for it.
        assert search_runs(project="no-such-project", workspace=ws) == []
        search("orphan", workspace=ws)
        describe_run(orphaned, workspace=ws)
        assert verify_workspace(ws, remember=False).ok
    assert _dump(tmp_path) == before


def _pid(ws: Workspace, run_id: str) -> int:
    with ws.read() as conn:
        return int(
            conn.execute(
                schema.runs.select()
                .with_only_columns(schema.runs.c.pid)
                .where(schema.runs.c.id == run_id)
            ).scalar_one()
        )


def test_opening_an_older_catalog_says_to_migrate_and_changes_nothing(tmp_path: Path) -> None:
    folder_catalog_at(tmp_path, "0003")
    before = _dump(tmp_path)
    with pytest.raises(SchemaOutdatedError) as caught:
        Workspace.open(tmp_path)
    error = caught.value
    assert (error.code, error.current, error.required) == ("schema_outdated", "0003", HEAD_REVISION)
    assert f"revision 0003; this labledger needs {HEAD_REVISION}" in error.message
    assert error.hint == "run `labledger migrate` (back up first: `labledger backup`)"
    assert _dump(tmp_path) == before


def test_migrate_brings_an_older_catalog_up_once(tmp_path: Path) -> None:
    folder_catalog_at(tmp_path, "0001")
    migration = labledger.migrate(tmp_path)
    assert (migration.from_revision, migration.to_revision) == ("0001", HEAD_REVISION)
    assert migration.changed
    again = labledger.migrate(tmp_path)
    assert (again.from_revision, again.to_revision, again.changed) == (
        HEAD_REVISION,
        HEAD_REVISION,
        False,
    )
    with Workspace.open(tmp_path) as ws:
        assert ws.catalog.revision() == HEAD_REVISION
        # Migrating makes the default project, as init does.
        assert ws.find_project_id() is not None


def test_a_catalog_without_a_schema_says_to_init(tmp_path: Path) -> None:
    root = tmp_path / ".labledger"
    root.mkdir()
    sqlite3.connect(root / "catalog.db").close()
    with pytest.raises(WorkspaceNotFoundError, match="labledger init"):
        Workspace.open(tmp_path)


def test_two_migrations_at_once_both_succeed(tmp_path: Path) -> None:
    folder_catalog_at(tmp_path, "0001")
    env = subprocess_env()
    script = (
        "import sys, time, labledger\n"
        "time.sleep(max(0.0, float(sys.argv[2]) - time.time()))\n"
        "m = labledger.migrate(sys.argv[1])\n"
        "print(m.changed)\n"
    )
    start = str(time.time() + 1.5)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script, str(tmp_path), start],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [proc.communicate(timeout=120) for proc in procs]
    for proc, (_, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err
    # One applied the migrations; the other found them done.
    assert sorted(out.strip() for out, _ in outputs) == ["False", "True"]
    with Workspace.open(tmp_path) as ws:
        assert ws.catalog.revision() == HEAD_REVISION
