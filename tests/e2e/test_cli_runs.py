"""``labledger runs``: list, search, show and compare, as tables and as JSON."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

    import pytest
    from typer.testing import Result

    from labledger.workspace.workspace import Workspace


def _where(ws: Workspace) -> str:
    return str(ws.settings.root)


def test_list_shows_every_run_newest_first(
    cli: Callable[..., Result], populated: Workspace
) -> None:
    result = cli("runs", "list", "-w", _where(populated))
    assert result.exit_code == 0, result.output
    lines = result.stdout
    assert lines.index("forest") < lines.index("tuned") < lines.index("baseline")
    for column in ("id", "name", "status", "started", "duration", "auc", "loss"):
        assert column in lines
    assert "finished" in lines


def test_list_json_parses_and_respects_limit_filter_and_order(
    cli: Callable[..., Result], populated: Workspace
) -> None:
    result = cli(
        "runs", "list", "-w", _where(populated), "--filter", "params.model = 'gbm'",
        "--order-by", "metrics.auc desc", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    runs = json.loads(result.stdout)
    assert [run["name"] for run in runs] == ["tuned", "baseline"]
    assert runs[0]["metrics"] == {"auc": 0.85, "loss": 0.3}
    assert runs[0]["params"] == {"lr": "0.05", "model": "gbm"}

    limited = json.loads(cli("runs", "list", "-w", _where(populated), "-n", "1", "--json").stdout)
    assert [run["name"] for run in limited] == ["forest"]


def test_workspace_comes_from_labledger_uri(
    cli: Callable[..., Result], populated: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LABLEDGER_URI", _where(populated))
    runs = json.loads(cli("runs", "list", "--json").stdout)
    assert len(runs) == 3


def test_search_takes_the_filter_as_argument(
    cli: Callable[..., Result], populated: Workspace
) -> None:
    result = cli(
        "runs",
        "search",
        "metrics.auc > 0.78 and tags.team = 'core'",
        "-w",
        _where(populated),
        "--json",
    )
    assert result.exit_code == 0, result.output
    assert [run["name"] for run in json.loads(result.stdout)] == ["forest"]

    table = cli("runs", "search", "metrics.auc > 5", "-w", _where(populated))
    assert table.exit_code == 0
    assert "no runs match" in table.stdout


def test_show_json_has_params_metrics_history_and_seal(
    cli: Callable[..., Result], populated: Workspace
) -> None:
    runs = json.loads(cli("runs", "list", "-w", _where(populated), "--json").stdout)
    baseline = next(run for run in runs if run["name"] == "baseline")
    result = cli("runs", "show", baseline["id"], "-w", _where(populated), "--json")
    assert result.exit_code == 0, result.output
    shown = json.loads(result.stdout)
    assert shown["id"] == baseline["id"]
    assert shown["status"] == "finished"
    assert shown["params"] == {"lr": "0.1", "model": "gbm"}
    assert shown["tags"] == {"team": "assay"}
    assert [p["value"] for p in shown["metric_history"]["auc"]] == [0.6, 0.7, 0.75]
    assert [p["step"] for p in shown["metric_history"]["loss"]] == [0, 1, 2]
    assert shown["record_digest"].startswith("blake3:")
    assert shown["environment_digest"].startswith("blake3:")
    assert shown["duration_s"] >= 0


def test_show_table_accepts_a_prefix_and_draws_history(
    cli: Callable[..., Result], populated: Workspace
) -> None:
    runs = json.loads(cli("runs", "list", "-w", _where(populated), "--json").stdout)
    baseline = next(run for run in runs if run["name"] == "baseline")
    result = cli("runs", "show", baseline["id"][:20], "-w", _where(populated))
    assert result.exit_code == 0, result.output
    for text in (
        "baseline",
        "params",
        "model",
        "gbm",
        "metrics",
        "auc",
        "tags",
        "assay",
        "environment",
    ):
        assert text in result.stdout
    assert "▁" in result.stdout and "█" in result.stdout


def test_show_lists_the_artifacts_a_tracked_run_logged(
    cli: Callable[..., Result], populated: Workspace
) -> None:
    runs = json.loads(cli("runs", "list", "-w", _where(populated), "--json").stdout)
    by_name = {run["name"]: run["id"] for run in runs}
    shown = json.loads(
        cli("runs", "show", by_name["baseline"], "-w", _where(populated), "--json").stdout
    )
    assert sorted(a["name"] for a in shown["artifacts"]) == ["images", "scores.json"]
    assert {a["kind"] for a in shown["artifacts"]} == {"tree", "json"}
    assert all(a["digest"].startswith("blake3:") for a in shown["artifacts"])
    table = cli("runs", "show", by_name["tuned"], "-w", _where(populated)).stdout
    assert "artifacts" in table and "model.bin" in table and "scores.json" not in table
    # an id shown in the table opens the artifact
    short = next(line for line in table.splitlines() if "model.bin" in line).split("│")[-2]
    assert cli("artifacts", "show", short.strip(), "-w", _where(populated)).exit_code == 0
    bare = json.loads(
        cli("runs", "show", by_name["forest"], "-w", _where(populated), "--json").stdout
    )
    assert bare["artifacts"] == []


def test_ids_shown_in_the_table_can_be_passed_back(
    cli: Callable[..., Result], populated: Workspace
) -> None:
    runs = json.loads(cli("runs", "list", "-w", _where(populated), "--json").stdout)
    table = cli("runs", "list", "-w", _where(populated)).stdout
    for run in runs:
        shown = next(line.split()[1] for line in table.splitlines() if f" {run['name']} " in line)
        assert run["id"].startswith(shown) and len(shown) >= 8
        again = json.loads(cli("runs", "show", shown, "-w", _where(populated), "--json").stdout)
        assert again["id"] == run["id"]


def test_compare_marks_best_metric_and_differing_params(
    cli: Callable[..., Result], populated: Workspace
) -> None:
    runs = {
        r["name"]: r["id"]
        for r in json.loads(cli("runs", "list", "-w", _where(populated), "--json").stdout)
    }
    ids = [runs["baseline"], runs["tuned"], runs["forest"]]
    result = cli("runs", "compare", *ids, "-w", _where(populated), "--json")
    assert result.exit_code == 0, result.output
    comparison = json.loads(result.stdout)
    assert [run["name"] for run in comparison["runs"]] == ["baseline", "tuned", "forest"]
    assert comparison["differing_params"] == ["lr", "model"]
    assert comparison["best"] == {"auc": runs["tuned"], "loss": runs["tuned"]}

    table = cli("runs", "compare", *ids, "-w", _where(populated))
    assert table.exit_code == 0
    assert "params.lr" in table.stdout and "metrics.auc" in table.stdout
    assert "0.85 *" in table.stdout and "0.3 *" in table.stdout
    assert "0.75 *" not in table.stdout


def test_unknown_run_id_is_one_line(cli: Callable[..., Result], populated: Workspace) -> None:
    result = cli("runs", "show", "ffffffff-0000", "-w", _where(populated))
    assert result.exit_code == 1
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("error: no run with id 'ffffffff-0000'")
    assert "labledger runs list" in lines[0]


def test_malformed_filter_is_one_line(cli: Callable[..., Result], populated: Workspace) -> None:
    for args in (
        ("runs", "list", "--filter", "metrics.auc >> [0.8]"),
        ("runs", "search", "params.model = "),
        ("runs", "list", "--order-by", "metrics.auc sideways"),
    ):
        result = cli(*args, "-w", _where(populated))
        assert result.exit_code == 1, args
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, result.stderr
        assert lines[0].startswith("error: Invalid"), lines[0]
    # Brackets in a message are printed as written, not read as markup.
    assert (
        "'[bold]0190abcd'" in cli("runs", "show", "[bold]0190abcd", "-w", _where(populated)).stderr
    )


def test_a_project_that_does_not_exist_is_an_error_not_an_empty_list(
    cli: Callable[..., Result], populated: Workspace
) -> None:
    typo = cli("runs", "list", "-w", _where(populated), "--project", "defautl")
    assert typo.exit_code == 1 and "no project called 'defautl'" in typo.output
    assert "labledger projects list" in typo.output
    known = cli("runs", "list", "-w", _where(populated), "--project", "default", "--json")
    assert known.exit_code == 0 and json.loads(known.stdout)


def test_runs_of_several_projects_and_users_show_which_is_whose(
    cli: Callable[..., Result], populated: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    import labledger
    from labledger.workspace.workspace import Workspace

    plain = cli("runs", "list", "-w", _where(populated))
    assert "project" not in plain.stdout  # one person's runs in the default project
    monkeypatch.setenv("LABLEDGER_USER", "bea")
    with (
        Workspace.open(_where(populated)) as as_bea,
        labledger.start_run("screen", project="screening", workspace=as_bea),
    ):
        pass
    mixed = cli("runs", "list", "-w", _where(populated), "--wide")
    assert mixed.exit_code == 0, mixed.output
    header = mixed.stdout.splitlines()[1]
    assert "project" in header and "user" in header
    row = next(line for line in mixed.stdout.splitlines() if "screen" in line)
    assert "screening" in row and "bea" in row
    runs = json.loads(cli("runs", "list", "-w", _where(populated), "--json").stdout)
    assert {run["name"]: run["project"] for run in runs}["screen"] == "screening"
    assert {run["project"] for run in runs} == {"default", "screening"}
    screen = next(run for run in runs if run["name"] == "screen")
    shown = json.loads(cli("runs", "show", screen["id"], "-w", _where(populated), "--json").stdout)
    assert (shown["project"], shown["project_id"]) == ("screening", screen["project_id"])
    table = cli("runs", "show", screen["id"], "-w", _where(populated))
    assert any("project" in line and "screening" in line for line in table.stdout.splitlines())


def test_a_search_that_finds_nothing_names_a_key_no_run_has(
    cli: Callable[..., Result], populated: Workspace
) -> None:
    typo = cli("runs", "search", "metrics.acu > 0.5 and tags.team = assay", "-w", _where(populated))
    assert typo.exit_code == 0 and "no runs match" in typo.stdout
    assert "no run has metrics.acu: did you mean metrics.auc?" in typo.stderr
    assert "tags.team" not in typo.stderr  # runs have it
    as_json = cli(
        "runs", "list", "--filter", "params.mdoel = gbm", "--json", "-w", _where(populated)
    )
    assert json.loads(as_json.stdout) == []  # the hint goes to stderr: stdout stays JSON
    assert "did you mean params.model?" in as_json.stderr
    none = cli("runs", "search", "metrics.auc > 0.99", "-w", _where(populated))
    assert "no runs match" in none.stdout and none.stderr == ""  # the key exists: no hint
