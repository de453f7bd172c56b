"""``labledger run`` and ``labledger reproduce`` as a user types them."""

from __future__ import annotations

import json
import sys
import textwrap
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

    from typer.testing import Result

    from labledger.workspace.workspace import Workspace

STUDY = """
from labledger.pipelines import pipeline, step


@step
def load(n: int) -> list:
    print(f"loading {n} values")
    return list(range(n))


@step
def mean(values: list) -> float:
    return sum(values) / len(values)


@step
def check(value: float, limit: float) -> float:
    if value > limit:
        raise ValueError(f"mean {value} is above {limit}")
    return value


@pipeline
def study(n: int = 4, limit: float = 100.0) -> None:
    check(mean(load(n)), limit)
"""


@pytest.fixture
def study_file(tmp_path: Path) -> Iterator[str]:
    path = tmp_path / "cli_study.py"
    path.write_text(textwrap.dedent(STUDY))
    yield str(path)
    sys.modules.pop("cli_study", None)
    if str(tmp_path) in sys.path:
        sys.path.remove(str(tmp_path))


def test_run_then_rerun_from_cache_with_json(
    cli: Callable[..., Result], workspace: Workspace, study_file: str
) -> None:
    where = str(workspace.settings.root)
    first = cli("run", f"{study_file}:study", "-p", "n=6", "-w", where)
    assert first.exit_code == 0, first.output
    assert "3 ran, 0 cached" in first.stdout
    again = cli("run", f"{study_file}:study", "-p", "n=6", "-w", where, "--json")
    assert again.exit_code == 0, again.output
    document = json.loads(again.stdout)
    assert [t["status"] for t in document["tasks"]] == ["cached"] * 3
    forced = cli("run", f"{study_file}:study", "-p", "n=6", "--no-cache", "-w", where, "--json")
    assert [t["status"] for t in json.loads(forced.stdout)["tasks"]] == ["finished"] * 3


def test_a_failing_step_prints_its_traceback_and_exits_1(
    cli: Callable[..., Result], workspace: Workspace, study_file: str
) -> None:
    result = cli("run", f"{study_file}:study", "-p", "limit=0", "-w", str(workspace.settings.root))
    assert result.exit_code == 1
    assert "ValueError: mean 1.5 is above 0.0" in result.stderr
    assert "finished steps are cached" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-p", "n=many"], "n='many' is not a valid int"),
        (["-p", "bogus=1"], "has no parameter 'bogus'"),
        (["-p", "n"], "is not key=value"),
    ],
)
def test_bad_parameters_are_one_line_errors(
    cli: Callable[..., Result], workspace: Workspace, study_file: str, args: list[str], message: str
) -> None:
    result = cli("run", f"{study_file}:study", *args, "-w", str(workspace.settings.root))
    assert result.exit_code in {1, 2}
    assert message in result.stderr


def test_unknown_pipeline_references_are_clear(
    cli: Callable[..., Result], workspace: Workspace, tmp_path: Path
) -> None:
    where = str(workspace.settings.root)
    missing = cli("run", f"{tmp_path / 'nope.py'}:study", "-w", where)
    assert missing.exit_code == 1
    assert "no file" in missing.stderr
    malformed = cli("run", "just-a-name", "-w", where)
    assert "should look like path/to/file.py:name" in malformed.stderr


def test_reproduce_reports_every_output(
    cli: Callable[..., Result], workspace: Workspace, study_file: str
) -> None:
    where = str(workspace.settings.root)
    run = json.loads(cli("run", f"{study_file}:study", "-w", where, "--json").stdout)
    result = cli("reproduce", run["run_id"][:13], "-w", where)
    assert result.exit_code == 0, result.output
    assert "3/3 outputs reproduced bit for bit" in result.stdout
    as_json = json.loads(cli("reproduce", run["run_id"], "-w", where, "--json").stdout)
    assert as_json["matched"] is True
    assert {o["node"] for o in as_json["outputs"]} == {"load", "mean", "check"}


def test_run_echoes_step_output_unless_quiet(
    cli: Callable[..., Result], workspace: Workspace, study_file: str
) -> None:
    where = str(workspace.settings.root)
    shown = cli("run", f"{study_file}:study", "-p", "n=6", "-w", where)
    assert shown.exit_code == 0, shown.output
    assert "[load] loading 6 values" in shown.stdout
    quiet = cli("run", f"{study_file}:study", "-p", "n=7", "-w", where, "--quiet")
    assert quiet.exit_code == 0, quiet.output
    assert "loading 7 values" not in quiet.output
    as_json = cli("run", f"{study_file}:study", "-p", "n=8", "-w", where, "--json")
    assert json.loads(as_json.stdout)["status"] == "finished"
    assert "[load] loading 8 values" in as_json.stderr


def test_runs_logs_prints_each_steps_log_under_a_header(
    cli: Callable[..., Result], workspace: Workspace, study_file: str
) -> None:
    where = str(workspace.settings.root)
    run = json.loads(cli("run", f"{study_file}:study", "-w", where, "--json", "-q").stdout)
    every = cli("runs", "logs", run["run_id"][:13], "-w", where)
    assert every.exit_code == 0, every.output
    lines = [line.rstrip("─ ") for line in every.stdout.splitlines()]
    assert lines == [
        "load (finished)",
        "loading 4 values",
        "mean (finished)",
        "printed nothing",
        "check (finished)",
        "printed nothing",
    ]
    one = cli("runs", "logs", run["run_id"], "load", "-w", where, "--json")
    assert [(log["node"], log["text"]) for log in json.loads(one.stdout)] == [
        ("load", "loading 4 values\n")
    ]
    unknown = cli("runs", "logs", run["run_id"], "lode", "-w", where)
    assert unknown.exit_code == 1
    assert "its steps: load, mean, check" in unknown.stderr


def test_an_error_in_the_pipelines_module_shows_the_users_frames_only(
    cli: Callable[..., Result], workspace: Workspace, tmp_path: Path
) -> None:
    broken = tmp_path / "broken_study.py"
    broken.write_text("from labledger.pipelines import pipeline\n\nframe = pd.DataFrame()\n")
    result = cli("run", f"{broken}:study", "-w", str(workspace.settings.root))
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "Traceback (most recent call last):",
        f'  File "{broken}", line 3, in <module>',
        "    frame = pd.DataFrame()",
        "            ^^",
        "NameError: name 'pd' is not defined",
        f"error: importing {broken} failed at {broken}, line 3: NameError: name 'pd' is not "
        f"defined (define or import 'pd' before {broken}, line 3, e.g. import pandas as pd)",
    ]


def test_status_and_explain_name_what_changed(
    cli: Callable[..., Result], workspace: Workspace, study_file: str
) -> None:
    where = str(workspace.settings.root)
    assert "would run" in cli("status", f"{study_file}:study", "-w", where).output
    cli("run", f"{study_file}:study", "-q", "-w", where)
    up = cli("status", f"{study_file}:study", "-w", where)
    assert up.exit_code == 0
    assert "up to date, all 3 steps cached" in up.output
    changed = cli("status", f"{study_file}:study", "-p", "n=5", "-w", where, "--json")
    document = json.loads(changed.output)
    load = document["steps"][0]
    assert (load["node"], load["state"]) == ("load", "run")
    assert load["reasons"][0]["message"] == "param n: 4 -> 5"
    explained = cli("run", f"{study_file}:study", "-p", "n=5", "-q", "--explain", "-w", where)
    assert "param n: 4 -> 5" in explained.output
    assert "3 ran" in explained.output or "ran" in explained.output


def test_dask_missing_is_said_before_any_run_is_made(
    cli: Callable[..., Result],
    workspace: Workspace,
    study_file: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import importlib.util

    from labledger.tracking.query import search_runs

    found = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *args: None if name == "distributed" else found(name, *args),
    )
    where = str(workspace.settings.root)
    result = cli("run", f"{study_file}:study", "--dask", "local", "-w", where)
    assert result.exit_code == 1
    assert "Dask is not installed" in result.output and "labledger[dask]" in result.output
    assert search_runs(workspace=workspace) == []  # no failed run left behind


def test_a_run_goes_into_the_project_it_names(
    cli: Callable[..., Result], study_file: str, workspace: Workspace
) -> None:
    where = str(workspace.settings.root)
    made = cli(
        "run", f"{study_file}:study", "-p", "n=6", "--project", "assay", "-w", where, "--json"
    )
    assert made.exit_code == 0, made.output
    run_id = json.loads(made.stdout)["run_id"]
    listed = cli("runs", "list", "--project", "assay", "-w", where, "--json")
    assert [run["id"] for run in json.loads(listed.stdout)] == [run_id]
