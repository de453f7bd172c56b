"""Pipelines run from a script, a package module or code without a file: re-executable or told why not."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from typing import TYPE_CHECKING

import pytest
import sqlalchemy as sa

from labledger._foundation.errors import ValidationError
from labledger.lineage import ReproStatus, explain_status
from labledger.pipelines import reproduce
from labledger.workspace import schema

if TYPE_CHECKING:
    from pathlib import Path

    from labledger.workspace.workspace import Workspace

BODY = """
from labledger.pipelines import pipeline, step

{imports}


@step
def draw(n: int) -> list:
    return [{scale} * i for i in range(n)]


@step
def total(values: list) -> int:
    return sum(values)


@pipeline
def main_pipe(n: int = 4) -> None:
    total(draw(n))


print("module", __name__, "imported")
"""

GUARDED = """
if __name__ == "__main__":
    print(main_pipe.run(n=5).run_id)
"""

UNGUARDED = """
print(main_pipe.run(n=5).run_id)
"""


def _script(imports: str = "", scale: str = "2") -> str:
    return textwrap.dedent(BODY).format(imports=imports, scale=scale)


def _python(workspace: Workspace, *args: str, cwd: Path) -> str:
    env = {**os.environ, "LABLEDGER_URI": str(workspace.settings.root)}
    done = subprocess.run(
        [sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


def _recorded(workspace: Workspace, run_id: str) -> sa.Row:
    with workspace.read() as conn:
        return conn.execute(
            sa.select(schema.pipeline_runs).where(schema.pipeline_runs.c.run_id == run_id)
        ).one()


def _runs(workspace: Workspace) -> int:
    with workspace.read() as conn:
        return len(conn.execute(sa.select(schema.runs.c.id)).all())


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "project"
    folder.mkdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    return folder


def test_a_script_run_with_python_is_reproduced_without_running_its_main_block(
    workspace: Workspace, project: Path
) -> None:
    (project / "study_script.py").write_text(_script() + GUARDED)
    run_id = _python(workspace, "study_script.py", cwd=project)
    recorded = _recorded(workspace, run_id)
    assert recorded.pipeline == "study_script:main_pipe"
    assert recorded.replay_error is None
    assert explain_status("total", workspace=workspace).status is ReproStatus.REPRODUCIBLE
    result = reproduce(run_id, workspace=workspace)
    assert result.error is None, (result.error, result.hint)
    assert result.matched and len(result.checks) == 2
    assert _runs(workspace) == 2  # the original and the re-run: the guarded block ran once


def test_a_script_that_imports_multiprocessing_is_recorded_by_its_own_name(
    workspace: Workspace, project: Path
) -> None:
    # multiprocessing (under joblib and scikit-learn) also registers the script as __mp_main__.
    (project / "mp_script.py").write_text(_script("import multiprocessing.spawn") + GUARDED)
    run_id = _python(workspace, "mp_script.py", cwd=project)
    assert _recorded(workspace, run_id).pipeline == "mp_script:main_pipe"
    with workspace.read() as conn:
        steps = set(
            conn.execute(
                sa.select(schema.tasks.c.step).where(schema.tasks.c.run_id == run_id)
            ).scalars()
        )
    assert steps == {"mp_script:draw", "mp_script:total"}
    result = reproduce(run_id, workspace=workspace)
    assert result.matched, (result.error, result.hint)


def test_a_module_run_with_python_dash_m_keeps_its_package(
    workspace: Workspace, project: Path
) -> None:
    package = project / "lab"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "scales.py").write_text("FACTOR = 3\n")
    source = _script(imports="from . import scales", scale="scales.FACTOR")
    (package / "study.py").write_text(source + GUARDED)
    run_id = _python(workspace, "-m", "lab.study", cwd=project)
    assert _recorded(workspace, run_id).pipeline == "lab.study:main_pipe"
    result = reproduce(run_id, workspace=workspace)
    assert result.error is None, (result.error, result.hint)
    assert result.matched


def test_a_script_that_runs_its_pipeline_on_import_is_not_replayed(
    workspace: Workspace, project: Path
) -> None:
    # Importing it again would run the pipeline a second time (with the cache, outside the
    # reproduction), so the run records that it cannot be re-executed and says how to fix it.
    (project / "loose_script.py").write_text(_script() + UNGUARDED)
    run_id = _python(workspace, "loose_script.py", cwd=project)
    error = _recorded(workspace, run_id).replay_error
    assert error is not None
    assert "loose_script.py" in error and 'if __name__ == "__main__":' in error
    why = explain_status("total", workspace=workspace)
    assert why.status is ReproStatus.UNVERIFIABLE
    assert any(error in reason for reason in why.reasons), why.reasons
    with pytest.raises(ValidationError, match="cannot be re-executed"):
        reproduce(run_id, workspace=workspace)
    assert _runs(workspace) == 1


@pytest.mark.parametrize("namespace", [{}, {"__name__": "__main__"}], ids=["exec", "cell"])
def test_a_pipeline_without_a_source_file_is_unverifiable_and_refused(
    workspace: Workspace, namespace: dict[str, object]
) -> None:
    exec(compile(_script(), "<cell>", "exec"), namespace)
    run = namespace["main_pipe"].run(workspace=workspace)  # type: ignore[attr-defined]
    error = _recorded(workspace, run.run_id).replay_error
    assert error is not None and "<cell>" in error and "not in a source file" in error
    why = explain_status("total", workspace=workspace)
    assert why.status is ReproStatus.UNVERIFIABLE
    assert any("cannot be re-executed" in reason for reason in why.reasons), why.reasons
    with pytest.raises(ValidationError, match="not in a source file"):
        reproduce(run.run_id, workspace=workspace)
    assert _runs(workspace) == 1


def test_a_pipeline_made_inside_a_function_is_found_by_its_module_level_name(
    workspace: Workspace, project: Path
) -> None:
    source = textwrap.dedent(
        """
        from labledger.pipelines import pipeline, step


        @step
        def draw(n: int) -> list:
            return list(range(n))


        def make():
            @pipeline
            def body(n: int = 3) -> None:
                draw(n)

            return body


        daily = make()
        hidden = [make()]

        if __name__ == "__main__":
            import sys

            chosen = daily if sys.argv[1] == "daily" else hidden[0]
            print(chosen.run().run_id)
        """
    )
    (project / "factory_script.py").write_text(source)
    found = _python(workspace, "factory_script.py", "daily", cwd=project)
    assert _recorded(workspace, found).pipeline == "factory_script:daily"
    assert reproduce(found, workspace=workspace).matched
    lost = _python(workspace, "factory_script.py", "hidden", cwd=project)
    error = _recorded(workspace, lost).replay_error
    assert error is not None and "module-level" in error, _recorded(workspace, lost)
