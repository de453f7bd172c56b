"""Finding a pipeline by reference as ``python -m`` would, and explaining what goes wrong."""

from __future__ import annotations

import sys
import textwrap
from typing import TYPE_CHECKING

import pytest

from labledger._foundation.errors import NotFoundError, PipelineImportError, ValidationError
from labledger.pipelines import Pipeline, load_pipeline

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

PIPE = """
from labledger.pipelines import pipeline, step
from lab_project.helpers import double


@step
def ingest(n: int) -> int:
    return double(n)


@pipeline
def study(n: int = 2) -> None:
    ingest(n)


@pipeline
def screen(n: int = 3) -> None:
    ingest(n)
"""


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A project folder as the working folder, which is not on sys.path (as for the console script)."""
    _write(
        tmp_path,
        {
            "lab_project/__init__.py": "",
            "lab_project/helpers.py": "def double(n):\n    return 2 * n\n",
            "lab_project/pipe.py": PIPE,
        },
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path))])
    before = set(sys.modules)
    yield tmp_path
    for name in set(sys.modules) - before:
        if name.startswith(("lab_project", "run_me", "broken_")):
            del sys.modules[name]


def test_module_reference_imports_from_the_working_folder(project: Path) -> None:
    found = load_pipeline("lab_project.pipe:study")
    assert isinstance(found, Pipeline)
    assert found.name == "study"
    assert sys.path[0] == str(project)


def test_file_reference_also_finds_the_working_folders_packages(project: Path) -> None:
    _write(project, {"scripts/run_me.py": PIPE})
    found = load_pipeline("scripts/run_me.py:screen")
    assert found.name == "screen"
    assert str(project) in sys.path
    assert sys.path[0] == str(project / "scripts")


def test_a_mistyped_module_names_the_modules_there(project: Path) -> None:
    with pytest.raises(NotFoundError) as raised:
        load_pipeline("lab_projet.pipe:study")
    assert "did you mean 'lab_project'?" in str(raised.value)
    with pytest.raises(NotFoundError) as raised:
        load_pipeline("lab_project.pip:study")
    assert "did you mean 'pipe'? modules in lab_project: helpers, pipe" in str(raised.value)


def test_a_mistyped_name_lists_the_pipelines_in_the_module(project: Path) -> None:
    with pytest.raises(NotFoundError) as raised:
        load_pipeline("lab_project.pipe:studdy")
    assert "did you mean 'study'? pipelines in it: screen, study" in str(raised.value)
    with pytest.raises(ValidationError) as not_a_pipeline:
        load_pipeline("lab_project.pipe:ingest")
    assert "is a Step, not a pipeline" in str(not_a_pipeline.value)
    assert "pipelines in lab_project.pipe: screen, study" in str(not_a_pipeline.value)


def test_a_missing_file_lists_the_python_files_beside_it(project: Path) -> None:
    _write(project, {"scripts/run_me.py": PIPE})
    with pytest.raises(NotFoundError) as raised:
        load_pipeline("scripts/run_mee.py:study")
    assert "did you mean 'run_me.py'?" in str(raised.value)


@pytest.mark.parametrize(
    ("source", "message", "fix"),
    [
        (
            "import os\n\ndef f():\n    return pd.DataFrame()\n\nf()\n",
            "NameError: name 'pd' is not defined",
            "define or import 'pd' before broken_mod.py, line 4, e.g. import pandas as pd",
        ),
        (
            "import os\nimport surely_not_installed_here\n",
            "ModuleNotFoundError: No module named 'surely_not_installed_here'",
            "-m pip install surely_not_installed_here",
        ),
        (
            "import os\nx = (\n",
            "SyntaxError: '(' was never closed",
            "fix the line the caret points at",
        ),
    ],
)
def test_errors_in_the_users_module_show_only_the_users_frames(
    project: Path, source: str, message: str, fix: str
) -> None:
    _write(project, {"broken_mod.py": source})
    for ref in ("broken_mod:study", "broken_mod.py:study"):
        with pytest.raises(PipelineImportError) as raised:
            load_pipeline(ref)
        error = raised.value
        assert message in str(error)
        assert error.hint is not None and fix in error.hint
        assert "broken_mod.py" in error.traceback
        assert error.traceback.rstrip().endswith(message)
        assert "labledger" not in error.traceback
        assert "importlib" not in error.traceback
        assert "broken_mod" not in sys.modules
