"""Two processes running one pipeline at once, and a run killed mid-way: nothing lost, nothing twice."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa

from labledger.pipelines import load_pipeline
from labledger.workspace import schema
from tests.conftest import subprocess_env

if TYPE_CHECKING:
    from labledger.workspace.workspace import Workspace

PIPELINE = """
import os
import signal
import time

from labledger.pipelines import pipeline, step


@step
def slow_numbers(n: int) -> list:
    time.sleep(0.3)
    return list(range(n))


@step
def slow_total(values: list) -> int:
    time.sleep(0.3)
    return sum(values)


@step
def maybe_die(value: int, die: bool) -> int:
    if die:
        os.kill(os.getpid(), signal.SIGKILL)
    return value * 2


@pipeline
def study(n: int = 10, die: bool = False) -> None:
    maybe_die(slow_total(slow_numbers(n)), die)
"""

RUNNER = """
import sys
import labledger
from labledger.pipelines import load_pipeline

ws = labledger.open_workspace(sys.argv[1])
result = load_pipeline(sys.argv[2]).run(workspace=ws, die=sys.argv[3] == "die")
print(result.status, ",".join(result.executed))
"""


def _write(tmp_path: Path) -> tuple[str, Path]:
    (tmp_path / "concurrent_study.py").write_text(textwrap.dedent(PIPELINE))
    runner = tmp_path / "run_study.py"
    runner.write_text(textwrap.dedent(RUNNER))
    return f"{tmp_path / 'concurrent_study.py'}:study", runner


def _start(workspace: Workspace, ref: str, runner: Path, mode: str) -> subprocess.Popen[str]:
    # This checkout's labledger first, then the test modules.
    env = subprocess_env(Path.cwd())
    return subprocess.Popen(
        [sys.executable, str(runner), str(workspace.settings.root), ref, mode],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def test_two_runs_at_once_both_finish_and_store_each_artifact_once(
    workspace: Workspace, tmp_path: Path
) -> None:
    ref, runner = _write(tmp_path)
    first, second = (_start(workspace, ref, runner, "live") for _ in range(2))
    outputs = [p.communicate(timeout=120) for p in (first, second)]
    for (out, err), proc in zip(outputs, (first, second), strict=True):
        assert proc.returncode == 0, err
        assert out.startswith("finished")
    with workspace.read() as conn:
        runs = conn.execute(
            sa.select(schema.runs.c.status).where(schema.runs.c.kind == "pipeline")
        ).scalars()
        assert sorted(runs) == ["finished", "finished"]
        artifacts = conn.execute(
            sa.select(schema.artifacts.c.name, schema.artifacts.c.digest)
        ).all()
    names = [name for name, _ in artifacts if name in {"slow_numbers", "slow_total", "maybe_die"}]
    assert sorted(names) == ["maybe_die", "slow_numbers", "slow_total"]


def _pipeline_runs(ws: Workspace) -> list[tuple[str, str]]:
    with ws.read() as conn:
        rows = conn.execute(
            sa.select(schema.runs.c.id, schema.runs.c.status)
            .where(schema.runs.c.kind == "pipeline")
            .order_by(schema.runs.c.id)
        ).all()
    return [(row.id, row.status) for row in rows]


def test_a_run_killed_mid_way_is_sealed_crashed_by_the_rerun_which_resumes(
    workspace: Workspace, tmp_path: Path
) -> None:
    ref, runner = _write(tmp_path)
    killed = _start(workspace, ref, runner, "die")
    killed.communicate(timeout=120)
    assert killed.returncode == -9
    import labledger

    reopened = labledger.open_workspace(str(workspace.settings.root))
    try:
        # Opening reads: the dead run keeps its status, and reading it says it lost its lease.
        [(dead_id, status)] = _pipeline_runs(reopened)
        assert status == "running"
        assert (labledger.get_run(dead_id, workspace=reopened).lost or "").endswith("is gone")
        result = load_pipeline(ref).run(workspace=reopened)
        assert result.cached == ["slow_numbers", "slow_total"]
        assert result.executed == ["maybe_die"]
        assert _pipeline_runs(reopened) == [(dead_id, "crashed"), (result.run_id, "finished")]
        assert labledger.verify(workspace=reopened).ok
    finally:
        reopened.close()
        sys.modules.pop("concurrent_study", None)
