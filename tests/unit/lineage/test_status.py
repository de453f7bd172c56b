"""Reproducibility statuses: verified, reproducible, unverifiable, broken."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from labledger import NotFoundError
from labledger.lineage import (
    ReproStatus,
    ancestors,
    descendants,
    explain_status,
    graph_reproducibility,
    reproducibility,
    run_lineage,
)
from tests.unit.lineage.graphs import LineageBuilder

if TYPE_CHECKING:
    from labledger.workspace.workspace import Workspace
    from tests.unit.lineage.graphs import Study

V, R, U, B = (
    ReproStatus.VERIFIED,
    ReproStatus.REPRODUCIBLE,
    ReproStatus.UNVERIFIABLE,
    ReproStatus.BROKEN,
)

EXPECTED = {
    "raw": R,  # a logged source, present
    "holdout": R,
    "clean": R,
    "model": V,  # re-executed, same digest
    "metrics": R,
    "report": R,  # re-executed, different digest: not verified
    "score": R,
    "peek": U,  # its step's code was not captured
    "plot": U,  # its run has no code snapshot
    "noisy": U,  # its step is not deterministic
}


def test_the_status_of_each_study_artifact(study: Study) -> None:
    for name, expected in EXPECTED.items():
        got = reproducibility(study.artifacts[name], workspace=study.workspace)
        assert got == expected, name
    assert reproducibility("train.model", workspace=study.workspace) == "verified"


def test_statuses_are_strings() -> None:
    assert ReproStatus("broken") is B
    assert f"{V}" == "verified"
    assert [s.value for s in ReproStatus] == ["verified", "reproducible", "unverifiable", "broken"]


def test_a_missing_blob_breaks_the_artifact_and_all_it_led_to(study: Study) -> None:
    ws = study.workspace
    ws.store.delete(study.digest("clean"))
    downstream = {"clean", "model", "metrics", "report", "score", "peek", "plot", "noisy"}
    for name, before in EXPECTED.items():
        expected = B if name in downstream else before
        assert reproducibility(study.artifacts[name], workspace=ws) == expected, name
    statuses = graph_reproducibility(descendants("raw.csv", workspace=ws), workspace=ws)
    assert statuses[study.artifacts["raw"]] == R
    assert statuses[study.artifacts["model"]] == B
    assert statuses[study.tasks["train"]] == B  # it read the broken artifact
    assert statuses[study.tasks["clean"]] == R


def test_the_graph_version_agrees_with_one_at_a_time(study: Study) -> None:
    ws = study.workspace
    for graph in (
        descendants("raw.csv", workspace=ws),
        ancestors("peek", workspace=ws),
        run_lineage(study.runs["second"], workspace=ws),
        descendants("holdout.csv", depth=1, workspace=ws),
    ):
        statuses = graph_reproducibility(graph, workspace=ws)
        assert set(statuses) == {node.id for node in graph.nodes}
        for node in graph.artifacts():
            assert statuses[node.id] == reproducibility(node.id, workspace=ws), node.name


def test_task_statuses(study: Study) -> None:
    ws = study.workspace
    statuses = graph_reproducibility(descendants("raw.csv", workspace=ws), workspace=ws)
    t = study.tasks
    assert statuses[t["clean"]] == R
    assert statuses[t["clean2"]] == R
    assert statuses[t["train"]] == R  # verification applies to artifacts only
    assert statuses[t["eval"]] == R
    assert statuses[t["peek"]] == U
    assert statuses[t["plot"]] == U
    assert statuses[t["noisy"]] == U


def test_unverifiable_propagates_down(workspace: Workspace) -> None:
    b = LineageBuilder(workspace)
    source = b.artifact("source", b"s")
    shaky = b.run("shaky", lock=False)  # no environment lock
    _, out = b.task(shaky, "first", inputs={"x": source}, outputs={"y": b"1"})
    sound = b.run("sound")
    _, after = b.task(sound, "second", inputs={"x": out["y"]}, outputs={"y": b"2"})
    assert reproducibility(out["y"], workspace=workspace) == U
    assert reproducibility(after["y"], workspace=workspace) == U
    assert reproducibility(source, workspace=workspace) == R


def test_a_task_outside_any_pipeline_run_is_unverifiable(workspace: Workspace) -> None:
    b = LineageBuilder(workspace)
    plain = b.run("notebook", pipeline=False)
    _, out = b.task(plain, "step", inputs={}, outputs={"y": b"1"})
    assert reproducibility(out["y"], workspace=workspace) == U


def test_trees_need_their_manifest_and_every_entry(workspace: Workspace) -> None:
    b = LineageBuilder(workspace)
    whole = b.tree("images", {"a.png": b"alpha", "sub/b.png": b"beta"})
    gapped = b.tree("scans", {"c.png": b"gamma", "d.png": b"delta"})
    lost = b.tree("slides", {"e.png": b"epsilon"})
    run = b.run("analyse")
    _, out = b.task(run, "count", inputs={"images": gapped}, outputs={"n": b"2"})
    workspace.store.delete(b.blob(b"delta"))  # an entry of scans
    workspace.store.delete(_digest(workspace, lost))  # the manifest of slides
    assert reproducibility(whole, workspace=workspace) == R
    assert reproducibility(gapped, workspace=workspace) == B
    assert reproducibility(out["n"], workspace=workspace) == B
    assert reproducibility(lost, workspace=workspace) == B


def test_an_unreadable_manifest_breaks_the_tree(workspace: Workspace) -> None:
    b = LineageBuilder(workspace)
    not_a_tree = b.artifact("odd", b"not json", kind="tree", fmt="tree")
    assert reproducibility(not_a_tree, workspace=workspace) == B


def test_a_very_deep_chain(workspace: Workspace) -> None:
    b = LineageBuilder(workspace)
    links = b.chain(b.run("chain"), 1500)
    assert reproducibility(links[-1], workspace=workspace) == R
    workspace.store.delete(b.blob(b"link"))
    assert reproducibility(links[-1], workspace=workspace) == B
    statuses = graph_reproducibility(
        descendants(links[0], workspace=workspace), workspace=workspace
    )
    assert set(statuses.values()) == {B}


def test_unknown_artifact(workspace: Workspace) -> None:
    with pytest.raises(NotFoundError, match="no artifact"):
        reproducibility("missing", workspace=workspace)


def _digest(workspace: Workspace, artifact_id: str) -> str:
    from sqlalchemy import select

    from labledger.workspace import schema

    with workspace.read() as conn:
        return str(
            conn.execute(
                select(schema.artifacts.c.digest).where(schema.artifacts.c.id == artifact_id)
            ).scalar_one()
        )


def test_explain_status_gives_the_reasons_behind_each_status(study: Study) -> None:
    ws = study.workspace
    for name, expected in EXPECTED.items():
        assert explain_status(study.artifacts[name], workspace=ws).status == expected, name
    assert explain_status(study.artifacts["clean"], workspace=ws).reasons == ()
    (peek,) = explain_status(study.artifacts["peek"], workspace=ws).reasons
    assert peek.startswith("step 'peek' (run ") and "code could not be captured" in peek
    noisy = explain_status(study.artifacts["noisy"], workspace=ws).reasons
    assert len(noisy) == 2  # its step, and its run (no code snapshot)
    assert "declared not deterministic" in noisy[0]
    (plot,) = explain_status(study.artifacts["plot"], workspace=ws).reasons
    assert plot.endswith("ran without a code snapshot")
    assert noisy[1] == plot
    assert "re-executed" in explain_status(study.artifacts["model"], workspace=ws).reasons[0]
    ws.store.delete(study.digest("clean"))
    broken = explain_status(study.artifacts["score"], workspace=ws)
    assert broken.status == B
    assert len(broken.reasons) == 1
    assert "'clean'" in broken.reasons[0] and "missing from the blob store" in broken.reasons[0]


def test_a_run_that_cannot_be_re_executed_makes_its_outputs_unverifiable(
    workspace: Workspace,
) -> None:
    import sqlalchemy as sa

    from labledger.workspace import schema

    b = LineageBuilder(workspace)
    run = b.run("notebook")
    with workspace.write() as conn:
        conn.execute(
            sa.update(schema.pipeline_runs)
            .where(schema.pipeline_runs.c.run_id == run)
            .values(replay_error="defined in a notebook cell")
        )
    source = b.artifact("raw", b"raw")
    task, outputs = b.task(run, "clean", inputs={"raw": source}, outputs={"out": b"clean"})
    why = explain_status(outputs["out"], workspace=workspace)
    assert why.status == U
    assert why.reasons == (f"run {run}: cannot be re-executed: defined in a notebook cell",)
    assert (
        graph_reproducibility(run_lineage(run, workspace=workspace), workspace=workspace)[task] == U
    )
