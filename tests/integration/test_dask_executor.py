"""DaskExecutor on a real LocalCluster: digests only cross the wire, workers share the store."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import pytest
import sqlalchemy as sa

from labledger._foundation.errors import StepFailedError, ValidationError
from labledger.workspace import schema
from tests.integration import dask_steps as ds

if TYPE_CHECKING:
    from collections.abc import Iterator

    from labledger.workspace.workspace import Workspace

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
