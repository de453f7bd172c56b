"""Reproducing a run from its code snapshot: digests compared, matches recorded as verified."""

from __future__ import annotations

import sys
import textwrap
from typing import TYPE_CHECKING

import pytest
import sqlalchemy as sa

from labledger._foundation.errors import NotFoundError, ValidationError
from labledger.pipelines import load_pipeline, reproduce
from labledger.workspace import schema

if TYPE_CHECKING:
    from pathlib import Path

    from labledger.workspace.workspace import Workspace

HELPERS = """
OFFSET = 3


def shift(values):
    return [v + OFFSET for v in values]
"""

PIPELINE = """
import random
import time

from labledger.pipelines import pipeline, step

import repro_helpers


@step
def draw(n: int) -> list:
    return [random.randint(0, 100) for _ in range(n)]


@step
def shifted(values: list) -> list:
    return repro_helpers.shift(values)


@step(deterministic=False)
def stamp(values: list) -> dict:
    return {"at": time.time_ns(), "n": len(values)}


@pipeline
def study(n: int = 4, with_stamp: bool = False) -> None:
    values = shifted(draw(n))
    if with_stamp:
        stamp(values)
"""


@pytest.fixture
def study(tmp_path: Path):
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "repro_helpers.py").write_text(textwrap.dedent(HELPERS))
    (folder / "repro_study.py").write_text(textwrap.dedent(PIPELINE))
    yield load_pipeline(f"{folder / 'repro_study.py'}:study"), folder
    for name in ("repro_study", "repro_helpers"):
        sys.modules.pop(name, None)
    sys.path.remove(str(folder))


def test_reproduce_matches_every_output_and_marks_them_verified(
    workspace: Workspace, study
) -> None:
    pipeline, folder = study
    run = pipeline.run(workspace=workspace, n=5, seed=11)
    # Editing the working tree afterwards must not matter: the snapshot is what re-runs.
    (folder / "repro_helpers.py").write_text("OFFSET = 1000\ndef shift(v):\n    return v\n")
    result = reproduce(run.run_id, workspace=workspace)
    assert result.error is None, result.error
    assert result.matched
    assert {c.node for c in result.checks} == {"draw", "shifted"}
    with workspace.read() as conn:
        rows = conn.execute(sa.select(schema.verifications)).all()
        rerun = conn.execute(
            sa.select(schema.pipeline_runs).where(schema.pipeline_runs.c.run_id == result.rerun_id)
        ).one()
    assert {r.artifact_id for r in rows if r.matched} == set(
        run.tasks["draw"].outputs.values()
    ) | set(run.tasks["shifted"].outputs.values())
    assert rerun.reproduces == run.run_id
    assert rerun.seed == 11


def test_a_step_that_is_not_deterministic_is_reported_as_differing(
    workspace: Workspace, study
) -> None:
    pipeline, _ = study
    run = pipeline.run(workspace=workspace, with_stamp=True)
    result = reproduce(run.run_id, workspace=workspace)
    assert not result.matched
    differing = [c for c in result.checks if not c.matched]
    assert [(c.node, c.deterministic) for c in differing] == [("stamp", False)]


def test_only_pipeline_runs_can_be_reproduced(workspace: Workspace) -> None:
    import labledger

    with labledger.start_run(workspace=workspace) as tracked:
        pass
    with pytest.raises(ValidationError, match="not a pipeline run"):
        reproduce(tracked.id, workspace=workspace)
    with pytest.raises(NotFoundError, match="no run"):
        reproduce("ffffffff", workspace=workspace)
