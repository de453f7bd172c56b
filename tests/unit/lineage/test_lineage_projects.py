"""The lineage and task stores keep their reads to some projects when asked (``projects=``), as
a server asks for each user: a start of another project is not found, and nodes of other
projects are left out of what a read answers."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from labledger._foundation.errors import NotFoundError
from tests.unit.project_scenes import Scene, record_scene

if TYPE_CHECKING:
    from labledger.workspace.workspace import Workspace


@pytest.fixture
def scenes(workspace: Workspace) -> dict[str, Scene]:
    """A pipeline run in ``a``, one in ``b``, and one in ``a`` whose task read ``b``'s output."""
    b = record_scene(workspace, "b")
    return {
        "a": record_scene(workspace, "a"),
        "b": b,
        "crossing": record_scene(workspace, "a", reads=b.output_id),
    }


def test_a_walk_starts_only_in_the_projects_asked_for(
    workspace: Workspace, scenes: dict[str, Scene]
) -> None:
    lineage = workspace.stores.lineage
    a, b = workspace.project_id("a"), workspace.project_id("b")
    beta = scenes["b"]
    starts = ((beta.output_id, "up"), (beta.output_name, "down"), (beta.run_id, "run"))
    for ref, direction in (*starts, (beta.run_id[:-1], "run"), (beta.output_id[:-1], "up")):
        with pytest.raises(NotFoundError):
            lineage.walk(ref, direction, projects=[a])  # type: ignore[arg-type]
        assert lineage.walk(ref, direction, projects=[b]).nodes  # type: ignore[arg-type]
    with pytest.raises(NotFoundError):
        lineage.artifact_id(beta.output_name, projects=[a])
    assert lineage.artifact_id(beta.output_name, projects=[b]) == beta.output_id
    with pytest.raises(NotFoundError):
        lineage.provenance(beta.run_id, projects=[a])


def test_nodes_of_other_projects_are_left_out(
    workspace: Workspace, scenes: dict[str, Scene]
) -> None:
    lineage = workspace.stores.lineage
    a = workspace.project_id("a")
    beta, crossing = scenes["b"], scenes["crossing"]
    hidden = {beta.output_id, beta.task_id, beta.input_id}
    whole = lineage.walk(crossing.output_id, "up")
    assert hidden <= {n.id for n in whole.nodes}
    kept = lineage.walk(crossing.output_id, "up", projects=[a])
    ids = {n.id for n in kept.nodes}
    assert {crossing.output_id, crossing.task_id} <= ids
    assert ids.isdisjoint(hidden)
    assert kept.edges
    assert all(e.source in ids and e.target in ids for e in kept.edges)
    run = lineage.walk(crossing.run_id, "run", projects=[a])
    assert beta.output_id not in {n.id for n in run.nodes}
    assert beta.output_id in {n.id for n in lineage.walk(crossing.run_id, "run").nodes}
    facts = lineage.repro_facts([crossing.output_id], [crossing.task_id], projects=[a])
    assert crossing.output_id in facts.artifacts
    assert crossing.task_id in facts.tasks
    assert hidden.isdisjoint(facts.artifacts) and hidden.isdisjoint(facts.tasks)
    assert beta.output_id in lineage.repro_facts([crossing.output_id], []).artifacts
    provenance = lineage.provenance(crossing.run_id, projects=[a])
    assert beta.output_id not in {x.id for x in provenance.artifacts}
    assert all(edge.artifact != beta.output_id for edge in provenance.edges)
    assert beta.output_id in {x.id for x in lineage.provenance(crossing.run_id).artifacts}


def test_task_reads_keep_to_the_projects_asked_for(
    workspace: Workspace, scenes: dict[str, Scene]
) -> None:
    tasks = workspace.stores.tasks
    a, b = workspace.project_id("a"), workspace.project_id("b")
    beta = scenes["b"]
    assert tasks.earlier_tasks(beta.pipeline, ["fit"], 10, projects=[a]) == []
    found = tasks.earlier_tasks(beta.pipeline, ["fit"], 10, projects=[b])
    assert [t.task_id for t in found] == [beta.task_id]
    assert tasks.find_artifacts([beta.output_name], [beta.output_digest], projects=[a]) == []
    matches = tasks.find_artifacts([beta.output_name], [beta.output_digest], projects=[a, b])
    assert [m.id for m in matches] == [beta.output_id]
