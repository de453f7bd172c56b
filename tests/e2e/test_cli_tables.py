"""Tables at the widths people use: no value broken mid-word, short ids that stay unique."""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from collections.abc import Callable

    from typer.testing import Result

    from labledger.workspace.workspace import Workspace

_ROW = re.compile(r"^│ (\S+)\s+│")


def _where(ws: Workspace) -> str:
    return str(ws.settings.root)


def _rows(output: str) -> list[str]:
    """The body lines of a table (those between its header and its bottom border)."""
    return [line for line in output.splitlines() if line.startswith("│")]


@pytest.fixture
def many_runs(workspace_factory: Callable[..., Workspace]) -> Workspace:
    """Twelve runs made within a second: their ids share at least their first 8 characters."""
    return workspace_factory(
        runs=[
            {
                "name": f"experiment-{i:02d}",
                "params": {"seed": i},
                "metrics": {"auc": 0.5 + i / 100, "_step": i, "system/cpu": 90.0},
                "artifacts": {f"table-{i:02d}.json": {"i": i}},
            }
            for i in range(12)
        ]
    )


@pytest.mark.parametrize("width", [80, 100])
def test_runs_list_keeps_every_value_whole_at_common_widths(
    cli: Callable[..., Result],
    many_runs: Workspace,
    monkeypatch: pytest.MonkeyPatch,
    width: int,
) -> None:
    monkeypatch.setenv("COLUMNS", str(width))
    result = cli("runs", "list", "-w", _where(many_runs))
    assert result.exit_code == 0, result.output
    rows = _rows(result.stdout)
    assert len(rows) == 12  # one line per run: nothing wrapped
    for i, row in enumerate(reversed(rows)):
        assert f"experiment-{i:02d}" in row
        assert "finished" in row
    assert all(len(line) <= width for line in result.stdout.splitlines())
    if width == 80:
        assert "--wide" in result.stdout  # says what was hidden and how to see it


def test_shown_ids_are_the_shortest_prefixes_unique_in_the_catalog(
    cli: Callable[..., Result], many_runs: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    every = [
        r["id"] for r in json.loads(cli("runs", "list", "-w", _where(many_runs), "--json").stdout)
    ]
    # One run on screen, eleven more in the catalog: its id must still name it alone.
    shown = _ROW.match(_rows(cli("runs", "list", "-n", "1", "-w", _where(many_runs)).stdout)[0])
    assert shown is not None
    prefix = shown.group(1)
    assert len(prefix) >= 8
    assert [i for i in every if i.startswith(prefix)] == [every[0]]
    # The shortest such prefix: one character less names another run too.
    assert len(prefix) == 8 or any(i.startswith(prefix[:-1].rstrip("-")) for i in every[1:])
    result = cli("runs", "show", prefix, "-w", _where(many_runs), "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["id"] == every[0]


def test_wide_shows_every_column_and_whole_ids(
    cli: Callable[..., Result], many_runs: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    every = [
        r["id"] for r in json.loads(cli("runs", "list", "-w", _where(many_runs), "--json").stdout)
    ]
    result = cli("runs", "list", "--wide", "-w", _where(many_runs))
    assert result.exit_code == 0, result.output
    for column in ("started", "duration", "auc"):
        assert column in result.stdout
    assert all(id_ in result.stdout for id_ in every)
    assert "hidden" not in result.stdout


def test_default_metric_columns_skip_internal_names_and_metrics_chooses(
    cli: Callable[..., Result], many_runs: Workspace
) -> None:
    table = cli("runs", "list", "-w", _where(many_runs)).stdout
    assert "auc" in table
    assert "_step" not in table
    assert "system/cpu" not in table
    chosen = cli("runs", "list", "--metrics", "_step,auc", "-w", _where(many_runs)).stdout
    assert "_step" in chosen
    assert "auc" in chosen


@pytest.mark.parametrize("width", [80, 100])
def test_artifacts_list_is_one_line_per_artifact_with_short_ids(
    cli: Callable[..., Result],
    many_runs: Workspace,
    monkeypatch: pytest.MonkeyPatch,
    width: int,
) -> None:
    monkeypatch.setenv("COLUMNS", str(width))
    listed = json.loads(cli("artifacts", "list", "-w", _where(many_runs), "--json").stdout)
    result = cli("artifacts", "list", "-w", _where(many_runs))
    assert result.exit_code == 0, result.output
    rows = _rows(result.stdout)
    assert len(rows) == len(listed) == 12
    for artifact, row in zip(listed, rows, strict=True):
        shown = _ROW.match(row)
        assert shown is not None
        assert 8 <= len(shown.group(1)) < 36
        assert artifact["id"].startswith(shown.group(1))
        assert artifact["name"] in row
    assert all(len(line) <= width for line in result.stdout.splitlines())


def test_compare_takes_spread_as_lower_is_better_and_marks_differing_params(
    cli: Callable[..., Result], workspace_factory: Callable[..., Workspace]
) -> None:
    ws = workspace_factory(
        runs=[
            {"name": "steady", "params": {"c": 1, "k": 5}, "metrics": {"cv_auc_std": 0.01}},
            {"name": "shaky", "params": {"c": 2, "k": 5}, "metrics": {"cv_auc_std": 0.2}},
        ]
    )
    runs = json.loads(cli("runs", "list", "-w", _where(ws), "--json").stdout)
    by_name = {run["name"]: run["id"] for run in runs}
    compared = json.loads(
        cli("runs", "compare", *by_name.values(), "-w", _where(ws), "--json").stdout
    )
    assert compared["best"]["cv_auc_std"] == by_name["steady"]
    table = cli("runs", "compare", *by_name.values(), "-w", _where(ws)).stdout
    assert "≠ params.c" in table
    assert "≠ params.k" not in table
    std_line = next(line for line in table.splitlines() if "cv_auc_std" in line)
    assert "lower" in std_line
    assert "0.01 *" in std_line


def test_ids_in_one_column_have_one_length(
    cli: Callable[..., Result], populated: Workspace
) -> None:
    import re

    out = cli("runs", "list", "-w", str(populated.settings.root)).output
    ids = re.findall(r"\b[0-9a-f]{8}-[0-9a-f-]*", out)
    assert ids and len({len(i) for i in ids}) == 1
