"""``/api/v1/tasks`` through ``HttpTaskStore``: batches, attribution, blob checks, retries, roles
and refusals (the server runs in this process, behind ``AppTransport``)."""

from __future__ import annotations

import dataclasses
import time
from typing import TYPE_CHECKING, Any

import pytest
import sqlalchemy as sa

from labledger._foundation.errors import (
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    ValidationError,
)
from labledger._foundation.ids import new_id
from labledger._foundation.settings import server_settings
from labledger.identity import IdentityService, Role, local_user
from labledger.server import create_app
from labledger.stores.tasks import (
    NewArtifact,
    PipelineRunRecord,
    TaskBatch,
    TaskInput,
    TaskOutput,
    TaskRow,
)
from labledger.tracking import start_run
from labledger.workspace import schema
from labledger.workspace.http import tasks as http_tasks
from labledger.workspace.http.workspace import RemoteWorkspace
from tests.unit.server.app_transport import AppTransport

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from labledger.workspace.http.tasks import HttpTaskStore
    from labledger.workspace.workspace import Workspace

URL = "http://server.test"


@pytest.fixture
def app(workspace: Workspace) -> Any:
    # Task batches are larger than the identity routes' bodies.
    return create_app(workspace, auth_required=True, body_limit=4 * 1024 * 1024)


@pytest.fixture
def transport(app: Any) -> AppTransport:
    return AppTransport(app)


@pytest.fixture
def store_as(
    workspace: Workspace, transport: AppTransport, team: dict[str, str]
) -> Iterator[Callable[[str], HttpTaskStore]]:
    """The task store through the server, as one of the team (roles in ``default``)."""
    service = IdentityService(workspace.stores.identity)
    service.grant("default", "vera", Role.VIEWER, actor=local_user("root"))
    service.grant("default", "ed", Role.EDITOR, actor=local_user("root"))
    service.grant("default", "pat", Role.EDITOR, actor=local_user("root"))
    opened: list[RemoteWorkspace] = []

    def make(name: str) -> HttpTaskStore:
        remote = RemoteWorkspace(server_settings(URL), transport=transport, token=team[name])
        opened.append(remote)
        return remote.stores.tasks

    yield make
    for remote in opened:
        remote.close()


def _pipeline_run(workspace: Workspace, store: HttpTaskStore) -> str:
    run = start_run("pipe", kind="pipeline", workspace=workspace)
    store.create_pipeline_run(PipelineRunRecord(run.id, "m:pipe", None, None, 0, "{}"))
    return run.id


def _task(run_id: str, node: str, key: str, status: str = "finished") -> TaskRow:
    now = time.time()
    return TaskRow(
        new_id(), run_id, node, "step", "f" * 8, key, status, None, 1, now, now, "{}", "{}",
        True, None, None, None,
    )  # fmt: skip


def _batch(workspace: Workspace, run_id: str, node: str = "a", data: bytes = b"1") -> TaskBatch:
    """A batch of one finished task with one output, whose blob is in the store."""
    digest = workspace.store.put(data)
    task = _task(run_id, node, f"key-{node}-{run_id}")
    artifact = NewArtifact(
        new_id(), "not-a-project", node, "value", "json", digest, len(data), "{}", "{}",
        run_id, time.time(), "mallory",
    )  # fmt: skip
    return TaskBatch(
        tasks=[task],
        outputs=[TaskOutput(task.id, "return", artifact.id, True, "json")],
        artifacts=[artifact],
        blobs={digest: len(data)},
    )


def test_a_batch_is_recorded_as_the_signed_in_user_in_the_workspace_project(
    workspace: Workspace, store_as: Callable[[str], HttpTaskStore]
) -> None:
    store = store_as("ed")
    run_id = _pipeline_run(workspace, store)
    batch = _batch(workspace, run_id)
    assert store.record_tasks(batch) == {}
    [artifact] = workspace.stores.artifacts.get_artifacts([batch.artifacts[0].id])
    assert artifact.created_by == "ed"
    with workspace.read() as conn:
        project_id = conn.execute(
            sa.select(schema.artifacts.c.project_id).where(schema.artifacts.c.id == artifact.id)
        ).scalar()
    assert project_id == workspace.project_id()
    assert [row.id for row in store.run_tasks(run_id)] == [batch.tasks[0].id]
    assert store.get_tasks([batch.tasks[0].id, "nope"]) == {batch.tasks[0].id: batch.tasks[0]}
    [ref] = store.run_outputs(run_id)
    assert (ref.artifact_id, ref.produced) == (artifact.id, True)
    record = store.pipeline_run(run_id)
    assert record is not None and record.pipeline == "m:pipe"
    assert store.pipeline_run(new_id()) is None


def test_a_batch_sent_twice_is_written_once_and_answers_the_same(
    workspace: Workspace, store_as: Callable[[str], HttpTaskStore]
) -> None:
    store = store_as("ed")
    first_run = _pipeline_run(workspace, store)
    second_run = _pipeline_run(workspace, store)
    original = _batch(workspace, first_run)
    store.record_tasks(original)
    # A second run computes the same key with equal bytes: linked to the first run's artifact.
    twin = _batch(workspace, second_run)
    twin = TaskBatch(
        tasks=[twin.tasks[0]._replace(cache_key=original.tasks[0].cache_key)],
        outputs=twin.outputs,
        artifacts=twin.artifacts,
        blobs=twin.blobs,
    )
    remap = store.record_tasks(twin)
    assert remap == {twin.artifacts[0].id: original.artifacts[0].id}
    assert store.record_tasks(twin) == remap  # the retried flush
    assert len(store.run_tasks(second_run)) == 1
    with pytest.raises(NotFoundError):
        workspace.stores.artifacts.get_artifacts([twin.artifacts[0].id])


def test_a_batch_whose_blobs_are_not_in_the_store_is_refused_and_writes_nothing(
    workspace: Workspace, store_as: Callable[[str], HttpTaskStore]
) -> None:
    store = store_as("ed")
    run_id = _pipeline_run(workspace, store)
    batch = _batch(workspace, run_id)
    digest = next(iter(batch.blobs))
    workspace.store.delete(digest)
    with pytest.raises(ValidationError, match="not in the store") as caught:
        store.record_tasks(batch)
    assert "upload" in (caught.value.hint or "")
    assert store.run_tasks(run_id) == []


def test_malformed_batches_get_clear_errors_and_write_nothing(
    workspace: Workspace, store_as: Callable[[str], HttpTaskStore]
) -> None:
    store = store_as("ed")
    run_id = _pipeline_run(workspace, store)
    batch = _batch(workspace, run_id)
    with pytest.raises(NotFoundError, match="no run with id"):
        store.record_tasks(_batch(workspace, new_id()))
    stray = TaskBatch(tasks=batch.tasks, inputs=[TaskInput(new_id(), "x", "y")])
    with pytest.raises(ValidationError, match="not in the batch"):
        store.record_tasks(stray)
    # An edge to an artifact nobody recorded: the catalog's constraint, as a 409.
    unknown = TaskBatch(tasks=batch.tasks, inputs=[TaskInput(batch.tasks[0].id, "x", new_id())])
    with pytest.raises(ConflictError, match="does not fit"):
        store.record_tasks(unknown)
    unlisted = TaskBatch(tasks=batch.tasks, outputs=batch.outputs, artifacts=batch.artifacts)
    with pytest.raises(ValidationError, match="not among the batch's blobs"):
        store.record_tasks(unlisted)
    assert store.run_tasks(run_id) == []


def test_a_pipeline_run_of_an_unknown_run_is_a_404(
    store_as: Callable[[str], HttpTaskStore],
) -> None:
    with pytest.raises(NotFoundError, match="no run with id"):
        store_as("ed").create_pipeline_run(PipelineRunRecord(new_id(), "m:p", None, None, 0, "{}"))


def test_pipeline_records_and_tasks_go_only_into_running_runs_the_user_writes_to(
    workspace: Workspace, store_as: Callable[[str], HttpTaskStore]
) -> None:
    from labledger._foundation.errors import RunStateError

    workspace.project_id("secret")
    IdentityService(workspace.stores.identity).grant(
        "secret", "pat", Role.EDITOR, actor=local_user("root")
    )
    hidden = start_run("hidden", kind="pipeline", project="secret", workspace=workspace)
    sealed = start_run("sealed", kind="pipeline", workspace=workspace)
    sealed.end()
    editor = store_as("ed")
    with pytest.raises(NotFoundError, match="no run with id"):
        editor.create_pipeline_run(PipelineRunRecord(hidden.id, "m:p", None, None, 0, "{}"))
    with pytest.raises(RunStateError):
        editor.create_pipeline_run(PipelineRunRecord(sealed.id, "m:p", None, None, 0, "{}"))
    assert workspace.stores.tasks.pipeline_run(sealed.id) is None
    # A batch into another project's pipeline run, or into a sealed one, writes nothing.
    store_as("pat").create_pipeline_run(PipelineRunRecord(hidden.id, "m:p", None, None, 0, "{}"))
    with pytest.raises(NotFoundError, match="no run with id"):
        editor.record_tasks(_batch(workspace, hidden.id))
    ended = start_run("ended", kind="pipeline", workspace=workspace)
    editor.create_pipeline_run(PipelineRunRecord(ended.id, "m:p", None, None, 0, "{}"))
    ended.end()
    with pytest.raises(RunStateError):
        editor.record_tasks(_batch(workspace, ended.id))
    assert workspace.stores.tasks.run_tasks(hidden.id) == []
    assert workspace.stores.tasks.run_tasks(ended.id) == []
    hidden.end()


def test_a_viewer_reads_the_cache_but_cannot_record(
    workspace: Workspace, store_as: Callable[[str], HttpTaskStore], transport: AppTransport
) -> None:
    editor, viewer = store_as("ed"), store_as("vera")
    run_id = _pipeline_run(workspace, editor)
    batch = _batch(workspace, run_id)
    editor.record_tasks(batch)
    key = batch.tasks[0].cache_key
    transport.requests.clear()
    found = viewer.find_cached([key, "other", key], run_id=run_id)
    assert [task.task_id for task in found[key]] == [batch.tasks[0].id]
    assert found[key][0].outputs["return"].artifact_id == batch.artifacts[0].id
    assert transport.requests == [("POST", "/api/v1/tasks/cache/find")]  # one request
    # Another run sees it only once the run is sealed.
    assert viewer.find_cached([key], run_id=new_id()) == {}
    with pytest.raises(PermissionDeniedError):
        viewer.record_tasks(_batch(workspace, run_id, node="b", data=b"2"))
    with pytest.raises(PermissionDeniedError):
        viewer.set_key_facts(run_id, next(iter(batch.blobs)), 1)


def test_lists_follow_their_pages(
    workspace: Workspace, store_as: Callable[[str], HttpTaskStore], monkeypatch: Any
) -> None:
    monkeypatch.setattr(http_tasks, "_PAGE", 2)
    store = store_as("ed")
    run_id = _pipeline_run(workspace, store)
    made = [_batch(workspace, run_id, node=f"n{i}", data=str(i).encode()) for i in range(5)]
    for batch in made:
        store.record_tasks(batch)
    assert sorted(row.id for row in store.run_tasks(run_id)) == sorted(
        batch.tasks[0].id for batch in made
    )
    assert len(store.run_outputs(run_id)) == 5


def test_key_facts_need_their_blob_in_the_store(
    workspace: Workspace, store_as: Callable[[str], HttpTaskStore]
) -> None:
    store = store_as("ed")
    run_id = _pipeline_run(workspace, store)
    digest = workspace.store.put(b"facts")
    store.set_key_facts(run_id, digest, 5)
    store.set_key_facts(run_id, digest, 5)  # again: the same
    record = store.pipeline_run(run_id)
    assert record is not None and record.facts_digest == digest
    workspace.store.delete(digest)
    with pytest.raises(ValidationError, match="not in the store"):
        store.set_key_facts(run_id, digest, 5)


def test_a_reproduction_of_a_remote_run_reopens_the_same_server(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from labledger.pipelines.reproduction import _workspace_env

    monkeypatch.setenv("LABLEDGER_STORE", "/somewhere/else")
    remote = RemoteWorkspace(server_settings(URL))
    try:
        env = _workspace_env(remote)
    finally:
        remote.close()
    assert env["LABLEDGER_URI"] == URL
    assert "LABLEDGER_STORE" not in env  # the server's blobs, not a folder of this machine


def test_a_task_another_user_recorded_is_found_once_its_run_is_sealed(
    workspace: Workspace, store_as: Callable[[str], HttpTaskStore]
) -> None:
    ed, pat = store_as("ed"), store_as("pat")
    run = start_run("ed's", kind="pipeline", workspace=workspace)
    ed.create_pipeline_run(PipelineRunRecord(run.id, "m:pipe", None, None, 0, "{}"))
    batch = _batch(workspace, run.id)
    ed.record_tasks(batch)
    key = batch.tasks[0].cache_key
    mine = _pipeline_run(workspace, pat)
    assert pat.find_cached([key], run_id=mine) == {}  # not vouched for yet
    run.end()
    [found] = pat.find_cached([key], run_id=mine)[key]
    assert (found.task_id, found.run_id) == (batch.tasks[0].id, run.id)
    assert found.record_digest is not None
    assert pat.run_seal(run.id).record_digest == found.record_digest


def _verified(workspace: Workspace) -> list[Any]:
    with workspace.read() as conn:
        return list(conn.execute(sa.select(schema.verifications)))


def test_a_reproduction_is_recorded_only_as_the_catalog_has_it(
    workspace: Workspace,
    store_as: Callable[[str], HttpTaskStore],
    transport: AppTransport,
    team: dict[str, str],
) -> None:
    from labledger.stores.tasks import OutputCheck

    editor = store_as("ed")
    original = start_run("pipe", kind="pipeline", workspace=workspace)
    editor.create_pipeline_run(PipelineRunRecord(original.id, "m:pipe", None, None, 0, "{}"))
    first = _batch(workspace, original.id, data=b"first bytes")
    editor.record_tasks(first)
    original.end()
    (ref,) = workspace.stores.tasks.run_outputs(original.id)

    remote = RemoteWorkspace(server_settings(URL), transport=transport, token=team["ed"])
    try:
        rerun = start_run("again", kind="pipeline", workspace=remote)
        record = PipelineRunRecord(rerun.id, "m:pipe", None, None, 0, "{}", reproduces=original.id)
        editor.create_pipeline_run(record)
        other = _batch(workspace, rerun.id, data=b"other bytes")
        editor.record_tasks(other)
        (again,) = workspace.stores.tasks.run_outputs(rerun.id)
        assert again.digest != ref.digest

        def claim(actual: str | None, **extra: Any) -> OutputCheck:
            fields = {"node": "a", "output": "return", "artifact_id": ref.artifact_id}
            fields.update(expected=ref.digest, actual=actual, deterministic=True)
            fields.update(extra)
            return OutputCheck(**fields)

        # Reported while the re-run is still open (its record not sealed): refused.
        with pytest.raises(ValidationError, match="still running"):
            editor.record_verifications(original.id, rerun.id, [claim(again.digest)])
        rerun.end()
        # A "re-run" whose step was taken from the cache (here: the original's bytes) executed
        # nothing, so it verifies nothing.
        lazy = start_run("lazy", kind="pipeline", workspace=remote)
        record = PipelineRunRecord(lazy.id, "m:pipe", None, None, 0, "{}", reproduces=original.id)
        editor.create_pipeline_run(record)
        copied = _batch(workspace, lazy.id, data=b"first bytes")
        editor.record_tasks(
            dataclasses.replace(
                copied, tasks=[row._replace(status="cached") for row in copied.tasks]
            )
        )
        lazy.end()
        with pytest.raises(ValidationError, match="did not execute"):
            editor.record_verifications(original.id, lazy.id, [claim(ref.digest)])

        # Claiming the bytes were reproduced when the re-run recorded others is refused.
        with pytest.raises(ValidationError, match="recorded"):
            editor.record_verifications(original.id, rerun.id, [claim(ref.digest)])
        with pytest.raises(ValidationError, match="recorded no output"):
            editor.record_verifications(original.id, rerun.id, [claim(again.digest, node="b")])
        # A run that reproduces nothing is no reproduction.
        with pytest.raises(ValidationError, match="not a reproduction"):
            editor.record_verifications(rerun.id, original.id, [])
        # Another editor cannot report a reproduction someone else ran.
        with pytest.raises(ValidationError, match="started by ed"):
            store_as("pat").record_verifications(original.id, rerun.id, [claim(again.digest)])
        assert _verified(workspace) == []
        # The truth is recorded, its match computed on the server.
        editor.record_verifications(original.id, rerun.id, [claim(again.digest)])
        (row,) = _verified(workspace)
        assert row.digest == again.digest and not row.matched
    finally:
        remote.close()


def test_the_cache_index_answers_a_viewer_what_lookups_answer_in_one_request(
    workspace: Workspace, store_as: Callable[[str], HttpTaskStore], transport: AppTransport
) -> None:
    editor, viewer = store_as("ed"), store_as("vera")
    run = start_run("ed's", kind="pipeline", workspace=workspace)
    editor.create_pipeline_run(PipelineRunRecord(run.id, "m:pipe", None, None, 0, "{}"))
    batch = _batch(workspace, run.id)
    editor.record_tasks(batch)
    task = batch.tasks[0]
    mine = new_id()  # the asking run
    assert viewer.cache_index([task.fingerprint], run_id=mine).found == {}  # not sealed yet
    run.end()
    transport.requests.clear()
    index = viewer.cache_index([task.fingerprint, "blake3:" + "0" * 64], run_id=mine)
    assert transport.requests == [("POST", "/api/v1/tasks/cache/index")]
    assert index.truncated == ()
    assert index.found == viewer.find_cached([task.cache_key], run_id=mine)
    assert viewer.cache_index([task.fingerprint], limit=0).truncated == (task.fingerprint,)


def test_malformed_cache_index_requests_are_refused(
    store_as: Callable[[str], HttpTaskStore], transport: AppTransport, team: dict[str, str]
) -> None:
    store_as("vera")
    headers = {"Authorization": f"Bearer {team['vera']}"}
    route = "/api/v1/tasks/cache/index"
    for body in (
        {"fingerprints": ["f"] * 1001},
        {"fingerprints": ["f"], "limit": -1},
        {"fingerprints": ["f"], "limit": 10**9},
        {"fingerprints": ["f"], "projects": ["p"]},
    ):
        answer = transport.client.post(route, json=body, headers=headers)
        assert answer.status_code == 422, body
        assert set(answer.json()) == {"code", "message", "hint"}
    assert transport.client.post(route, json={"fingerprints": ["f"]}).status_code == 401
