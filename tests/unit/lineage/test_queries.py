"""ancestors, descendants and run_lineage over the study graph."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from labledger import NotFoundError, ValidationError
from labledger.lineage import LineageEdge, ancestors, descendants, run_lineage
from tests.unit.lineage.graphs import LineageBuilder

if TYPE_CHECKING:
    from labledger.lineage import LineageGraph
    from labledger.workspace.workspace import Workspace
    from tests.unit.lineage.graphs import Study


def _ids(graph: LineageGraph) -> set[str]:
    return {node.id for node in graph.nodes}


def _pairs(graph: LineageGraph) -> set[tuple[str, str]]:
    return {(edge.source, edge.target) for edge in graph.edges}


def test_ancestors_follow_producers_to_the_sources(study: Study) -> None:
    graph = ancestors(study.artifacts["report"], workspace=study.workspace)
    assert graph.root == study.artifacts["report"]
    assert graph.direction == "up"
    assert _ids(graph) == study.ids(
        "report", "task:report", "model", "task:train", "clean", "task:clean", "raw"
    )
    a, t = study.artifacts, study.tasks
    assert _pairs(graph) == {
        (a["raw"], t["clean"]),
        (t["clean"], a["clean"]),
        (a["clean"], t["train"]),
        (t["train"], a["model"]),
        (a["model"], t["report"]),
        (t["report"], a["report"]),
    }
    assert not any(edge.cached for edge in graph.edges)
    # train's other output is no ancestor of the report.
    assert a["metrics"] not in _ids(graph)


def test_nodes_describe_artifacts_and_tasks(study: Study) -> None:
    graph = ancestors(study.artifacts["model"], workspace=study.workspace)
    model = graph.node(study.artifacts["model"])
    assert (model.kind, model.name, model.run_id) == (
        "artifact",
        "train.model",
        study.runs["first"],
    )
    assert model.digest == study.digest("model") and model.format == "bin"
    assert model.step is None and model.status is None
    train = graph.node(study.tasks["train"])
    assert (train.kind, train.name, train.step, train.status) == (
        "task",
        "train",
        "study.steps.train",
        "finished",
    )
    assert train.digest is None
    assert [n.kind for n in graph.nodes] == ["artifact"] * 3 + ["task"] * 2
    assert graph.artifacts() + graph.tasks() == graph.nodes
    with pytest.raises(KeyError):
        graph.node("nope")


def test_cached_tasks_are_never_second_producers(study: Study) -> None:
    graph = ancestors(study.artifacts["model"], workspace=study.workspace)
    assert study.tasks["train2"] not in _ids(graph)
    assert study.tasks["clean2"] not in _ids(graph)
    producers = [e for e in graph.edges if e.target == study.artifacts["model"]]
    assert producers == [LineageEdge(study.tasks["train"], study.artifacts["model"], "model")]


@pytest.mark.parametrize(
    ("depth", "expected"),
    [
        (0, ("report",)),
        (1, ("report", "task:report", "model")),
        (2, ("report", "task:report", "model", "task:train", "clean")),
        (9, ("report", "task:report", "model", "task:train", "clean", "task:clean", "raw")),
    ],
)
def test_ancestors_depth(study: Study, depth: int, expected: tuple[str, ...]) -> None:
    graph = ancestors("report", depth=depth, workspace=study.workspace)
    assert graph.depth == depth
    assert _ids(graph) == study.ids(*expected)
    assert all(e.source in _ids(graph) and e.target in _ids(graph) for e in graph.edges)


def test_descendants_include_every_consumer_once(study: Study) -> None:
    graph = descendants(study.artifacts["raw"], workspace=study.workspace)
    assert graph.direction == "down"
    assert _ids(graph) == study.ids(
        "raw",
        "task:clean",
        "task:clean2",
        "clean",
        "task:train",
        "task:train2",
        "model",
        "metrics",
        "task:report",
        "report",
        "task:eval",
        "score",
        "task:peek",
        "peek",
        "task:plot",
        "plot",
        "task:noisy",
        "noisy",
    )
    assert len(graph.nodes) == len(_ids(graph))
    assert len(graph.edges) == len(set(graph.edges)) == len(_pairs(graph))
    a, t = study.artifacts, study.tasks
    into_clean = {e for e in graph.edges if e.target == a["clean"]}
    assert into_clean == {
        LineageEdge(t["clean"], a["clean"], "out", cached=False),
        LineageEdge(t["clean2"], a["clean"], "out", cached=True),
    }
    # holdout is read by eval but is no descendant of raw.
    assert a["holdout"] not in _ids(graph)
    assert (a["holdout"], t["eval"]) not in _pairs(graph)


def test_descendants_depth(study: Study) -> None:
    graph = descendants("raw.csv", depth=1, workspace=study.workspace)
    assert _ids(graph) == study.ids("raw", "task:clean", "task:clean2", "clean")
    assert descendants("raw.csv", depth=0, workspace=study.workspace).edges == ()
    leaf = descendants(study.artifacts["peek"], workspace=study.workspace)
    assert _ids(leaf) == study.ids("peek") and leaf.edges == ()


def test_refs_by_name_prefix_and_digest(study: Study) -> None:
    ws = study.workspace
    by_id = ancestors(study.artifacts["score"], workspace=ws)
    assert ancestors("eval", workspace=ws) == by_id
    assert ancestors(study.artifacts["score"][:30], workspace=ws) == by_id
    assert ancestors(study.digest("score"), workspace=ws) == by_id


def test_unknown_refs_and_bad_depth(study: Study) -> None:
    ws = study.workspace
    with pytest.raises(NotFoundError, match="no artifact"):
        ancestors("no-such-artifact", workspace=ws)
    with pytest.raises(NotFoundError, match="no artifact"):
        descendants("blake3:" + "f" * 64, workspace=ws)
    with pytest.raises(NotFoundError, match="no run"):
        run_lineage("0123456789", workspace=ws)
    with pytest.raises(ValidationError, match="negative"):
        ancestors("raw.csv", depth=-1, workspace=ws)


def test_run_lineage_shows_reads_writes_and_reuse(study: Study) -> None:
    graph = run_lineage(study.runs["second"][:20], workspace=study.workspace)
    assert (graph.root, graph.direction) == (study.runs["second"], "run")
    assert _ids(graph) == study.ids(
        "task:clean2",
        "task:train2",
        "task:eval",
        "task:peek",
        "raw",
        "holdout",
        "clean",
        "model",
        "metrics",
        "score",
        "peek",
    )
    cached = {(e.source, e.target) for e in graph.edges if e.cached}
    a, t = study.artifacts, study.tasks
    assert cached == {
        (t["clean2"], a["clean"]),
        (t["train2"], a["model"]),
        (t["train2"], a["metrics"]),
    }
    assert (a["holdout"], t["eval"]) in _pairs(graph)


def test_run_lineage_of_a_tracked_run_lists_its_artifacts(workspace: Workspace) -> None:
    from labledger import start_run

    with start_run("notebook", workspace=workspace) as run:
        logged = run.log_artifact({"threshold": 0.5}, name="config.json")
    graph = run_lineage(run.id, workspace=workspace)
    assert [n.id for n in graph.nodes] == [logged.id]
    assert graph.edges == ()


def test_a_deep_chain_is_walked_whole(workspace: Workspace) -> None:
    b = LineageBuilder(workspace)
    links = b.chain(b.run("chain"), 1200)
    up = ancestors(links[-1], workspace=workspace)
    assert len(up.artifacts()) == 1201 and len(up.tasks()) == 1200
    assert len(up.edges) == 2400
    down = descendants(links[0], depth=10, workspace=workspace)
    assert {n.id for n in down.artifacts()} == set(links[:11])
    assert len(down.tasks()) == 10
