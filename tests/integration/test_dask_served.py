"""A pipeline on a real Dask LocalCluster against a workspace reached through a real server.

The client process makes every catalog call (cache lookups and task batches go to the server's
``/api/v1/tasks``); workers get only a ``StoreSpec`` naming the server, open its blob store over
HTTP with their own token, and read and write blobs there. The outputs equal an embedded run's,
and a second run is answered from the cache the first one left on the server.
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING

import pytest
import sqlalchemy as sa

from labledger import init
from tests.integration import dask_steps as ds
from tests.integration.served import served_workspace

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

distributed = pytest.importorskip("distributed")
pytestmark = pytest.mark.integration
_BLOBS = "/api/v1/blobs/"


@pytest.fixture(scope="module")
def client() -> Iterator[object]:
    cluster = distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        dashboard_address="127.0.0.1:0",
        silence_logs=50,
    )
    client = distributed.Client(cluster)
    try:
        yield client
    finally:
        client.close()
        cluster.close()


def test_a_pipeline_on_dask_against_a_server_matches_an_embedded_run(
    tmp_path: Path, client: object
) -> None:
    from labledger.pipelines import DaskExecutor

    with init(tmp_path / "embedded") as embedded:
        local = ds.squares.run(workspace=embedded)
    log = tmp_path / "server.log"
    with served_workspace(tmp_path / "served", log_to=log) as remote:
        first = ds.squares.run(workspace=remote, executor=DaskExecutor(client))
        assert first.status == "finished"
        # Each worker sends its task's small outputs in one batched upload, never one by one.
        requests = [json.loads(line) for line in log.read_text().splitlines() if '"path"' in line]
        uploads = [(r["method"], r["path"]) for r in requests if r["path"].startswith(_BLOBS)]
        assert ("POST", f"{_BLOBS}batch") in uploads
        assert not [u for u in uploads if u[0] == "PUT"], uploads
        for node in ("numbers", "square", "total"):
            assert first.tasks[node].digests == local.tasks[node].digests
        assert first.load("worker_pid") != os.getpid()
        # Recorded through the server: its own catalog answers the cache for the next run.
        assert {row.node for row in remote.served.stores.tasks.run_tasks(first.run_id)} == set(
            first.tasks
        )
        again = ds.squares.run(workspace=remote, executor=DaskExecutor(client))
        assert again.executed == [] and sorted(again.cached) == sorted(first.tasks)


def test_workers_without_a_token_are_refused_before_any_task_runs(
    tmp_path: Path, client: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    from labledger._foundation.errors import ConfigurationError
    from labledger._foundation.settings import server_settings
    from labledger.identity import IdentityService, Role, local_user
    from labledger.pipelines import DaskExecutor
    from labledger.workspace.http.workspace import RemoteWorkspace
    from labledger.workspace.workspace import Workspace
    from tests.integration.served import start_server

    # The workers were started without LABLEDGER_TOKEN (and hold no saved login for this URL);
    # this process signs in with a token of its own.
    monkeypatch.delenv("LABLEDGER_TOKEN", raising=False)
    served = Workspace.init(tmp_path / "served")
    service = IdentityService(served.stores.identity)
    service.create_user("ed", by="root")
    service.grant("default", "ed", Role.EDITOR, actor=local_user("root"))
    token = service.issue_token("ed", "test", by="root").secret
    try:
        with start_server(tmp_path / "served") as url:
            remote = RemoteWorkspace(server_settings(url), token=token)
            try:
                with pytest.raises(ConfigurationError, match="hold no token") as caught:
                    ds.squares.run(workspace=remote, executor=DaskExecutor(client))
                assert "LABLEDGER_TOKEN" in (caught.value.hint or "")
                # Refused before anything ran: no task reached the server.
                with served.read() as conn:
                    assert conn.execute(sa.text("SELECT count(*) FROM tasks")).scalar() == 0
            finally:
                remote.close()
    finally:
        served.close()
