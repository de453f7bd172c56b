"""``labledger reproduce`` and ``labledger lineage`` on runs of a real script, as real processes."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa

from labledger.workspace import schema

if TYPE_CHECKING:
    from labledger.workspace.workspace import Workspace

_SCRIPT = Path(sys.executable).with_name("labledger")

STUDY = """
from pathlib import Path

from labledger import File, pipeline, step


@step
def load(path: Path) -> list:
    return [float(line.split(",")[1]) for line in path.read_text().splitlines()[1:]]


@step(reads=["settings.txt"])
def scaled(values: list) -> list:
    factor = float(Path("settings.txt").read_text().split("=")[1])
    return [v * factor for v in values]


@pipeline
def assay(path: str = "assay.csv") -> None:
    scaled(load(File(path)))


{call}
"""


def _env(workspace: Workspace) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("LABLEDGER_")}
    return {**base, "COLUMNS": "250", "NO_COLOR": "1"}


def _labledger(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    command = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "labledger"]
    return subprocess.run(
        [*command, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _study(tmp_path: Path, workspace: Workspace, call: str) -> tuple[Path, Path, str]:
    project = tmp_path / "project"
    project.mkdir()
    (project / "study.py").write_text(textwrap.dedent(STUDY).format(call=call))
    (project / "assay.csv").write_text("dose,response\n1,0.2\n2,0.4\n")
    (project / "settings.txt").write_text("factor=10\n")
    env = {**_env(workspace), "LABLEDGER_URI": str(workspace.settings.root)}
    done = subprocess.run(
        [sys.executable, "study.py"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    return project, elsewhere, done.stdout.strip().splitlines()[-1]


def test_reproduce_from_another_folder_reads_the_recorded_inputs(
    tmp_path: Path, workspace: Workspace
) -> None:
    project, elsewhere, run_id = _study(
        tmp_path, workspace, 'if __name__ == "__main__":\n    print(assay.run().run_id)'
    )
    (project / "assay.csv").unlink()
    (project / "settings.txt").write_text("factor=99\n")
    where = str(workspace.settings.root)
    done = _labledger("reproduce", run_id, "-w", where, cwd=elsewhere, env=_env(workspace))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2/2 outputs reproduced bit for bit" in done.stdout
    shown = _labledger("lineage", "scaled", "-w", where, cwd=elsewhere, env=_env(workspace))
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.splitlines()[0].endswith("verified")
    assert "because" not in shown.stdout


def test_a_script_that_runs_on_import_is_refused_and_lineage_says_why(
    tmp_path: Path, workspace: Workspace
) -> None:
    _, elsewhere, run_id = _study(tmp_path, workspace, "print(assay.run().run_id)")
    where = str(workspace.settings.root)
    done = _labledger("reproduce", run_id, "-w", where, cwd=elsewhere, env=_env(workspace))
    assert done.returncode == 1
    assert "cannot be re-executed" in done.stderr and "study.py" in done.stderr
    shown = _labledger("lineage", "scaled", "-w", where, cwd=elsewhere, env=_env(workspace))
    lines = shown.stdout.splitlines()
    assert lines[0].endswith("unverifiable")
    why = lines.index("unverifiable because:")
    assert 'outside `if __name__ == "__main__":`' in " ".join(lines[why + 1 :])
    with workspace.read() as conn:  # refused before a re-run started
        assert conn.execute(sa.select(sa.func.count()).select_from(schema.runs)).scalar() == 1
