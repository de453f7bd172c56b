"""Task batches, task inputs and key facts are kept to the projects their users read.

The scenes of ``test_project_scoping`` (``alpha`` and ``beta``, users ``ana`` in alpha, ``ben``
in beta, ``cal`` in both): a batch names only artifacts of projects its writer reads, reuses
only what runs of its own project recorded, and a task id of another run is a conflict that
tells nothing of it; task inputs leave other projects' artifacts out; a sealed run's key facts
stay as they are; rows whose JSON text is no JSON object are refused before anything is stored.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest

from labledger._foundation.errors import ConflictError
from labledger._foundation.ids import new_id
from labledger.stores.tasks import (
    NewArtifact,
    PipelineRunRecord,
    TaskBatch,
    TaskInput,
    TaskOutput,
    TaskRow,
)
from labledger.tracking import start_run
from labledger.workspace.http.workspace import RemoteWorkspace
from tests.unit.project_scenes import Scene, record_scene
from tests.unit.server import test_project_scoping as scoping

if TYPE_CHECKING:
    from labledger.tracking.run import ActiveRun
    from labledger.workspace.workspace import Workspace
    from tests.unit.server.conftest import TestClient

Opener = Callable[[str], RemoteWorkspace]
# The two projects, their users and scenes of ``test_project_scoping``.
app, tokens, open_as, scenes = scoping.app, scoping.tokens, scoping.open_as, scoping.scenes


def _pipeline_run(remote: RemoteWorkspace, project: str) -> ActiveRun:
    """A running pipeline run in ``project``, started through ``remote``."""
    run = start_run(f"pipe-{new_id()}", kind="pipeline", project=project, workspace=remote)
    remote.stores.tasks.create_pipeline_run(
        PipelineRunRecord(run.id, f"scenes:{project}", None, None, 0, "{}")
    )
    return run


def _task(run_id: str, cache_key: str | None = None) -> TaskRow:
    now = time.time()
    return TaskRow(
        new_id(), run_id, f"fit-{new_id()}", "scenes.fit", "f" * 8, cache_key or new_id(),
        "finished", None, 1, now, now, "{}", "{}", True, None, None, None,
    )  # fmt: skip


def _own_output(remote: RemoteWorkspace, run_id: str, data: bytes) -> NewArtifact:
    digest = remote.store.put(data)
    return NewArtifact(
        new_id(), "", f"out-{new_id()}", "value", "json", digest, len(data), "{}", "{}", run_id,
        time.time(), "anyone",
    )  # fmt: skip


def _refusal(call: Callable[[], object]) -> str:
    with pytest.raises(ConflictError) as refused:
        call()
    return str(refused.value)


def test_a_batch_names_no_artifact_of_a_project_its_writer_does_not_read(
    open_as: Opener, scenes: dict[str, Scene]
) -> None:
    beta = scenes["beta"]
    ana = open_as("ana")
    run = _pipeline_run(ana, "alpha")

    def linking(artifact_id: str, *, as_input: bool) -> Callable[[], object]:
        task = _task(run.id)
        if as_input:
            batch = TaskBatch(tasks=[task], inputs=[TaskInput(task.id, "plate", artifact_id)])
        else:
            edge = TaskOutput(task.id, "return", artifact_id, False, "json")
            batch = TaskBatch(tasks=[task], outputs=[edge])
        return lambda: ana.stores.tasks.record_tasks(batch)

    for as_input in (False, True):
        unknown = _refusal(linking(new_id(), as_input=as_input))
        for foreign in (beta.output_id, beta.input_id):
            # Refused exactly as an artifact that does not exist: no oracle.
            assert _refusal(linking(foreign, as_input=as_input)) == unknown
    outputs = ana.stores.tasks.run_outputs(run.id)
    assert beta.output_id not in {ref.artifact_id for ref in outputs}
    # An editor of both projects may link beta's output into an alpha run: they read it.
    cal = open_as("cal")
    both = _pipeline_run(cal, "alpha")
    task = _task(both.id)
    edge = TaskOutput(task.id, "return", beta.output_id, False, "json")
    assert cal.stores.tasks.record_tasks(TaskBatch(tasks=[task], outputs=[edge])) == {}
    assert beta.output_id in {ref.artifact_id for ref in cal.stores.tasks.run_outputs(both.id)}


def test_a_task_id_of_another_run_is_a_conflict_that_reveals_nothing(
    open_as: Opener, scenes: dict[str, Scene]
) -> None:
    beta = scenes["beta"]
    ana = open_as("ana")
    run = _pipeline_run(ana, "alpha")
    mine = _own_output(ana, run.id, f"ana's {new_id()}".encode())
    stolen = _task(run.id)._replace(id=beta.task_id)
    batch = TaskBatch(
        tasks=[stolen],
        outputs=[TaskOutput(beta.task_id, "return", mine.id, True, "json")],
        artifacts=[mine],
        blobs={mine.digest: mine.size},
    )
    refused = _refusal(lambda: ana.stores.tasks.record_tasks(batch))
    assert beta.output_id not in refused
    assert beta.task_id not in refused
    # The same batch with a fresh task id is recorded; sent again, it answers the same.
    fresh = _task(run.id)
    again = TaskBatch(
        tasks=[fresh],
        outputs=[TaskOutput(fresh.id, "return", mine.id, True, "json")],
        artifacts=[mine],
        blobs={mine.digest: mine.size},
    )
    assert ana.stores.tasks.record_tasks(again) == {}
    assert ana.stores.tasks.record_tasks(again) == {}


def test_equal_results_are_linked_only_within_the_batchs_project(
    open_as: Opener, scenes: dict[str, Scene]
) -> None:
    beta = scenes["beta"]
    size = open_as("ben").stores.artifacts.get_artifacts([beta.output_id])[0].size
    ana = open_as("ana")

    def same_result_as_beta(remote: RemoteWorkspace, project: str) -> dict[str, str]:
        run = _pipeline_run(remote, project)
        task = _task(run.id, beta.cache_key)
        ours = NewArtifact(
            new_id(), "", f"out-{new_id()}", "value", "json", beta.output_digest, size, "{}",
            "{}", run.id, time.time(), "anyone",
        )  # fmt: skip
        batch = TaskBatch(
            tasks=[task],
            outputs=[TaskOutput(task.id, "return", ours.id, True, "json")],
            artifacts=[ours],
            blobs={beta.output_digest: size},
        )
        return remote.stores.tasks.record_tasks(batch)

    # ana (alpha) learns nothing of beta's output by computing its bytes under its key ...
    assert same_result_as_beta(ana, "alpha") == {}
    # ... while a run of beta itself reuses it.
    assert list(same_result_as_beta(open_as("ben"), "beta").values()) == [beta.output_id]


def test_task_inputs_leave_out_artifacts_of_projects_the_user_does_not_read(
    open_as: Opener, scenes: dict[str, Scene]
) -> None:
    beta = scenes["beta"]
    # cal, in both projects, runs alpha pipelines reading beta's model and beta's plate (a file).
    model = record_scene(open_as("cal"), "alpha", reads=beta.output_id)
    plate = record_scene(open_as("cal"), "alpha", reads=beta.input_id)
    ana, cal = open_as("ana").stores.tasks, open_as("cal").stores.tasks
    for scene, foreign in ((model, beta.output_id), (plate, beta.input_id)):
        assert [i.artifact_id for i in cal.task_inputs([scene.task_id])] == [foreign]
        assert ana.get_tasks([scene.task_id]).keys() == {scene.task_id}
        assert ana.task_inputs([scene.task_id]) == []
    assert [i.artifact_id for i in cal.run_file_inputs(plate.run_id)] == [beta.input_id]
    assert ana.run_file_inputs(plate.run_id) == []
    assert [i.artifact_id for i in ana.task_inputs([scenes["alpha"].task_id])] == [
        scenes["alpha"].input_id
    ]


def _as(tokens: dict[str, str], name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens[name]}"}


def test_a_sealed_runs_key_facts_stay_as_sealed(
    client: TestClient, tokens: dict[str, str], open_as: Opener, workspace: Workspace
) -> None:
    ana = open_as("ana")
    run = _pipeline_run(ana, "alpha")
    first, second = (workspace.store.put(f"facts {n} {new_id()}".encode()) for n in (1, 2))
    url = f"/api/v1/tasks/pipeline-runs/{run.id}/key-facts"

    def put(digest: str) -> Any:
        body = {"digest": digest, "size": workspace.store.size(digest)}
        return client.put(url, json=body, headers=_as(tokens, "ana"))

    assert put(first).status_code == 204  # while it runs
    run.end("finished")
    assert put(first).status_code == 204  # sent again after a lost answer: nothing changes
    refused = put(second)
    assert refused.status_code == 409, refused.text
    assert refused.json()["code"] == "run_state"
    assert refused.json()["hint"]
    record = ana.stores.tasks.pipeline_run(run.id)
    assert record is not None
    assert record.facts_digest == first


@pytest.mark.parametrize(
    ("rows", "field", "bad"),
    [
        ("artifacts", "schema_json", "{bad"),
        ("artifacts", "schema_json", "[]"),
        ("artifacts", "stats_json", "null"),
        ("tasks", "params_json", "[1]"),
        ("tasks", "options_json", '"text"'),
        ("tasks", "params_json", "[" * 100_000),
        ("artifacts", "stats_json", '{"a":' * 450 + "1" + "}" * 450),
        ("artifacts", "stats_json", '{"x": "\\ud800"}'),
        ("artifacts", "schema_json", '{"x": "a\\u0000"}'),
        ("artifacts", "stats_json", '{"x": "' + "y" * 300_000 + '"}'),
    ],
)
def test_rows_whose_json_is_no_object_are_refused_and_nothing_is_stored(
    client: TestClient,
    tokens: dict[str, str],
    open_as: Opener,
    rows: str,
    field: str,
    bad: str,
) -> None:
    ana = open_as("ana")
    run = _pipeline_run(ana, "alpha")
    task = _task(run.id)
    artifact = _own_output(ana, run.id, f"bytes {new_id()}".encode())
    if rows == "tasks":
        task = task._replace(**{field: bad})
    else:
        artifact = artifact._replace(**{field: bad})
    body = {
        "tasks": [list(task)],
        "outputs": [[task.id, "return", artifact.id, True, "json"]],
        "artifacts": [list(artifact)],
        "blobs": {artifact.digest: artifact.size},
    }
    refused = client.post("/api/v1/tasks/batches", json=body, headers=_as(tokens, "ana"))
    assert refused.status_code == 422, refused.text
    said = refused.json()
    assert said["code"] == "invalid_request"
    assert f"{field} is not a JSON object" in said["message"]
    assert ana.stores.tasks.get_tasks([task.id]) == {}
    listed = client.get("/api/v1/artifacts", headers=_as(tokens, "ana"))
    assert listed.status_code == 200, listed.text
    assert artifact.id not in listed.text


def test_a_reproduction_of_a_run_the_user_cannot_read_is_as_of_no_run(
    open_as: Opener, scenes: dict[str, Scene]
) -> None:
    """Naming another project's run as the one reproduced answers as a run that does not exist
    does, so the answer tells nothing of it."""
    from labledger._foundation.errors import NotFoundError

    ana = open_as("ana")
    said = []
    for reproduced in (scenes["beta"].run_id, new_id()):
        run = start_run(f"pipe-{new_id()}", kind="pipeline", project="alpha", workspace=ana)
        record = PipelineRunRecord(run.id, "scenes:alpha", None, None, 0, "{}", reproduced)
        with pytest.raises(NotFoundError) as refused:
            ana.stores.tasks.create_pipeline_run(record)
        said.append(str(refused.value).replace(run.id, "<run>"))
        assert ana.stores.tasks.pipeline_run(run.id) is None
        run.end()
    assert said[0] == said[1]


@pytest.mark.parametrize("bad", ["[1]", "null", "{bad", '"text"'])
def test_a_pipeline_record_whose_params_are_no_object_is_refused(
    client: TestClient, tokens: dict[str, str], open_as: Opener, bad: str
) -> None:
    ana = open_as("ana")
    run = start_run(f"pipe-{new_id()}", kind="pipeline", project="alpha", workspace=ana)
    body = {"run_id": run.id, "pipeline": "scenes", "seed": 0, "params_json": bad}
    refused = client.post("/api/v1/tasks/pipeline-runs", json=body, headers=_as(tokens, "ana"))
    assert refused.status_code == 422, refused.text
    assert "params_json is not a JSON object" in refused.json()["message"]
    assert ana.stores.tasks.pipeline_run(run.id) is None
    body["params_json"] = '{"alpha": 1}'
    created = client.post("/api/v1/tasks/pipeline-runs", json=body, headers=_as(tokens, "ana"))
    assert created.status_code == 201, created.text


def test_an_artifact_a_teammate_records_into_a_run_keeps_verify_clean(
    open_as: Opener, scenes: dict[str, Scene], workspace: Workspace
) -> None:
    from labledger.workspace.verify import verify_workspace

    ana, cal = open_as("ana"), open_as("cal")
    run = _pipeline_run(ana, "alpha")
    task = _task(run.id)
    made = _own_output(cal, run.id, b"cal's result")
    edge = TaskOutput(task.id, "return", made.id, True, "json")
    batch = TaskBatch(
        tasks=[task], outputs=[edge], artifacts=[made], blobs={made.digest: made.size}
    )
    cal.stores.tasks.record_tasks(batch)
    run.end()  # sealed by ana, whose seal lists cal's artifact among the run's
    report = verify_workspace(workspace, blobs=False, remember=False)
    assert report.ok, report.problems
