"""Artifacts belong to projects: a run's to the run's project, and the artifact store keeps a
lookup or a list to some projects when asked (``projects=``), in its query."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

import labledger
from labledger._foundation.errors import NotFoundError
from labledger._foundation.ids import new_id
from labledger.stores.artifacts import Artifact, NewArtifact

if TYPE_CHECKING:
    from labledger.workspace.workspace import Workspace


def _logged(current: Workspace, project: str, count: int) -> list[str]:
    """``count`` artifacts named ``shared`` and ``<project>-<i>`` logged by a run of
    ``project``; their ids."""
    ids: list[str] = []
    with labledger.start_run(project=project):
        for index in range(count):
            ids.append(
                labledger.log_artifact(f"{project} {index}".encode(), name=f"{project}-{index}").id
            )
        ids.append(labledger.log_artifact(project.encode(), name="shared").id)
    return ids


def test_a_list_keeps_to_the_projects_asked_for_in_full_pages(current: Workspace) -> None:
    alpha, beta = current.project_id("alpha"), current.project_id("beta")
    in_alpha = _logged(current, "alpha", 3)
    in_beta = _logged(current, "beta", 2)
    store = current.stores.artifacts
    seen: list[str] = []
    token = None
    while True:
        page = store.list_artifacts(projects=[alpha], max_results=2, page_token=token)
        seen += [a.id for a in page.items]
        token = page.next_token
        if token is None:
            break
        assert len(page.items) == 2  # every page but the last is full
    assert sorted(seen) == sorted(in_alpha)
    both = store.list_artifacts(projects=[alpha, beta], max_results=100).items
    assert {a.id for a in both} >= set(in_alpha + in_beta)
    assert store.list_artifacts(projects=[], max_results=100).items == []
    every = {a.id for a in store.list_artifacts(max_results=100).items}
    assert every >= set(in_alpha + in_beta)


def test_a_lookup_finds_only_artifacts_of_the_projects_asked_for(current: Workspace) -> None:
    alpha, beta = current.project_id("alpha"), current.project_id("beta")
    in_alpha = _logged(current, "alpha", 1)
    in_beta = _logged(current, "beta", 1)
    store = current.stores.artifacts
    # A name is the newest artifact of that name among the projects asked for.
    assert [a.id for a in store.get_artifacts(["shared"], projects=[alpha])] == [in_alpha[-1]]
    assert [a.id for a in store.get_artifacts(["shared"])] == [in_beta[-1]]
    [beta_one] = store.get_artifacts([in_beta[0]])
    for ref in (in_beta[0], in_beta[0][:-1], "beta-0", beta_one.digest):
        with pytest.raises(NotFoundError):
            store.get_artifacts([ref], projects=[alpha])
        assert [a.id for a in store.get_artifacts([ref], projects=[beta])] == [in_beta[0]]


def test_an_artifact_of_a_run_belongs_to_the_runs_project(current: Workspace) -> None:
    beta = current.project_id("beta")
    data = b"made by the run"
    digest = current.store.put(data)
    with labledger.start_run(project="beta") as run:
        made = Artifact(new_id(), "note", "file", "bytes", digest, len(data), run.id, 0.0, "x")
        # The project given is the default one; the run's wins.
        current.stores.artifacts.add_artifacts(
            [NewArtifact(made, current.project_id(), ((digest, len(data)),))]
        )
    found = current.stores.artifacts.get_artifacts([made.id], projects=[beta])
    assert [a.id for a in found] == [made.id]
    with pytest.raises(NotFoundError):
        current.stores.artifacts.get_artifacts([made.id], projects=[current.project_id()])
