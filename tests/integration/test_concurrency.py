"""Several processes tracking into one SQLite workspace at once."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from typing import TYPE_CHECKING

import pytest
import sqlalchemy as sa

from labledger.tracking.query import search_runs
from labledger.workspace import schema
from labledger.workspace.ledger import iter_entries, verify_chain
from labledger.workspace.verify import verify_workspace
from labledger.workspace.workspace import Workspace

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.integration

PROCESSES = 8
RUNS_PER_PROCESS = 3
METRICS_PER_RUN = 2000

WORKER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from labledger.workspace.workspace import Workspace
    from labledger.tracking.run import start_run

    folder, worker, runs, metrics, go = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
    while not Path(go).exists():  # start together, so the writers really overlap
        time.sleep(0.005)
    with Workspace.open(folder) as ws:
        for index in range(runs):
            name = f"w{worker}-r{index}"
            with start_run(name, params={"worker": worker, "index": index}, workspace=ws) as run:
                run.set_tags({"group": f"g{worker % 2}", "name": name})
                for step in range(metrics):
                    run.log_metric("loss", 1.0 / (step + 1))
                    if step % 500 == 0:
                        run.log_param(f"checkpoint_{step}", step)
                        run.set_tag("progress", step)
                run.log_artifact(f"{name} result".encode() * 100, name="result")
    print("done", worker)
    """
)


def test_eight_processes_share_one_sqlite_workspace(tmp_path: Path) -> None:
    Workspace.init(tmp_path).close()
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    go = tmp_path / "go"
    children = [
        subprocess.Popen(
            [
                sys.executable,
                str(script),
                str(tmp_path),
                str(i),
                str(RUNS_PER_PROCESS),
                str(METRICS_PER_RUN),
                str(go),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(PROCESSES)
    ]
    started = time.monotonic()
    go.write_text("go")
    outcomes = []
    try:
        for child in children:
            out, err = child.communicate(timeout=120)
            outcomes.append((child.returncode, out, err))
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
                child.communicate()
    elapsed = time.monotonic() - started
    for worker, (code, out, err) in enumerate(outcomes):
        assert "database is locked" not in err, f"worker {worker}:\n{err}"
        assert code == 0, f"worker {worker} exited with {code}:\n{err}"
        assert out.strip() == f"done {worker}"
        assert err == "", f"worker {worker} wrote to stderr:\n{err}"
    assert elapsed < 60

    with Workspace.open(tmp_path) as ws:
        runs = search_runs(workspace=ws)
        assert len(runs) == PROCESSES * RUNS_PER_PROCESS
        assert {r.status for r in runs} == {"finished"}
        assert {r.name for r in runs} == {
            f"w{w}-r{i}" for w in range(PROCESSES) for i in range(RUNS_PER_PROCESS)
        }
        for run in runs:
            assert run.metrics == {"loss": 1.0 / METRICS_PER_RUN}
            assert len(run.params) == 2 + METRICS_PER_RUN // 500
            assert run.tags["progress"] == str((METRICS_PER_RUN - 1) // 500 * 500)
        with ws.read() as conn:
            metrics = schema.metrics
            counts = {
                row.run_id: (row.rows, row.steps, row.first, row.last)
                for row in conn.execute(
                    sa.select(
                        metrics.c.run_id,
                        sa.func.count().label("rows"),
                        sa.func.count(sa.distinct(metrics.c.step)).label("steps"),
                        sa.func.min(metrics.c.step).label("first"),
                        sa.func.max(metrics.c.step).label("last"),
                    ).group_by(metrics.c.run_id)
                )
            }
            artifacts = conn.execute(
                sa.select(sa.func.count()).select_from(schema.artifacts)
            ).scalar_one()
            checked, problems = verify_chain(conn)
            finished = list(iter_entries(conn, kind="run.finished"))
        expected = (METRICS_PER_RUN, METRICS_PER_RUN, 0, METRICS_PER_RUN - 1)
        assert counts == {r.id: expected for r in runs}
        assert artifacts == PROCESSES * RUNS_PER_PROCESS
        assert problems == []
        assert len(finished) == PROCESSES * RUNS_PER_PROCESS
        assert checked >= 3 * PROCESSES * RUNS_PER_PROCESS
        report = verify_workspace(ws)
        assert report.ok, report.problems
        assert report.runs_checked == PROCESSES * RUNS_PER_PROCESS
