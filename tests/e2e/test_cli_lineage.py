"""``labledger lineage`` and ``labledger prov`` over the study graph."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest
from rich.text import Text

from labledger.lineage import descendants, graph_reproducibility
from labledger.lineage.display import lineage_tree
from tests.unit.lineage.graphs import build_study

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from rich.tree import Tree
    from typer.testing import Result

    from labledger.workspace.workspace import Workspace
    from tests.unit.lineage.graphs import Study


@pytest.fixture
def study(workspace: Workspace) -> Study:
    return build_study(workspace)


def _where(study: Study) -> str:
    return str(study.workspace.settings.root)


def test_lineage_up_prints_a_tree_with_statuses(cli: Callable[..., Result], study: Study) -> None:
    result = cli("lineage", "report", "-w", _where(study))
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("report") and lines[0].endswith("reproducible")
    assert [line.split()[-1] for line in lines] == ["reproducible"] * 2 + [
        "verified",
        "reproducible",
        "reproducible",
        "reproducible",
        "reproducible",
    ]
    assert "train.model" in lines[2] and "task train" in lines[3] and "raw.csv" in lines[6]


def test_lineage_down_marks_repeats_and_cached_tasks(
    cli: Callable[..., Result], study: Study
) -> None:
    result = cli("lineage", "raw.csv", "--down", "-w", _where(study))
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "cached" in out and "(shown above)" in out
    assert out.count("noisy  bin") == 1
    assert "unverifiable" in out


def test_lineage_json(cli: Callable[..., Result], study: Study) -> None:
    result = cli(
        "lineage", study.artifacts["raw"], "--down", "--depth", "1", "--json", "-w", _where(study)
    )
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert (document["root"], document["direction"], document["depth"]) == (
        study.artifacts["raw"],
        "down",
        1,
    )
    nodes = {n["id"]: n for n in document["nodes"]}
    assert set(nodes) == study.ids("raw", "task:clean", "task:clean2", "clean")
    assert nodes[study.artifacts["clean"]]["reproducibility"] == "reproducible"
    assert nodes[study.tasks["clean2"]]["status"] == "cached"
    cached = [e for e in document["edges"] if e["cached"]]
    assert cached == [
        {
            "source": study.tasks["clean2"],
            "target": study.artifacts["clean"],
            "name": "out",
            "cached": True,
        }
    ]


def test_broken_shows_in_the_output(cli: Callable[..., Result], study: Study) -> None:
    study.workspace.store.delete(study.digest("model"))
    result = cli("lineage", "report", "--json", "-w", _where(study))
    statuses = {n["name"]: n["reproducibility"] for n in json.loads(result.stdout)["nodes"]}
    assert statuses["train.model"] == statuses["report"] == "broken"
    assert statuses["raw.csv"] == statuses["clean"] == "reproducible"


def _styles(tree: Tree) -> dict[str, set[str]]:
    """Each label's plain text and the styles of its spans, for the whole tree."""
    found: dict[str, set[str]] = {}
    pending = [tree]
    while pending:
        node = pending.pop()
        assert isinstance(node.label, Text)
        found[node.label.plain] = {str(span.style) for span in node.label.spans}
        pending += node.children
    return found


def test_tree_colours_follow_the_status(study: Study) -> None:
    ws = study.workspace
    study.workspace.store.delete(study.digest("score"))
    graph = descendants("raw.csv", workspace=ws)
    tree = lineage_tree(graph, graph_reproducibility(graph, workspace=ws))
    styles = _styles(tree)
    expected = {
        "train.model": "green",
        "clean": "blue",
        "noisy": "yellow",
        "eval": "red",
    }
    for name, colour in expected.items():
        label = next(text for text in styles if text.startswith(f"{name}  "))
        assert colour in styles[label], (name, styles[label])


def test_unknown_refs_fail_with_one_line(cli: Callable[..., Result], study: Study) -> None:
    for args in (("lineage", "no-such-thing"), ("lineage", "blake3:" + "0" * 64), ("prov", "nope")):
        result = cli(*args, "-w", _where(study))
        assert result.exit_code == 1, args
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: no "), result.stderr


def test_prov_to_stdout_and_file(cli: Callable[..., Result], study: Study, tmp_path: Path) -> None:
    run = study.runs["first"]
    result = cli("prov", run[:13], "-w", _where(study))
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert f"run:{run}" in document["activity"]
    target = tmp_path / "run.prov.json"
    written = cli("prov", run, "-o", str(target), "-w", _where(study))
    assert written.exit_code == 0, written.output
    assert "wrote" in written.stdout
    assert json.loads(target.read_text()) == document
