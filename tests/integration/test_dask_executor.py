"""DaskExecutor on a real LocalCluster: digests only cross the wire, workers share the store."""

from __future__ import annotations

import os
import uuid
from typing import TYPE_CHECKING, Any

import pytest
import sqlalchemy as sa

from labledger._foundation.errors import StepFailedError, ValidationError
from labledger.workspace import schema
from tests.integration import dask_steps as ds

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from labledger.pipelines.types import PipelineRun
    from labledger.workspace.workspace import Workspace
    from tests.integration.conftest import S3Server

distributed = pytest.importorskip("distributed")
pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def client() -> Iterator[object]:
    import dask

    # A killed worker fails its task at once instead of after three more deaths.
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        cluster = distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            dashboard_address="127.0.0.1:0",
            resources={"CPU": 1},
            silence_logs=50,
        )
        client = distributed.Client(cluster)
        try:
            yield client
        finally:
            client.close()
            cluster.close()


def test_a_pipeline_runs_on_dask_workers_and_matches_local(workspace: Workspace, client) -> None:
    from labledger.pipelines import DaskExecutor

    local = ds.squares.run(workspace=workspace)
    remote = ds.squares.run(workspace=workspace, executor=DaskExecutor(client), cache=False)
    assert remote.status == "finished"
    for node in ("numbers", "square", "total"):
        assert remote.tasks[node].digests == local.tasks[node].digests
    assert remote.load("worker_pid") != os.getpid()
    cached = ds.squares.run(workspace=workspace, executor=DaskExecutor(client))
    assert cached.executed == []


def test_a_worker_killed_mid_step_fails_the_run_and_keeps_finished_work(
    workspace: Workspace, client
) -> None:
    from labledger.pipelines import DaskExecutor

    with pytest.raises(StepFailedError, match="lost on Dask") as info:
        ds.killed.run(workspace=workspace, executor=DaskExecutor(client))
    assert info.value.node == "die"
    with workspace.read() as conn:
        statuses = dict(
            conn.execute(
                sa.select(schema.tasks.c.node, schema.tasks.c.status).where(
                    schema.tasks.c.run_id == info.value.run_id
                )
            ).all()
        )
    assert statuses == {"numbers": "finished", "total": "finished", "die": "failed"}
    client.wait_for_workers(2, timeout=60)
    with pytest.raises(StepFailedError) as again:
        ds.killed.run(workspace=workspace, executor=DaskExecutor(client))
    with workspace.read() as conn:
        resumed = dict(
            conn.execute(
                sa.select(schema.tasks.c.node, schema.tasks.c.status).where(
                    schema.tasks.c.run_id == again.value.run_id
                )
            ).all()
        )
    assert resumed["numbers"] == resumed["total"] == "cached"
    client.wait_for_workers(2, timeout=60)


def test_a_step_needing_resources_no_worker_has_is_refused(workspace: Workspace, client) -> None:
    from labledger.pipelines import DaskExecutor

    with pytest.raises(ValidationError, match="no Dask worker has the resources"):
        ds.gpu.run(workspace=workspace, executor=DaskExecutor(client))


def test_an_executor_started_without_an_address_runs_its_own_cluster(
    workspace: Workspace,
) -> None:
    from labledger.pipelines import DaskExecutor

    result = ds.squares.run(workspace=workspace, executor=DaskExecutor(n_workers=1))
    assert result.load("total_2") == 15


def test_metrics_and_tags_logged_on_a_worker_reach_the_run(workspace: Workspace, client) -> None:
    import labledger
    from labledger.pipelines import DaskExecutor

    result = ds.logging_steps.run(workspace=workspace, executor=DaskExecutor(client))
    history = labledger.get_metric_history(result.run_id, "progress", workspace=workspace)
    assert [(p.step, p.value) for p in history] == [(0, 0.0), (1, 1.0), (2, 2.0)]
    assert labledger.get_run(result.run_id, workspace=workspace).tags["host"] == "worker"
    # Reused from the cache, the task brings what it logged on the worker.
    again = ds.logging_steps.run(workspace=workspace, executor=DaskExecutor(client))
    assert again.executed == []
    history = labledger.get_metric_history(again.run_id, "progress", workspace=workspace)
    assert [(p.step, p.value) for p in history] == [(0, 0.0), (1, 1.0), (2, 2.0)]
    assert labledger.get_run(again.run_id, workspace=workspace).tags["host"] == "worker"
    with pytest.raises(StepFailedError, match="return values as step outputs"):
        ds.artifact_on_worker.run(workspace=workspace, executor=DaskExecutor(client))


# --- what workers receive -------------------------------------------------------------------------


def _with_password(url: str) -> tuple[str, str]:
    """``url`` with a password for its user (the test server trusts local logins: any works)."""
    password = f"catalog-{uuid.uuid4().hex}"
    return url.replace("postgres@", f"postgres:{password}@", 1), password


def _recording(client: Any, monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """The arguments of every task submitted through ``client``, as Dask pickles them."""
    from distributed.protocol.pickle import dumps

    sent: list[bytes] = []
    submit = client.submit

    def recording_submit(function: Any, *args: Any, **kwargs: Any) -> Any:
        sent.append(dumps(args))
        return submit(function, *args, **kwargs)

    monkeypatch.setattr(client, "submit", recording_submit)
    return sent


def _assert_stored(workspace: Workspace, result: PipelineRun) -> None:
    assert result.status == "finished"
    assert result.load("total_2") == 15
    for task in result.tasks.values():
        assert task.digests
        for digest in task.digests.values():
            assert workspace.store.exists(digest)
            assert workspace.store.size(digest) > 0


def test_workers_on_a_folder_store_get_no_catalog_password(
    fresh_postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, client
) -> None:
    from labledger.pipelines import DaskExecutor
    from labledger.workspace.workspace import Workspace as _Workspace

    url, password = _with_password(fresh_postgres_url)
    monkeypatch.setenv("LABLEDGER_STORE", str(tmp_path / "objects"))
    workspace = _Workspace.init(url)
    try:
        assert password in workspace.settings.catalog_url
        sent = _recording(client, monkeypatch)
        result = ds.squares.run(workspace=workspace, executor=DaskExecutor(client), cache=False)
        _assert_stored(workspace, result)
        assert len(sent) == len(result.executed) == 5
        for args in sent:
            assert password.encode() not in args
            assert url.encode() not in args
            assert str(tmp_path / "objects").encode() in args
    finally:
        workspace.close()


@pytest.fixture
def s3_team_workspace(
    fresh_postgres_url: str,
    s3_server: S3Server,
    s3_bucket_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[tuple[Workspace, str]]:
    """A PostgreSQL workspace with a password in its URL and its blobs on S3, and the password."""
    from labledger.workspace.workspace import Workspace as _Workspace

    url, password = _with_password(fresh_postgres_url)
    monkeypatch.setenv("LABLEDGER_STORE", s3_bucket_url)
    monkeypatch.setenv("LABLEDGER_S3_ENDPOINT_URL", s3_server.endpoint_url)
    # Store credentials come from each process's environment: the workers below inherit these.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3_server.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3_server.secret_key)
    workspace = _Workspace.init(url)
    try:
        yield workspace, password
    finally:
        workspace.close()


def test_workers_on_s3_store_blobs_and_get_no_secret(
    s3_team_workspace: tuple[Workspace, str],
    s3_server: S3Server,
    s3_bucket_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from labledger.pipelines import DaskExecutor

    workspace, password = s3_team_workspace
    # Started after the credentials are in the environment, so its workers find them there.
    cluster = distributed.LocalCluster(
        n_workers=1,
        threads_per_worker=2,
        processes=True,
        dashboard_address="127.0.0.1:0",
        silence_logs=50,
    )
    dask_client = distributed.Client(cluster)
    try:
        sent = _recording(dask_client, monkeypatch)
        result = ds.squares.run(workspace=workspace, executor=DaskExecutor(dask_client))
        assert result.load("worker_pid") != os.getpid()
    finally:
        dask_client.close()
        cluster.close()
    _assert_stored(workspace, result)
    fs = s3_server.filesystem()
    for task in result.tasks.values():
        for digest in task.digests.values():
            hex_ = digest.split(":")[-1]
            assert fs.exists(f"{s3_bucket_url}/{hex_[:2]}/{hex_}")
    assert len(sent) == 5
    for args in sent:
        for secret in (password, workspace.settings.catalog_url, s3_server.secret_key):
            assert secret.encode() not in args
        assert s3_bucket_url.encode() in args
        assert s3_server.endpoint_url.encode() in args
