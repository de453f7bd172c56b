"""Several processes finishing runs and pipeline runs, and signing checkpoints, on one SQLite
workspace at once: the Merkle tree and every checkpoint still match the ledger."""

from __future__ import annotations

from typing import TYPE_CHECKING

from labledger.workspace.verify import verify_workspace
from labledger.workspace.workspace import Workspace
from tests.conftest import subprocess_env
from tests.unit.workspace import ledger_writers

if TYPE_CHECKING:
    from pathlib import Path

WRITERS = 3
RUNS = 4


def test_concurrent_writers_leave_one_whole_log(tmp_path: Path) -> None:
    Workspace.init(tmp_path).close()
    env = subprocess_env()
    writers, checkpointer, go, stop = ledger_writers.start(
        str(tmp_path), WRITERS, RUNS, tmp_path, env
    )
    go.write_text("go")
    with Workspace.open(tmp_path) as ws:
        # Verifying while they write sees one consistent state of the catalog.
        during = []
        while any(child.poll() is None for child in writers):
            during.append(verify_workspace(ws, blobs=False, remember=False))
        outcomes = ledger_writers.wait(writers, checkpointer, stop)
        for code, out, err in outcomes:
            assert code == 0, out + err
        assert int(outcomes[-1][1].split()[-1]) > 0
        assert [p for report in during for p in report.problems] == []
        ledger_writers.check_log(ws, WRITERS, RUNS)
