"""The metadata, collections and search commands, driven through Typer's test runner."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest
from typer.testing import CliRunner

from labledger.cli import app as root

if TYPE_CHECKING:
    from labledger.tracking import ActiveRun, Artifact
    from labledger.workspace.workspace import Workspace


@pytest.fixture
def cli(workspace: Workspace) -> CliRunner:
    return CliRunner(env={"LABLEDGER_URI": str(workspace.settings.root)})


def test_define_list_set_show(cli: CliRunner, run: ActiveRun) -> None:
    result = cli.invoke(
        root,
        ["metadata", "define", "temp_c", "number", "--unit", "C", "--min", "-20", "--max", "50"],
    )
    assert result.exit_code == 0, result.output
    assert "temp_c" in result.output
    result = cli.invoke(
        root, ["metadata", "define", "line", "enum", "--choice", "HeLa", "--choice", "U2OS"]
    )
    assert result.exit_code == 0, result.output

    listed = json.loads(cli.invoke(root, ["metadata", "list", "--json"]).output)
    assert [f["name"] for f in listed] == ["line", "temp_c"]
    assert listed[1]["unit"] == "C"

    result = cli.invoke(root, ["metadata", "set", run.id, "temp_c=21.5", "line=HeLa"])
    assert result.exit_code == 0, result.output
    shown = json.loads(cli.invoke(root, ["metadata", "show", run.id, "--json"]).output)
    assert shown == {
        "target": run.id,
        "metadata": {"line": "HeLa", "temp_c": 21.5},
        "units": {"temp_c": "C"},
        "missing_required": [],
    }
    table = cli.invoke(root, ["metadata", "show", run.id]).output
    assert "HeLa" in table
    assert any("temp_c" in line and "21.5" in line and " C " in line for line in table.splitlines())

    assert cli.invoke(root, ["metadata", "remove", run.id, "line"]).exit_code == 0
    shown = json.loads(cli.invoke(root, ["metadata", "show", run.id, "--json"]).output)
    assert shown["metadata"] == {"temp_c": 21.5}


def test_set_and_collections_add_take_artifact_names_as_artifacts_show_does(
    cli: CliRunner, artifact: Artifact
) -> None:
    assert cli.invoke(root, ["metadata", "define", "temp_c", "number"]).exit_code == 0
    assert cli.invoke(root, ["artifacts", "show", artifact.name]).exit_code == 0
    result = cli.invoke(root, ["metadata", "set", artifact.name, "temp_c=4"])
    assert result.exit_code == 0, result.output
    shown = json.loads(cli.invoke(root, ["metadata", "show", artifact.digest, "--json"]).output)
    assert shown["metadata"] == {"temp_c": 4.0}
    assert cli.invoke(root, ["collections", "create", "cold"]).exit_code == 0
    result = cli.invoke(root, ["collections", "add", "cold", artifact.name])
    assert result.exit_code == 0, result.output
    members = json.loads(cli.invoke(root, ["collections", "show", "cold", "--json"]).output)
    assert [(m["kind"], m["id"]) for m in members["members"]] == [("artifact", artifact.id)]


def test_errors_are_one_line(cli: CliRunner, run: ActiveRun) -> None:
    cli.invoke(root, ["metadata", "define", "temp_c", "number", "--unit", "C", "--max", "50"])
    result = cli.invoke(root, ["metadata", "set", run.id, "temp_c=99"])
    assert result.exit_code == 1
    assert (
        "error: metadata field 'temp_c' got 99 C, outside its bounds -inf to 50 C" in result.output
    )
    result = cli.invoke(root, ["metadata", "set", run.id, "temp_c"])
    assert result.exit_code == 1
    assert "'temp_c' is not key=value" in result.output
    result = cli.invoke(root, ["search", "--where", "temp_c >"])
    assert result.exit_code == 1
    assert "expected a value after '>'" in result.output


def test_search_command(cli: CliRunner, run: ActiveRun, artifact: Artifact) -> None:
    cli.invoke(root, ["metadata", "define", "temp_c", "number"])
    cli.invoke(root, ["metadata", "set", run.id, "temp_c=30"])
    cli.invoke(root, ["metadata", "set", artifact.id, "temp_c=10"])
    hits = json.loads(cli.invoke(root, ["search", "dose", "--json"]).output)
    assert [(h["kind"], h["id"]) for h in hits] == [("run", run.id)]
    hits = json.loads(cli.invoke(root, ["search", "--where", "temp_c < 20", "--json"]).output)
    assert [h["id"] for h in hits] == [artifact.id]
    hits = json.loads(
        cli.invoke(root, ["search", "--where", "temp_c > 0", "--kind", "run", "--json"]).output
    )
    assert [h["id"] for h in hits] == [run.id]
    assert "plate-map" in cli.invoke(root, ["search", "plate"]).output


def test_collections_commands(cli: CliRunner, run: ActiveRun, artifact: Artifact) -> None:
    assert (
        cli.invoke(root, ["collections", "create", "hits", "--description", "March"]).exit_code == 0
    )
    result = cli.invoke(root, ["collections", "add", "hits", run.id, artifact.id, "model:clf"])
    assert result.exit_code == 0, result.output
    shown = json.loads(cli.invoke(root, ["collections", "show", "hits", "--json"]).output)
    assert {(m["kind"], m["id"]) for m in shown["members"]} == {
        ("run", run.id),
        ("artifact", artifact.id),
        ("model", "clf"),
    }
    assert cli.invoke(root, ["collections", "remove", "hits", "model:clf"]).exit_code == 0
    listed = json.loads(cli.invoke(root, ["collections", "list", "--json"]).output)
    assert [(c["name"], len(c["members"])) for c in listed] == [("hits", 2)]
    assert "hits" in cli.invoke(root, ["collections", "list"]).output
    assert cli.invoke(root, ["collections", "delete", "hits"], input="n\n").exit_code == 1
    assert cli.invoke(root, ["collections", "delete", "hits", "--yes"]).exit_code == 0
    result = cli.invoke(root, ["collections", "show", "hits"])
    assert result.exit_code == 1
    assert "no collection named 'hits'" in result.output


def test_every_command_has_help(cli: CliRunner) -> None:
    for args in (
        ["metadata", "define"],
        ["metadata", "list"],
        ["metadata", "set"],
        ["metadata", "show"],
        ["metadata", "remove"],
        ["collections", "create"],
        ["collections", "add"],
        ["collections", "remove"],
        ["collections", "show"],
        ["collections", "list"],
        ["collections", "delete"],
        ["search"],
    ):
        result = cli.invoke(root, [*args, "--help"])
        assert result.exit_code == 0, args
        assert "--workspace" in result.output


def test_command_modules_import_no_labledger_services() -> None:
    code = (
        "import sys\n"
        "import labledger.cli.metadata, labledger.cli.collections, labledger.cli.search\n"
        "print(sorted(m for m in sys.modules if m.startswith('labledger.metadata')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
