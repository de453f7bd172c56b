"""Artifacts, pipeline tasks, lineage and blobs are kept to the projects their users read.

Two projects, ``alpha`` and ``beta``, each with a pipeline run recorded through the server by an
editor of that project (``ana`` in alpha, ``ben`` in beta); ``val`` views alpha, ``cal`` edits
both, ``nob`` is in no project. A member of one project sees nothing of the other: what lies
there is answered exactly as what does not exist. A viewer cannot write. Every route of these
routers is called as each of them (``test_every_route_answers_a_non_member_as_if_absent``).
"""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Any

import pytest

from labledger._foundation.errors import NotFoundError, PermissionDeniedError
from labledger._foundation.ids import new_id
from labledger._foundation.settings import server_settings
from labledger.identity import Role, local_user
from labledger.server import create_app
from labledger.server.permissions import api_routes
from labledger.stores.artifacts import Artifact, NewArtifact
from labledger.stores.tasks import TaskBatch
from labledger.workspace.http.workspace import RemoteWorkspace
from tests.unit.project_scenes import Scene, record_scene
from tests.unit.server.app_transport import AppTransport

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from labledger.identity import IdentityService
    from labledger.workspace.workspace import Workspace
    from tests.unit.server.conftest import TestClient

URL = "http://server.test"
_ROLES = {
    "ana": {"alpha": Role.EDITOR},
    "ben": {"beta": Role.EDITOR},
    "val": {"alpha": Role.VIEWER},
    "cal": {"alpha": Role.EDITOR, "beta": Role.EDITOR},
    "nob": {},
}


@pytest.fixture
def app(workspace: Workspace) -> Any:
    return create_app(workspace, auth_required=True, body_limit=4 * 1024 * 1024)


@pytest.fixture
def tokens(workspace: Workspace, service: IdentityService) -> dict[str, str]:
    for project in ("alpha", "beta"):
        workspace.project_id(project)
    secrets: dict[str, str] = {}
    for name, roles in _ROLES.items():
        service.create_user(name, by="root")
        for project, role in roles.items():
            service.grant(project, name, role, actor=local_user("root"))
        secrets[name] = service.issue_token(name, "test", by="root").secret
    return secrets


@pytest.fixture
def open_as(app: Any, tokens: dict[str, str]) -> Iterator[Callable[[str], RemoteWorkspace]]:
    transport = AppTransport(app)
    opened: list[RemoteWorkspace] = []

    def make(name: str) -> RemoteWorkspace:
        remote = RemoteWorkspace(server_settings(URL), transport=transport, token=tokens[name])
        opened.append(remote)
        return remote

    yield make
    for remote in opened:
        remote.close()


@pytest.fixture
def scenes(open_as: Callable[[str], RemoteWorkspace]) -> dict[str, Scene]:
    return {
        "alpha": record_scene(open_as("ana"), "alpha"),
        "beta": record_scene(open_as("ben"), "beta"),
    }


def test_artifacts_of_another_project_are_not_found(
    open_as: Callable[[str], RemoteWorkspace], scenes: dict[str, Scene]
) -> None:
    alpha, beta = scenes["alpha"], scenes["beta"]
    ana, ben = open_as("ana").stores.artifacts, open_as("ben").stores.artifacts
    for ref in (beta.output_id, beta.output_id[:-1], beta.output_name, beta.output_digest):
        with pytest.raises(NotFoundError) as hidden:
            ana.get_artifacts([ref])
        assert repr(ref) in str(hidden.value)
        assert [a.id for a in ben.get_artifacts([ref])] == [beta.output_id]
    assert [a.id for a in ana.get_artifacts([alpha.output_name])] == [alpha.output_id]
    # A list keeps to the projects the user reads in its query: full pages, exact tokens.
    mine = {alpha.output_id, alpha.input_id, alpha.logged_id}
    listed: list[str] = []
    token = None
    while True:
        page = ana.list_artifacts(max_results=1, page_token=token)
        assert len(page.items) == 1
        listed += [a.id for a in page.items]
        token = page.next_token
        if token is None:
            break
    assert set(listed) == mine
    assert ana.list_artifacts(run_id=beta.run_id).items == []
    assert {a.id for a in open_as("cal").stores.artifacts.list_artifacts().items} == mine | {
        beta.output_id,
        beta.input_id,
        beta.logged_id,
    }
    # Narrowed to a project by id: one the user does not read answers nothing.
    assert ana.list_artifacts(projects=[_project_id(open_as, "beta")]).items == []


def _project_id(open_as: Callable[[str], RemoteWorkspace], name: str) -> str:
    return open_as("cal").project_id(name)


def test_tasks_and_cache_hits_of_another_project_are_absent(
    open_as: Callable[[str], RemoteWorkspace], scenes: dict[str, Scene]
) -> None:
    alpha, beta = scenes["alpha"], scenes["beta"]
    ana, ben = open_as("ana").stores.tasks, open_as("ben").stores.tasks
    # Cache: nobody gets a hit (and so the outputs) of a project they cannot see.
    assert ana.find_cached([beta.cache_key]) == {}
    assert ana.find_cached([beta.cache_key], run_id=beta.run_id) == {}
    assert [hit.task_id for hit in ben.find_cached([beta.cache_key])[beta.cache_key]] == [
        beta.task_id
    ]
    assert [hit.task_id for hit in ana.find_cached([alpha.cache_key])[alpha.cache_key]] == [
        alpha.task_id
    ]
    # An editor of both reuses a hit of either: they read those outputs anyway.
    cal = open_as("cal").stores.tasks
    found = cal.find_cached([alpha.cache_key, beta.cache_key])
    assert set(found) == {alpha.cache_key, beta.cache_key}
    # A run of another project reads as a run that does not exist.
    for run_id in (beta.run_id, new_id()):
        assert ana.pipeline_run(run_id) is None
        assert ana.run_tasks(run_id) == []
        assert ana.run_outputs(run_id) == []
        assert ana.run_file_inputs(run_id) == []
        seal = ana.run_seal(run_id)
        assert (seal.seals, seal.record_digest) == ((), None)
    assert ben.pipeline_run(beta.run_id) is not None
    assert [row.id for row in ben.run_tasks(beta.run_id)] == [beta.task_id]
    assert ben.run_seal(beta.run_id).seals
    assert ana.get_tasks([beta.task_id, alpha.task_id]).keys() == {alpha.task_id}
    assert ana.task_inputs([beta.task_id]) == []
    assert [i.artifact_id for i in ben.task_inputs([beta.task_id])] == [beta.input_id]
    assert ana.earlier_tasks(beta.pipeline, ["fit"], 10) == []
    assert [t.task_id for t in ben.earlier_tasks(beta.pipeline, ["fit"], 10)] == [beta.task_id]
    assert ana.find_artifacts([beta.output_name], [beta.output_digest]) == []
    assert [m.id for m in ben.find_artifacts([beta.output_name], [beta.output_digest])] == [
        beta.output_id
    ]


def test_lineage_starts_only_where_the_user_reads_and_leaves_other_projects_out(
    open_as: Callable[[str], RemoteWorkspace], scenes: dict[str, Scene]
) -> None:
    alpha, beta = scenes["alpha"], scenes["beta"]
    ana, ben = open_as("ana").stores.lineage, open_as("ben").stores.lineage
    for ref, direction in (
        (beta.output_id, "up"),
        (beta.output_name, "down"),
        (beta.run_id, "run"),
    ):
        with pytest.raises(NotFoundError):
            ana.walk(ref, direction)  # type: ignore[arg-type]
        assert ben.walk(ref, direction).nodes  # type: ignore[arg-type]
    with pytest.raises(NotFoundError):
        ana.artifact_id(beta.output_name)
    with pytest.raises(NotFoundError):
        ana.provenance(beta.run_id)
    assert ben.provenance(beta.run_id).run.id == beta.run_id
    facts = ana.repro_facts([beta.output_id], [beta.task_id])
    assert (facts.artifacts, facts.tasks) == ({}, {})
    assert beta.output_id in ben.repro_facts([beta.output_id], []).artifacts
    # cal, an editor of both, runs a pipeline in alpha that reads beta's model: ana sees the
    # alpha side of that lineage, cal and nobody else the whole of it.
    crossing = record_scene(open_as("cal"), "alpha", reads=beta.output_id)
    whole = open_as("cal").stores.lineage.walk(crossing.output_id, "up")
    assert {beta.output_id, beta.task_id, beta.input_id} <= {n.id for n in whole.nodes}
    seen = ana.walk(crossing.output_id, "up")
    ids = {n.id for n in seen.nodes}
    assert {crossing.output_id, crossing.task_id} <= ids
    assert ids.isdisjoint({beta.output_id, beta.task_id, beta.input_id})
    assert all(e.source in ids and e.target in ids for e in seen.edges)
    assert beta.output_id not in {a.id for a in ana.provenance(crossing.run_id).artifacts}
    assert beta.output_id not in ana.repro_facts([crossing.output_id], []).artifacts
    assert alpha.output_id in {n.id for n in ana.walk(alpha.input_id, "down").nodes}


def test_writes_need_an_editor_of_the_project_written_to(
    open_as: Callable[[str], RemoteWorkspace], scenes: dict[str, Scene], workspace: Workspace
) -> None:
    alpha, beta = scenes["alpha"], scenes["beta"]
    data = b"a note"
    digest = workspace.store.put(data)

    def note(run_id: str | None) -> Artifact:
        return Artifact(
            new_id(), f"n-{new_id()}", "file", "bytes", digest, len(data), run_id, 0.0, "x"
        )

    ana = open_as("ana").stores.artifacts
    beta_id, alpha_id = _project_id(open_as, "beta"), _project_id(open_as, "alpha")
    with pytest.raises(NotFoundError):
        ana.add_artifacts([NewArtifact(note(beta.run_id), alpha_id, ((digest, len(data)),))])
    with pytest.raises(NotFoundError):
        ana.add_artifacts([NewArtifact(note(None), beta_id, ((digest, len(data)),))])
    made = ana.add_artifacts([NewArtifact(note(None), alpha_id, ((digest, len(data)),))])
    assert [a.id for a in open_as("val").stores.artifacts.get_artifacts([made[0].id])] == [
        made[0].id
    ]
    with pytest.raises(NotFoundError):
        open_as("ben").stores.artifacts.get_artifacts([made[0].id])
    val = open_as("val")
    with pytest.raises(PermissionDeniedError):
        val.stores.artifacts.add_artifacts([NewArtifact(note(None), alpha_id, ((digest, 6),))])
    with pytest.raises(PermissionDeniedError):
        val.stores.tasks.record_tasks(TaskBatch(tasks=[_task_of(open_as, alpha)]))
    with pytest.raises(NotFoundError):
        open_as("ana").stores.tasks.record_tasks(TaskBatch(tasks=[_task_of(open_as, beta)]))
    with pytest.raises(PermissionDeniedError):
        val.store.put(b"bytes a viewer brings")


def _task_of(open_as: Callable[[str], RemoteWorkspace], scene: Scene) -> Any:
    row = open_as("cal").stores.tasks.get_tasks([scene.task_id])[scene.task_id]
    return row._replace(id=new_id())


def test_artifacts_of_a_task_batch_belong_to_its_runs_project(
    open_as: Callable[[str], RemoteWorkspace], scenes: dict[str, Scene], workspace: Workspace
) -> None:
    import sqlalchemy as sa

    from labledger.workspace import schema

    beta = scenes["beta"]
    with workspace.read() as conn:
        project = conn.execute(
            sa.select(schema.artifacts.c.project_id).where(schema.artifacts.c.id == beta.output_id)
        ).scalar()
    assert project == _project_id(open_as, "beta")


def test_blobs_need_a_role_in_some_project(
    client: TestClient, tokens: dict[str, str], scenes: dict[str, Scene]
) -> None:
    digest = scenes["beta"].output_digest

    def as_(name: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {tokens[name]}"}

    # A digest is learnt from records the user reads; anyone in some project may fetch it.
    assert client.get(f"/api/v1/blobs/{digest}", headers=as_("val")).status_code == 200
    for name in ("nob",):
        assert client.get(f"/api/v1/blobs/{digest}", headers=as_(name)).status_code == 404
        assert client.head(f"/api/v1/blobs/{digest}", headers=as_(name)).status_code == 404
        asked = client.post("/api/v1/blobs/presence", json={"digests": [digest]}, headers=as_(name))
        assert asked.status_code == 404
    put = client.put(f"/api/v1/blobs/{digest}", content=b"x", headers=as_("val"))
    assert put.status_code == 403, put.text
    staged = {"digest": digest, "size": 1}
    assert client.post("/api/v1/blobs/uploads", json=staged, headers=as_("val")).status_code == 403
    assert client.post("/api/v1/blobs/uploads", json=staged, headers=as_("ana")).status_code == 200


# -- every route, every role ----------------------------------------------------------------

_SCOPED = ("/api/v1/artifacts", "/api/v1/tasks", "/api/v1/lineage", "/api/v1/blobs")
_WRITES = {"POST /api/v1/artifacts", "POST /api/v1/tasks/pipeline-runs",
           "PUT /api/v1/tasks/pipeline-runs/{run_id}/key-facts", "POST /api/v1/tasks/batches",
           "POST /api/v1/tasks/runs/{run_id}/verifications", "PUT /api/v1/blobs/{digest}",
           "POST /api/v1/blobs/uploads", "POST /api/v1/blobs/uploads/{upload_id}/complete",
           "POST /api/v1/blobs/batch"}  # fmt: skip
Call = tuple[str, str, dict[str, Any]]
_BLOB_DATA = base64.b64encode(b"some bytes everyone may hold").decode()
_BLOB_ROUTES = (
    "GET /api/v1/blobs",
    "HEAD /api/v1/blobs",
    "PUT /api/v1/blobs",
    "POST /api/v1/blobs",
)


def _calls(scene: Scene, blob: tuple[str, int]) -> dict[str, Call]:
    """For each route of the scoped routers (``METHOD path``), a request about ``scene``'s
    records, as ``(method, url, request keywords)``."""
    run, task, out = scene.run_id, scene.task_id, scene.output_id
    digest, size = blob
    row = [new_id(), run, "fit", "s.fit", "f", "k", "finished", None, 1, 1.0, 2.0, "{}", "{}",
           True, None, None, None]  # fmt: skip
    calls: dict[str, tuple[str, dict[str, Any]]] = {
        "POST /api/v1/artifacts": (
            "/api/v1/artifacts",
            {
                "json": {
                    "artifacts": [
                        {
                            "name": f"n-{new_id()}",
                            "kind": "file",
                            "format": "bytes",
                            "digest": digest,
                            "size": size,
                            "run_id": run,
                        }
                    ]
                }
            },
        ),
        "POST /api/v1/artifacts/get": ("/api/v1/artifacts/get", {"json": {"refs": [out]}}),
        "GET /api/v1/artifacts": ("/api/v1/artifacts", {"params": {"run_id": run}}),
        "POST /api/v1/tasks/pipeline-runs": (
            "/api/v1/tasks/pipeline-runs",
            {"json": {"run_id": run, "pipeline": "m:p", "seed": 0}},
        ),
        "GET /api/v1/tasks/pipeline-runs/{run_id}": (f"/api/v1/tasks/pipeline-runs/{run}", {}),
        "PUT /api/v1/tasks/pipeline-runs/{run_id}/key-facts": (
            f"/api/v1/tasks/pipeline-runs/{run}/key-facts",
            {"json": {"digest": digest, "size": size}},
        ),
        "POST /api/v1/tasks/cache/find": (
            "/api/v1/tasks/cache/find",
            {"json": {"keys": [scene.cache_key], "run_id": run}},
        ),
        # Every scene's step has the fingerprint "ffffffff": a non-member's index holds only the
        # entries of the projects they read, as if the others did not exist.
        "POST /api/v1/tasks/cache/index": (
            "/api/v1/tasks/cache/index",
            {"json": {"fingerprints": ["f" * 8], "run_id": run}},
        ),
        "POST /api/v1/blobs/batch": (
            "/api/v1/blobs/batch",
            {"json": {"blobs": [{"digest": digest, "data": _BLOB_DATA}]}},
        ),
        "POST /api/v1/tasks/batches": ("/api/v1/tasks/batches", {"json": {"tasks": [row]}}),
        "POST /api/v1/tasks/runs/{run_id}/verifications": (
            f"/api/v1/tasks/runs/{run}/verifications",
            {"json": {"rerun_id": run, "checks": []}},
        ),
        "GET /api/v1/tasks/runs/{run_id}/tasks": (f"/api/v1/tasks/runs/{run}/tasks", {}),
        "GET /api/v1/tasks/runs/{run_id}/outputs": (f"/api/v1/tasks/runs/{run}/outputs", {}),
        "GET /api/v1/tasks/runs/{run_id}/file-inputs": (
            f"/api/v1/tasks/runs/{run}/file-inputs",
            {},
        ),
        "GET /api/v1/tasks/runs/{run_id}/seal": (f"/api/v1/tasks/runs/{run}/seal", {}),
        "POST /api/v1/tasks/by-id": ("/api/v1/tasks/by-id", {"json": {"task_ids": [task]}}),
        "POST /api/v1/tasks/inputs": ("/api/v1/tasks/inputs", {"json": {"task_ids": [task]}}),
        "POST /api/v1/tasks/earlier": (
            "/api/v1/tasks/earlier",
            {"json": {"pipeline": scene.pipeline, "nodes": ["fit"], "limit": 5}},
        ),
        "POST /api/v1/tasks/artifacts/find": (
            "/api/v1/tasks/artifacts/find",
            {"json": {"names": [scene.output_name], "digests": [scene.output_digest]}},
        ),
        "GET /api/v1/lineage/walk": (
            "/api/v1/lineage/walk",
            {"params": {"ref": scene.output_name, "direction": "up"}},
        ),
        "GET /api/v1/lineage/artifact-id": (
            "/api/v1/lineage/artifact-id",
            {"params": {"ref": out}},
        ),
        "POST /api/v1/lineage/repro-facts": (
            "/api/v1/lineage/repro-facts",
            {"json": {"artifact_ids": [out], "task_ids": [task]}},
        ),
        "GET /api/v1/lineage/provenance": ("/api/v1/lineage/provenance", {"params": {"ref": run}}),
        "POST /api/v1/blobs/presence": (
            "/api/v1/blobs/presence",
            {"json": {"digests": [scene.output_digest]}},
        ),
        "HEAD /api/v1/blobs/{digest}": (f"/api/v1/blobs/{scene.output_digest}", {}),
        "GET /api/v1/blobs/{digest}": (f"/api/v1/blobs/{scene.output_digest}", {}),
        "PUT /api/v1/blobs/{digest}": (f"/api/v1/blobs/{digest}", {"content": b"x"}),
        "POST /api/v1/blobs/uploads": (
            "/api/v1/blobs/uploads",
            {"json": {"digest": digest, "size": size}},
        ),
        "POST /api/v1/blobs/uploads/{upload_id}/complete": (
            "/api/v1/blobs/uploads/u1/complete",
            {"json": {"digest": digest, "size": size}},
        ),
    }
    return {key: (key.split(" ")[0], url, kw) for key, (url, kw) in calls.items()}


def _absent() -> Scene:
    """A scene of ids nothing has."""
    from labledger._foundation.digests import digest_bytes

    return Scene("none", new_id(), "scenes:none", new_id(), f"key-none-{new_id()}", new_id(),
                 new_id(), "model-none", digest_bytes(new_id().encode()), new_id())  # fmt: skip


def _said(response: Any, scene: Scene) -> tuple[int, str]:
    """A response's status and body, with the scene's ids and names made anonymous."""
    text = response.text
    for field in ("run_id", "task_id", "cache_key", "output_id", "output_name", "output_digest",
                  "pipeline", "input_id"):  # fmt: skip
        text = text.replace(str(getattr(scene, field)), f"<{field}>")
    return response.status_code, text


def test_every_route_answers_a_non_member_as_if_absent_and_a_viewer_no_writes(
    app: Any,
    client: TestClient,
    tokens: dict[str, str],
    scenes: dict[str, Scene],
    workspace: Workspace,
) -> None:
    data = base64.b64decode(_BLOB_DATA)
    blob = (workspace.store.put(data), len(data))
    routes = {
        f"{method} {route.path}"
        for route in api_routes(app.routes)
        if route.path.startswith(_SCOPED)
        for method in route.methods
    }
    nothing = _absent()
    beta, absent = _calls(scenes["beta"], blob), _calls(nothing, blob)
    assert routes == set(beta), "a new route needs its request here"

    def call(name: str, request: Call) -> Any:
        method, url, keywords = request
        headers = {"Authorization": f"Bearer {tokens[name]}"}
        return client.request(method, url, headers=headers, **keywords)

    for route in sorted(routes):
        if route.startswith(_BLOB_ROUTES):
            continue  # blobs belong to no project: see test_blobs_need_a_role_in_some_project
        hidden = _said(call("ana", beta[route]), scenes["beta"])
        missing = _said(call("ana", absent[route]), nothing)
        if route in _WRITES:
            # ana is an editor (of alpha): the write fails only for want of beta.
            assert hidden[0] == 404, (route, hidden)
            assert hidden[0] == missing[0], (route, hidden, missing)
        else:
            assert hidden == missing, route
    # A member of the project gets past the check (a viewer reads, an editor writes) ...
    for route in sorted(routes - _WRITES):
        assert call("ben", beta[route]).status_code == 200, route
    # ... and a viewer writes nothing in their own project.
    alpha = _calls(scenes["alpha"], blob)
    for route in sorted(_WRITES):
        refused = call("val", alpha[route])
        assert refused.status_code == 403, (route, refused.text)
        assert refused.json()["code"] == "permission_denied"
