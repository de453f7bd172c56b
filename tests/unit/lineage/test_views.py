"""lineage_view: tasks of one step and cache key folded, cuts to one run or the newest runs."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from labledger import NotFoundError
from labledger.lineage import (
    LineageEdge,
    LineageGraph,
    LineageNode,
    ReproStatus,
    collapse_tasks,
    lineage_view,
)
from labledger.lineage.views import latest_only, reachable

if TYPE_CHECKING:
    from labledger.lineage import LineageView
    from tests.unit.lineage.graphs import Study


def _ids(view: LineageView | LineageGraph) -> set[str]:
    graph = view if isinstance(view, LineageGraph) else view.graph
    return {node.id for node in graph.nodes}


def _pairs(view: LineageView) -> set[tuple[str, str]]:
    return {(edge.source, edge.target) for edge in view.graph.edges}


def test_tasks_of_one_step_and_cache_key_become_one_node(study: Study) -> None:
    view = lineage_view("raw.csv", direction="down", workspace=study.workspace)
    t, a, runs = study.tasks, study.artifacts, study.runs
    # clean2 and train2 re-ran clean and train from the cache: they fold into the tasks that ran.
    assert _ids(view) == study.ids(
        "raw", "clean", "model", "metrics", "report", "score", "peek", "plot", "noisy"
    ) | {t[name] for name in ("clean", "train", "report", "eval", "peek", "plot", "noisy")}
    assert view.tasks[t["clean"]] == (t["clean"], t["clean2"])
    assert view.runs[t["clean"]] == (runs["first"], runs["second"])
    assert view.runs[t["train"]] == (runs["first"], runs["second"])
    assert view.runs[t["eval"]] == (runs["second"],)
    # The folded node made its output, so the edge is not a cached one, and it appears once.
    outputs = [e for e in view.graph.edges if e.target == a["clean"]]
    assert outputs == [LineageEdge(t["clean"], a["clean"], "out", cached=False)]
    assert view.statuses[t["clean"]] == ReproStatus.REPRODUCIBLE
    assert set(view.statuses) == _ids(view)


def test_every_task_is_kept_without_collapse(study: Study) -> None:
    view = lineage_view("raw.csv", direction="down", collapse=False, workspace=study.workspace)
    assert {study.tasks["clean2"], study.tasks["train2"]} <= _ids(view)
    assert view.runs[study.tasks["clean2"]] == (study.runs["second"],)
    assert view.tasks[study.tasks["clean2"]] == (study.tasks["clean2"],)


def _task(task_id: str, run: str, step: str, key: str, status: str = "finished") -> LineageNode:
    return LineageNode(task_id, "task", step, run, step=step, status=status, cache_key=key)


def _artifact(artifact_id: str) -> LineageNode:
    return LineageNode(artifact_id, "artifact", artifact_id, None, digest="d", format="bin")


def test_different_cache_keys_stay_apart_and_a_task_that_ran_stands_for_its_group() -> None:
    nodes = (
        _artifact("a-in"),
        _artifact("a-out"),
        _artifact("a-out2"),
        _task("t1", "r1", "fit", "k1", status="cached"),
        _task("t2", "r2", "fit", "k1"),
        _task("t3", "r3", "fit", "k2"),
    )
    edges = (
        LineageEdge("a-in", "t1", "x"),
        LineageEdge("a-in", "t2", "x"),
        LineageEdge("a-in", "t3", "x"),
        LineageEdge("t1", "a-out", "out", cached=True),
        LineageEdge("t2", "a-out", "out"),
        LineageEdge("t3", "a-out2", "out"),
    )
    graph = LineageGraph("a-in", "down", None, nodes, edges)
    view = collapse_tasks(graph, {n.id: ReproStatus.REPRODUCIBLE for n in nodes})
    assert {n.id for n in view.graph.tasks()} == {"t2", "t3"}
    assert view.tasks == {"t2": ("t2", "t1"), "t3": ("t3",)}
    assert view.runs == {"t2": ("r1", "r2"), "t3": ("r3",)}
    assert set(view.graph.edges) == {
        LineageEdge("a-in", "t2", "x"),
        LineageEdge("a-in", "t3", "x"),
        LineageEdge("t2", "a-out", "out"),
        LineageEdge("t3", "a-out2", "out"),
    }
    assert "t1" not in view.statuses


def test_latest_keeps_the_newest_run_of_each_step_and_what_still_connects() -> None:
    nodes = (
        _artifact("a-in"),
        _artifact("a-old"),
        _artifact("a-new"),
        _artifact("a-after-old"),
        _task("t-old", "r1", "fit", "k1"),
        _task("t-new", "r2", "fit", "k2"),
        _task("t-next", "r1", "score", "k3"),
    )
    edges = (
        LineageEdge("a-in", "t-old", "x"),
        LineageEdge("a-in", "t-new", "x"),
        LineageEdge("t-old", "a-old", "out"),
        LineageEdge("t-new", "a-new", "out"),
        LineageEdge("a-old", "t-next", "x"),
        LineageEdge("t-next", "a-after-old", "out"),
    )
    latest = latest_only(LineageGraph("a-in", "down", None, nodes, edges))
    # score only ever ran in r1, so it is still r1's; but it read fit's old output, now cut off.
    assert _ids(latest) == {"a-in", "t-new", "a-new"}


def test_reachable_counts_depth_in_tasks_crossed() -> None:
    nodes = (_artifact("a0"), _artifact("a1"), _artifact("a2"), _task("t1", "r", "s", "k1"))
    nodes += (_task("t2", "r", "s2", "k2"),)
    edges = (
        LineageEdge("a0", "t1", "x"),
        LineageEdge("t1", "a1", "out"),
        LineageEdge("a1", "t2", "x"),
        LineageEdge("t2", "a2", "out"),
    )
    assert _ids(reachable(LineageGraph("a0", "down", 1, nodes, edges))) == {"a0", "t1", "a1"}
    assert _ids(reachable(LineageGraph("a2", "up", None, nodes, edges))) == {n.id for n in nodes}
    assert _ids(reachable(LineageGraph("a1", "up", 0, nodes, edges))) == {"a1"}


def test_within_a_run_shows_the_cached_tasks_that_ancestors_never_follow(study: Study) -> None:
    second = study.runs["second"]
    view = lineage_view("train.model", run=second[:13], workspace=study.workspace)
    assert view.run == second
    assert _ids(view) == study.ids("model", "task:train2", "clean", "task:clean2", "raw")
    t, a = study.tasks, study.artifacts
    assert _pairs(view) == {
        (t["train2"], a["model"]),
        (a["clean"], t["train2"]),
        (t["clean2"], a["clean"]),
        (a["raw"], t["clean2"]),
    }
    assert all(e.cached for e in view.graph.edges if e.source in (t["train2"], t["clean2"]))


def test_within_a_run_down_and_with_depth(study: Study) -> None:
    ws = study.workspace
    third = lineage_view("clean", direction="down", run=study.runs["third"], workspace=ws)
    assert _ids(third) == study.ids("clean", "task:plot", "plot", "task:noisy", "noisy")
    shallow = lineage_view(
        "raw.csv", direction="down", depth=1, run=study.runs["second"], workspace=ws
    )
    assert _ids(shallow) == study.ids("raw", "task:clean2", "clean")
    # The artifact had no part in the run: it is shown alone.
    alone = lineage_view("raw.csv", direction="down", run=study.runs["third"], workspace=ws)
    assert _ids(alone) == study.ids("raw")


def test_latest_over_the_study(study: Study) -> None:
    view = lineage_view("raw.csv", direction="down", latest=True, workspace=study.workspace)
    assert view.latest
    t = study.tasks
    assert {n.id for n in view.graph.tasks()} == {
        t[name] for name in ("clean2", "train2", "report", "eval", "peek", "plot", "noisy")
    }
    assert all(len(runs) == 1 for runs in view.runs.values())


def test_an_unknown_run_is_named(study: Study) -> None:
    with pytest.raises(NotFoundError, match="no run"):
        lineage_view("raw.csv", run="ffffffff-ffff", workspace=study.workspace)
