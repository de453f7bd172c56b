"""Two projects on a real ``labledger server``: each user reads, lists, finds in the cache and
walks the lineage of the artifacts and pipeline tasks of their own project only.

``ana`` edits project ``a`` and ``ben`` project ``b``; each records a pipeline run in their
project through the server (blobs uploaded, task batch, artifacts, seal). What lies in the other
project is answered as if it did not exist; ``cal``, an editor of both, sees both.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

import labledger
from labledger._foundation.errors import NotFoundError
from labledger._foundation.settings import server_settings
from labledger.identity import IdentityService, Role, local_user
from labledger.workspace.http.workspace import RemoteWorkspace
from labledger.workspace.workspace import Workspace
from tests.integration.served import start_server
from tests.unit.project_scenes import Scene, record_scene

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

pytestmark = pytest.mark.integration

_ROLES = {"ana": {"a": Role.EDITOR}, "ben": {"b": Role.EDITOR}, "cal": {"a": Role.EDITOR, "b": Role.EDITOR}}  # fmt: skip


@pytest.fixture
def open_as(tmp_path: Path) -> Iterator[Callable[[str], RemoteWorkspace]]:
    served = Workspace.init(tmp_path / "served")
    service = IdentityService(served.stores.identity)
    tokens: dict[str, str] = {}
    for project in ("a", "b"):
        served.project_id(project)
    for name, roles in _ROLES.items():
        service.create_user(name, by="root")
        for project, role in roles.items():
            service.grant(project, name, role, actor=local_user("root"))
        tokens[name] = service.issue_token(name, "test", by="root").secret
    opened: list[RemoteWorkspace] = []
    try:
        with start_server(served.settings.root or tmp_path) as url:

            def make(name: str) -> RemoteWorkspace:
                remote = RemoteWorkspace(server_settings(url), token=tokens[name])
                opened.append(remote)
                return remote

            yield make
            for remote in opened:
                remote.close()
    finally:
        labledger.set_workspace(None)
        served.close()


def _cannot_see(remote: RemoteWorkspace, scene: Scene) -> None:
    with pytest.raises(NotFoundError):
        remote.stores.artifacts.get_artifacts([scene.output_id])
    with pytest.raises(NotFoundError):
        remote.stores.artifacts.get_artifacts([scene.output_name])
    listed = {a.id for a in remote.stores.artifacts.list_artifacts(max_results=1000).items}
    assert listed.isdisjoint({scene.output_id, scene.input_id, scene.logged_id})
    assert remote.stores.artifacts.list_artifacts(run_id=scene.run_id).items == []
    assert remote.stores.tasks.find_cached([scene.cache_key]) == {}
    assert remote.stores.tasks.run_tasks(scene.run_id) == []
    assert remote.stores.tasks.get_tasks([scene.task_id]) == {}
    for ref, direction in (
        (scene.output_id, "up"),
        (scene.input_id, "down"),
        (scene.run_id, "run"),
    ):
        with pytest.raises(NotFoundError):
            remote.stores.lineage.walk(ref, direction)  # type: ignore[arg-type]


def _sees(remote: RemoteWorkspace, scene: Scene) -> None:
    assert [a.id for a in remote.stores.artifacts.get_artifacts([scene.output_name])] == [
        scene.output_id
    ]
    listed = {a.id for a in remote.stores.artifacts.list_artifacts(max_results=1000).items}
    assert {scene.output_id, scene.input_id, scene.logged_id} <= listed
    hits = remote.stores.tasks.find_cached([scene.cache_key])[scene.cache_key]
    assert [hit.task_id for hit in hits] == [scene.task_id]
    assert [row.id for row in remote.stores.tasks.run_tasks(scene.run_id)] == [scene.task_id]
    graph = remote.stores.lineage.walk(scene.output_id, "up")
    assert {scene.output_id, scene.task_id, scene.input_id} <= {n.id for n in graph.nodes}


def test_each_user_reads_the_artifacts_and_tasks_of_their_own_project_only(
    open_as: Callable[[str], RemoteWorkspace],
) -> None:
    a = record_scene(open_as("ana"), "a")
    b = record_scene(open_as("ben"), "b")
    ana, ben, cal = open_as("ana"), open_as("ben"), open_as("cal")
    _sees(ana, a)
    _cannot_see(ana, b)
    _sees(ben, b)
    _cannot_see(ben, a)
    _sees(cal, a)
    _sees(cal, b)
    # The bytes of an output are read by digest, learnt from a record the user reads.
    with ben.store.open(b.output_digest) as handle:
        assert handle.read().startswith(b"m of b")
