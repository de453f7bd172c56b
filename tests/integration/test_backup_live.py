"""A backup taken while eight processes write always verifies and restores.

Each writer loops over runs that log metrics, a file artifact and a folder artifact (a manifest
blob plus one blob per file), so blobs are stored and rows committed all the time a backup runs.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from typing import TYPE_CHECKING

import pytest

from labledger.workspace.backup import backup_workspace, restore_workspace
from labledger.workspace.verify import verify_workspace
from labledger.workspace.workspace import Workspace
from tests.conftest import subprocess_env

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.integration

PROCESSES = 8
BACKUPS = 4

WRITER = textwrap.dedent(
    """
    import os, sys, time
    from pathlib import Path
    from labledger.workspace.workspace import Workspace
    from labledger.tracking.run import start_run

    folder, worker, stop = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3])
    scratch = Path(folder) / f"scratch-{worker}"
    index = 0
    with Workspace.open(folder) as ws:
        while not stop.exists():
            name = f"w{worker}-r{index}"
            tree = scratch / name
            (tree / "sub").mkdir(parents=True)
            (tree / "a.txt").write_text(name)
            (tree / "sub" / "b.bin").write_bytes(os.urandom(20_000))
            with start_run(name, params={"worker": worker, "index": index}, workspace=ws) as run:
                for step in range(50):
                    run.log_metric("loss", 1.0 / (step + 1))
                run.log_artifact(os.urandom(30_000 + index), name="model")
                run.log_artifact(tree, name="results")
            index += 1
    print(index)
    """
)


def test_a_backup_taken_while_eight_processes_write_verifies_and_restores(
    tmp_path: Path,
) -> None:
    source = tmp_path / "live"
    Workspace.init(source).close()
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    stop = tmp_path / "stop"
    env = subprocess_env()
    writers = [
        subprocess.Popen(
            [sys.executable, str(script), str(source), str(worker), str(stop)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for worker in range(PROCESSES)
    ]
    try:
        ws = Workspace.open(source)
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:  # until every writer has finished a run or two
                with ws.read() as conn:
                    runs = conn.exec_driver_sql("SELECT count(*) FROM runs").scalar()
                if runs and runs >= 2 * PROCESSES:
                    break
                time.sleep(0.2)
            seen_blobs = []
            for attempt in range(BACKUPS):
                # Alternately into the same folder (incremental) and a fresh one.
                dest = tmp_path / ("backup" if attempt % 2 == 0 else f"backup-{attempt}")
                report = backup_workspace(ws, dest)
                assert report.ok, (attempt, report.missing, report.verify)
                seen_blobs.append(report.blobs)
                restored = restore_workspace(dest, tmp_path / f"restored-{attempt}")
                assert restored.ok, (attempt, restored.verify)
                assert restored.blobs == report.blobs
        finally:
            ws.close()
    finally:
        stop.touch()
        outputs = [writer.communicate(timeout=60) for writer in writers]
    for writer, (out, err) in zip(writers, outputs, strict=True):
        assert writer.returncode == 0, err
        assert int(out.strip()) > 0
    # The writers kept writing between backups: each snapshot saw more than the one before.
    assert seen_blobs == sorted(seen_blobs)
    assert seen_blobs[-1] > seen_blobs[0]
    # A restored workspace opens as any other and verifies (what `labledger verify` does).
    with Workspace.open(tmp_path / f"restored-{BACKUPS - 1}") as restored_ws:
        assert verify_workspace(restored_ws, remember=False).ok
