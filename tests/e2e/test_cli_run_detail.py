"""``labledger runs show`` of a pipeline run, ``artifacts list -r`` of a partly cached run, help."""

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
def scale(values: list, factor: float) -> list:
    return [v * factor for v in values]


@pipeline
def study(n: int = 4, factor: float = 1.0) -> None:
    scale(load(n), factor)
"""


@pytest.fixture
def study_file(tmp_path: Path) -> Iterator[str]:
    path = tmp_path / "detail_study.py"
    path.write_text(textwrap.dedent(STUDY))
    yield str(path)
    sys.modules.pop("detail_study", None)
    if str(tmp_path) in sys.path:
        sys.path.remove(str(tmp_path))


@pytest.fixture
def partly_cached(
    cli: Callable[..., Result], workspace: Workspace, study_file: str
) -> tuple[str, str]:
    """A run where ``load`` came from the cache and ``scale`` ran; its id and the workspace."""
    where = str(workspace.settings.root)
    assert cli("run", f"{study_file}:study", "-w", where).exit_code == 0
    second = cli("run", f"{study_file}:study", "-p", "factor=2", "-w", where, "--json")
    assert second.exit_code == 0, second.output
    return json.loads(second.stdout)["run_id"], where


def test_show_lists_tasks_outputs_logs_metadata_and_collections(
    cli: Callable[..., Result], partly_cached: tuple[str, str]
) -> None:
    run_id, where = partly_cached
    assert cli("metadata", "define", "dose", "number", "--unit", "mg", "-w", where).exit_code == 0
    assert cli("metadata", "set", run_id, "dose=5", "-w", where).exit_code == 0
    assert cli("collections", "create", "pilot", "-w", where).exit_code == 0
    assert cli("collections", "add", "pilot", run_id, "-w", where).exit_code == 0

    document = json.loads(cli("runs", "show", run_id, "-w", where, "--json").stdout)
    tasks = {task["node"]: task for task in document["tasks"]}
    assert tasks["load"]["status"] == "cached"
    assert tasks["scale"]["status"] == "finished"  # as `labledger run` says it
    assert tasks["scale"]["duration_s"] is not None
    outputs = {output["node"]: output for output in document["outputs"]}
    assert outputs["load"]["produced"] is False
    assert outputs["scale"]["produced"] is True
    assert document["metadata"] == [{"field": "dose", "value": 5.0, "unit": "mg"}]
    assert document["collections"] == ["pilot"]

    table = cli("runs", "show", run_id, "-w", where).stdout
    lines = table.splitlines()
    assert any("load" in line and "cached" in line for line in lines)
    assert any("scale" in line and "finished" in line for line in lines)
    assert any("load" in line and "reused" in line for line in lines)
    assert any("dose" in line and "mg" in line for line in lines)
    assert "pilot" in table


def test_show_says_where_the_captured_output_is(
    cli: Callable[..., Result], workspace: Workspace, study_file: str
) -> None:
    where = str(workspace.settings.root)
    run_id = json.loads(cli("run", f"{study_file}:study", "-w", where, "--json").stdout)["run_id"]
    document = json.loads(cli("runs", "show", run_id, "-w", where, "--json").stdout)
    assert document["has_logs"] is True
    assert "labledger runs logs" in cli("runs", "show", run_id, "-w", where).stdout


def test_artifacts_of_a_partly_cached_run_include_the_reused_ones(
    cli: Callable[..., Result], partly_cached: tuple[str, str]
) -> None:
    run_id, where = partly_cached
    listed = json.loads(cli("artifacts", "list", "-r", run_id, "-w", where, "--json").stdout)
    assert sorted(a["name"] for a in listed) == ["load", "scale"]
    table = cli("artifacts", "list", "-r", run_id, "-w", where).stdout
    load = next(line for line in table.splitlines() if "│ load" in line or " load " in line)
    assert "reused" in load


def test_ambiguous_short_prefix_is_named_so(
    cli: Callable[..., Result], partly_cached: tuple[str, str]
) -> None:
    run_id, where = partly_cached
    result = cli("runs", "show", run_id[:4], "-w", where)
    assert result.exit_code == 1
    assert "ambiguous" in result.stderr
    assert "2 runs" in result.stderr


def test_help_shows_no_type_for_flags_and_a_working_reproduce_example(
    cli: Callable[..., Result],
) -> None:
    for command in (("runs", "list"), ("artifacts", "get"), ("collections", "show")):
        assert "<bool>" not in "\n".join(
            line for line in cli(*command, "--help").stdout.splitlines() if "--help" not in line
        )
    example = cli("reproduce", "--help").stdout
    assert "0192f3" not in example
    assert "labledger reproduce 01a24373-178a" in example


def test_collections_show_prints_unique_ids_and_no_markup(
    cli: Callable[..., Result], workspace_factory: Callable[..., Workspace]
) -> None:
    ws = workspace_factory(runs=[{"name": f"r{i}"} for i in range(6)])
    where = str(ws.settings.root)
    ids = [r["id"] for r in json.loads(cli("runs", "list", "-w", where, "--json").stdout)]
    assert cli("collections", "create", "set", "-w", where).exit_code == 0
    assert cli("collections", "add", "set", *ids, "-w", where).exit_code == 0
    table = cli("collections", "show", "set", "-w", where).stdout
    assert "[bold]" not in table
    for line in (line for line in table.splitlines() if line.startswith("│ run")):
        shown = line.split("│")[2].strip()
        assert cli("runs", "show", shown, "-w", where).exit_code == 0, shown


def test_show_and_compare_name_the_files_runs_read(
    cli: Callable[..., Result],
    workspace: Workspace,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tests.unit.pipelines import file_pipelines as fp

    monkeypatch.chdir(tmp_path)
    (tmp_path / "assay.csv").write_text("1")
    first = fp.by_string.run(workspace=workspace)
    (tmp_path / "assay.csv").write_text("2")
    second = fp.by_string.run(workspace=workspace)
    where = str(workspace.settings.root)
    shown = cli("runs", "show", first.run_id, "-w", where).output
    assert "files read" in shown and "assay.csv" in shown
    compared = cli("runs", "compare", first.run_id, second.run_id, "-w", where).output
    assert "≠ file assay.csv" in compared
