"""A pipeline run through a server belongs to the project it is given: a member of one project
only runs there, is told which projects are theirs when they name another, and another member
of that project gets its cache hits."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from labledger._foundation.errors import NotFoundError, PermissionDeniedError
from labledger._foundation.settings import server_settings
from labledger.identity import IdentityService, Role, local_user
from labledger.pipelines import pipeline, step
from labledger.server import create_app
from labledger.tracking.query import get_run
from labledger.workspace.http.workspace import RemoteWorkspace
from tests.unit.server.app_transport import AppTransport

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from labledger.workspace.workspace import Workspace


@step
def doubled(x: int) -> int:
    return 2 * x


@pipeline
def twice(x: int = 3) -> Any:
    return doubled(doubled(x))


@pytest.fixture
def app(workspace: Workspace) -> Any:
    return create_app(workspace, auth_required=True)


@pytest.fixture
def open_as(
    app: Any, team: dict[str, str], workspace: Workspace
) -> Iterator[Callable[[str], RemoteWorkspace]]:
    """As one of the team: pat is admin of `assay` and of nothing else, ed an editor of both
    `assay` and `default`, vera a viewer of `assay`."""
    IdentityService(workspace.stores.identity).grant(
        "default", "ed", Role.EDITOR, actor=local_user("root")
    )
    opened: list[RemoteWorkspace] = []

    def make(name: str) -> RemoteWorkspace:
        remote = RemoteWorkspace(
            server_settings("http://server.test"), transport=AppTransport(app), token=team[name]
        )
        opened.append(remote)
        return remote

    yield make
    for remote in opened:
        remote.close()


def test_a_member_of_one_project_runs_there_and_is_told_which_are_theirs(
    open_as: Callable[[str], RemoteWorkspace], workspace: Workspace
) -> None:
    pat = open_as("pat")
    with pytest.raises(NotFoundError) as refused:
        twice.run(workspace=pat)
    assert "pat has no role in project 'default'" in refused.value.message
    assert "assay" in (refused.value.hint or "") and "--project" in (refused.value.hint or "")
    with pytest.raises(NotFoundError) as elsewhere:
        twice.run(workspace=pat, project="screen")
    assert "no project called 'screen' that you are a member of" in elsewhere.value.message
    with pytest.raises(NotFoundError) as typo:
        twice.run(workspace=pat, project="asay")
    assert (typo.value.hint or "").startswith("did you mean 'assay'?")
    done = twice.run(workspace=pat, project="assay")
    assert done.status == "finished" and done.load(list(done.tasks)[-1]) == 12
    assert get_run(done.run_id, workspace=workspace).project_id == workspace.project_id("assay")
    again = twice.run(workspace=open_as("ed"), project="assay")
    assert sorted(again.cached) == sorted(done.tasks) and again.executed == []


def test_a_viewer_of_the_project_cannot_run_a_pipeline_there(
    open_as: Callable[[str], RemoteWorkspace],
) -> None:
    with pytest.raises(PermissionDeniedError):
        twice.run(workspace=open_as("vera"), project="assay")


def test_a_member_of_one_project_logs_artifacts_into_a_run_there(
    open_as: Callable[[str], RemoteWorkspace], workspace: Workspace
) -> None:
    from labledger.tracking import start_run

    pat = open_as("pat")
    with start_run("fit", project="assay", workspace=pat) as run:
        made = run.log_artifact({"auc": 0.9}, name="scores")
    assert made.run_id == run.id
    stored = workspace.stores.artifacts.get_artifacts([made.id])[0]
    assert stored.id == made.id
    assert get_run(run.id, workspace=workspace).project_id == workspace.project_id("assay")


def test_a_user_with_no_role_is_told_about_the_project_they_named(
    open_as: Callable[[str], RemoteWorkspace],
) -> None:
    from labledger.tracking import start_run

    otto = open_as("otto")  # no role anywhere
    with pytest.raises(NotFoundError) as refused:
        start_run("fit", project="assay", workspace=otto)
    assert "no project called 'assay' that you are a member of" in refused.value.message
    assert "labledger projects grant otto editor --project assay" in (refused.value.hint or "")
    with pytest.raises(NotFoundError) as plain:
        twice.run(workspace=otto)
    assert "otto has no role in project 'default'" in plain.value.message
