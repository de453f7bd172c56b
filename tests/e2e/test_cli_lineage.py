"""``labledger lineage`` and ``labledger prov`` over the study graph."""

from __future__ import annotations

import json
import os
import shutil
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
    result = cli("lineage", "raw.csv", "--down", "--no-collapse", "-w", _where(study))
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "cached" in out and "(shown above)" in out
    assert out.count("noisy  bin") == 1
    assert "unverifiable" in out


def test_lineage_json(cli: Callable[..., Result], study: Study) -> None:
    result = cli(
        "lineage",
        study.artifacts["raw"],
        "--down",
        "--depth",
        "1",
        "--json",
        "--no-collapse",
        "-w",
        _where(study),
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
    assert nodes[study.tasks["clean2"]]["runs"] == [study.runs["second"]]


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


def test_lineage_down_folds_repeated_work_into_one_node(
    cli: Callable[..., Result], study: Study
) -> None:
    result = cli("lineage", "raw.csv", "--down", "-w", _where(study))
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    clean = [line for line in lines if "task clean" in line]
    train = [line for line in lines if "task train" in line]
    assert len(clean) == len(train) == 1
    assert "finished  in 2 runs  reproducible" in clean[0]
    assert "cached" not in result.stdout
    folded = cli("lineage", "raw.csv", "--down", "--format", "json", "-w", _where(study))
    nodes = {n["id"]: n for n in json.loads(folded.stdout)["nodes"]}
    assert study.tasks["clean2"] not in nodes
    assert nodes[study.tasks["clean"]]["tasks"] == [study.tasks["clean"], study.tasks["clean2"]]


def test_lineage_within_one_run_and_latest(cli: Callable[..., Result], study: Study) -> None:
    second = study.runs["second"]
    result = cli("lineage", "train.model", "--run", second[:13], "-w", _where(study))
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert sum("task" in line for line in lines) == 2
    assert "task train  study.steps.train  cached" in result.stdout
    assert "task clean  study.steps.clean  cached" in result.stdout
    latest = cli("lineage", "raw.csv", "--down", "--latest", "--json", "-w", _where(study))
    tasks = {n["id"] for n in json.loads(latest.stdout)["nodes"] if n["kind"] == "task"}
    assert study.tasks["clean2"] in tasks and study.tasks["clean"] not in tasks


def test_lineage_as_dot_and_mermaid_text(cli: Callable[..., Result], study: Study) -> None:
    dot = cli("lineage", "report", "--format", "dot", "-w", _where(study))
    assert dot.exit_code == 0, dot.output
    assert dot.stdout.startswith("digraph lineage {") and study.artifacts["raw"] in dot.stdout
    mermaid = cli("lineage", "report", "-f", "mermaid", "-w", _where(study))
    assert mermaid.stdout.startswith("flowchart TB\n")
    assert "classDef verified" in mermaid.stdout


@pytest.mark.skipif(
    shutil.which("dot") is None and not os.environ.get("CI"), reason="Graphviz is not installed"
)
def test_lineage_images_to_files(cli: Callable[..., Result], study: Study, tmp_path: Path) -> None:
    for name, magic in (("graph.svg", b"<?xml"), ("graph.png", b"\x89PNG"), ("g.dot", b"digraph")):
        target = tmp_path / name
        result = cli("lineage", "raw.csv", "--down", "-o", str(target), "-w", _where(study))
        assert result.exit_code == 0, result.output
        assert result.stdout.strip() == f"wrote {target}"
        assert target.read_bytes().startswith(magic), name
    forced = tmp_path / "graph.out"
    result = cli("lineage", "raw.csv", "-f", "svg", "-o", str(forced), "-w", _where(study))
    assert result.exit_code == 0, result.output
    assert b"<svg" in forced.read_bytes()


def test_lineage_output_mistakes_fail_with_one_line(
    cli: Callable[..., Result], study: Study, tmp_path: Path
) -> None:
    cases = {
        ("-f", "png"): "a PNG image needs a file",
        ("-o", str(tmp_path / "graph.jpg")): "cannot tell a format",
        ("-f", "text", "-o", str(tmp_path / "tree.txt")): "text tree is for the terminal",
        ("--json", "-f", "dot"): "--json and --format disagree",
    }
    for args, message in cases.items():
        result = cli("lineage", "raw.csv", *args, "-w", _where(study))
        assert result.exit_code == 1, args
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and message in lines[0], result.stderr


def test_lineage_image_without_graphviz_says_what_to_do(
    cli: Callable[..., Result], study: Study, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    result = cli("lineage", "raw.csv", "-o", str(tmp_path / "graph.png"), "-w", _where(study))
    assert result.exit_code == 1
    assert (
        "install graphviz" in result.stderr and "--format dot or --format mermaid" in result.stderr
    )
    assert not (tmp_path / "graph.png").exists()
