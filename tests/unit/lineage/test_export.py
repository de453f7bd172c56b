"""Lineage exports: DOT read back by Graphviz, Mermaid by its structure, JSON, images."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING, Any

import pytest

from labledger import ConfigurationError
from labledger.lineage import (
    LineageGraph,
    LineageNode,
    LineageView,
    lineage_document,
    lineage_view,
    render_image,
    to_dot,
    to_mermaid,
)
from labledger.lineage.export import STATUS_COLOURS

if TYPE_CHECKING:
    from pathlib import Path

    from tests.unit.lineage.graphs import Study

# CI installs Graphviz; elsewhere the tests that need its `dot` program are skipped.
needs_dot = pytest.mark.skipif(
    shutil.which("dot") is None and not os.environ.get("CI"), reason="Graphviz is not installed"
)


@pytest.fixture
def view(study: Study) -> LineageView:
    # Mark one branch broken so the graph has three statuses.
    study.workspace.store.delete(study.digest("score"))
    return lineage_view("raw.csv", direction="down", workspace=study.workspace)


def _parse_dot(source: str) -> dict[str, Any]:
    """The graph as Graphviz itself reads it: ``dot -Tjson`` (the layout is not looked at)."""
    dot = shutil.which("dot")
    assert dot is not None
    done = subprocess.run(
        [dot, "-Tjson0"], input=source, capture_output=True, text=True, check=True
    )
    parsed: dict[str, Any] = json.loads(done.stdout)
    return parsed


@needs_dot
def test_dot_reads_back_with_the_graph_s_nodes_edges_and_colours(
    view: LineageView, study: Study
) -> None:
    parsed = _parse_dot(to_dot(view))
    objects = parsed["objects"]
    nodes = {o["name"]: o for o in objects if "nodes" not in o}
    graph_ids = {n.id for n in view.graph.nodes}
    legend = {name for name in nodes if name.startswith("legend:")}
    assert set(nodes) - legend == graph_ids
    assert legend == {
        "legend:reproducible",
        "legend:verified",
        "legend:unverifiable",
        "legend:broken",
    }
    clusters = [o for o in objects if "nodes" in o]
    assert [c["name"] for c in clusters] == ["cluster_legend"]
    # Edges point the way data flowed, whatever the walk's direction.
    by_index = {o["_gvid"]: o["name"] for o in objects}
    edges = {(by_index[e["tail"]], by_index[e["head"]]): e for e in parsed["edges"]}
    assert set(edges) == {(e.source, e.target) for e in view.graph.edges}
    for edge in view.graph.edges:
        assert edges[(edge.source, edge.target)]["label"] == edge.name
        assert (edges[(edge.source, edge.target)].get("style") == "dashed") is edge.cached
    for node in view.graph.nodes:
        fill, border = STATUS_COLOURS[str(view.statuses[node.id])]
        drawn = nodes[node.id]
        assert (drawn["fillcolor"], drawn["color"]) == (fill, border), node.name
        assert drawn["shape"] == ("box" if node.kind == "artifact" else "ellipse")
        assert drawn["penwidth"] == ("3" if node.id == view.graph.root else "1")
    # Labels are Graphviz escStrings, in which \n is a line break.
    assert nodes[study.tasks["clean"]]["label"] == "task clean\\nfinished · 2 runs"


@needs_dot
def test_dot_keeps_names_with_quotes_and_backslashes() -> None:
    odd = 'say "hi" \\ bye'
    node = LineageNode("a-1", "artifact", odd, None, digest="d", format="bin")
    view = LineageView(LineageGraph("a-1", "up", None, (node,), ()), {}, {}, {})
    source = to_dot(view, legend=False)
    assert "cluster_legend" not in source
    (drawn,) = _parse_dot(source)["objects"]
    assert drawn["label"] == odd.replace("\\", "\\\\") + "\\nbin · a-1"
    svg = ET.fromstring(render_image(view, "svg"))
    texts = [t.text for t in svg.iter("{http://www.w3.org/2000/svg}text")]
    assert texts == [odd, "bin · a-1"]


_NODE = re.compile(r'^    (?P<id>[at]_\w+)(?P<open>\[|\(\[)"(?P<label>[^"]*)"(?:\]|\]\))$')
_EDGE = re.compile(
    r'^    (?P<source>\w+) (?P<arrow>-->|-\.->)\|"(?P<name>[^"]*)"\| (?P<target>\w+)$'
)
_CLASS = re.compile(r"^    class (?P<members>[\w,]+) (?P<status>\w+)$")
_CLASSDEF = re.compile(r"^    classDef (?P<status>\w+) fill:(?P<fill>#\w+),stroke:(?P<stroke>#\w+)")


def _parse_mermaid(source: str) -> dict[str, Any]:
    lines = source.splitlines()
    assert lines[0] == "flowchart TB"
    found: dict[str, Any] = {"nodes": {}, "edges": [], "classes": {}, "defs": {}, "other": []}
    for line in lines[1:]:
        if match := _NODE.match(line):
            found["nodes"][match["id"]] = (match["open"], match["label"])
        elif match := _EDGE.match(line):
            found["edges"].append((match["source"], match["target"], match["name"], match["arrow"]))
        elif match := _CLASS.match(line):
            for member in match["members"].split(","):
                found["classes"][member] = match["status"]
        elif match := _CLASSDEF.match(line):
            found["defs"][match["status"]] = (match["fill"], match["stroke"])
        else:
            found["other"].append(line)
    return found


def test_mermaid_has_one_node_per_graph_node_and_a_class_per_status(view: LineageView) -> None:
    parsed = _parse_mermaid(to_mermaid(view))
    ids = {
        ("a_" if n.kind == "artifact" else "t_") + n.id.replace("-", "_"): n
        for n in view.graph.nodes
    }
    assert set(parsed["nodes"]) == set(ids)
    for mermaid_id, (shape, label) in parsed["nodes"].items():
        node = ids[mermaid_id]
        assert shape == ("[" if node.kind == "artifact" else "([")
        assert label.split("<br/>")[0] in (node.name, f"task {node.name}")
        assert parsed["classes"][mermaid_id] == str(view.statuses[node.id])
    back = {v.id: k for k, v in ids.items()}
    assert sorted(parsed["edges"]) == sorted(
        (back[e.source], back[e.target], e.name, "-.->" if e.cached else "-->")
        for e in view.graph.edges
    )
    for status in set(parsed["classes"].values()):
        assert parsed["defs"][status] == STATUS_COLOURS[status]
    root = back[view.graph.root]
    assert parsed["other"] == [f"    style {root} stroke-width:3px"]


def test_json_document_lists_the_runs_behind_each_task(view: LineageView, study: Study) -> None:
    document = json.loads(json.dumps(lineage_document(view)))
    nodes = {n["id"]: n for n in document["nodes"]}
    clean = nodes[study.tasks["clean"]]
    assert clean["runs"] == [study.runs["first"], study.runs["second"]]
    assert clean["tasks"] == [study.tasks["clean"], study.tasks["clean2"]]
    assert clean["cache_key"] == "blake3:" + "1" * 64
    assert nodes[study.artifacts["score"]]["reproducibility"] == "broken"
    assert nodes[study.artifacts["raw"]]["runs"] == []
    assert (document["root"], document["direction"], document["run"], document["latest"]) == (
        study.artifacts["raw"],
        "down",
        None,
        False,
    )
    assert len(document["edges"]) == len(view.graph.edges)


@needs_dot
def test_images_are_real_svg_and_png(view: LineageView) -> None:
    svg = ET.fromstring(render_image(view, "svg"))
    assert svg.tag == "{http://www.w3.org/2000/svg}svg"
    titles = {t.text for t in svg.iter("{http://www.w3.org/2000/svg}title")}
    assert {n.id for n in view.graph.nodes} <= titles
    png = render_image(view, "png")
    assert png.startswith(b"\x89PNG\r\n\x1a\n")


def test_without_graphviz_the_error_says_what_to_do(
    view: LineageView, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ConfigurationError, match="install graphviz") as caught:
        render_image(view, "png")
    assert "--format dot" in str(caught.value) and "mermaid" in str(caught.value)
