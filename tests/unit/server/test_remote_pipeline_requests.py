"""A pipeline run through a server costs requests per flush, not per step: its outputs go up in
batched uploads and its cache keys are judged from one index fetched at the start."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import httpx
import pytest

import labledger
from labledger._foundation.settings import server_settings
from labledger.identity import IdentityService, Role, local_user
from labledger.pipelines import pipeline, step
from labledger.server import create_app
from labledger.workspace.http.workspace import RemoteWorkspace
from tests.unit.server.app_transport import AppTransport

if TYPE_CHECKING:
    from collections.abc import Iterator

    from labledger.workspace.workspace import Workspace

STEPS = 30
_RUN_RECORDS = 4  # blobs a run stores of its own: environment, lock, code, key facts


@step
def inc(x: int) -> int:
    return x + 1


@step
def measured(x: int) -> int:
    labledger.log_metric("value", float(x))
    print(f"at {x}")  # a captured log too
    return x + 1


@pipeline
def measured_chain(steps: int = STEPS) -> Any:
    value = measured(0)
    for _ in range(steps - 1):
        value = measured(value)
    return value


@pipeline
def chain(steps: int = STEPS) -> Any:
    value = inc(0)
    for _ in range(steps - 1):
        value = inc(value)
    return value


@pytest.fixture
def app(workspace: Workspace) -> Any:
    return create_app(workspace, auth_required=True)


@pytest.fixture
def remote(app: Any, team: dict[str, str], workspace: Workspace) -> Iterator[RemoteWorkspace]:
    IdentityService(workspace.stores.identity).grant(
        "default", "ed", Role.EDITOR, actor=local_user("root")
    )
    opened = RemoteWorkspace(
        server_settings("http://server.test"), transport=AppTransport(app), token=team["ed"]
    )
    yield opened
    opened.close()


def _routes(remote: RemoteWorkspace) -> list[tuple[str, str]]:
    transport: AppTransport = remote.client._http._transport  # type: ignore[attr-defined]
    return [
        (method, "/api/v1/blobs/{digest}" if path.startswith("/api/v1/blobs/blake3:") else path)
        for method, path in transport.requests
    ]


def test_a_chain_on_a_server_uploads_and_looks_up_per_flush_not_per_step(
    remote: RemoteWorkspace, workspace: Workspace
) -> None:
    transport: AppTransport = remote.client._http._transport  # type: ignore[attr-defined]
    transport.requests.clear()
    fresh = chain.run(workspace=remote)
    assert fresh.status == "finished" and len(fresh.executed) == STEPS
    assert fresh.load(list(fresh.tasks)[-1]) == STEPS
    sent = _routes(remote)
    # Small blobs go up in batches, never one by one: the outputs one batch a flush, and the
    # run's own records (environment, lock, code, key facts) a request each at most.
    assert ("PUT", "/api/v1/blobs/{digest}") not in sent
    assert sent.count(("POST", "/api/v1/tasks/cache/index")) == 1
    assert ("POST", "/api/v1/tasks/cache/find") not in sent
    batches = sent.count(("POST", "/api/v1/tasks/batches"))
    assert 1 <= sent.count(("POST", "/api/v1/blobs/batch")) <= batches + _RUN_RECORDS
    assert len(sent) < STEPS  # a handful a run, not several a step
    # Every output the server recorded is in its store.
    for outcome in fresh.tasks.values():
        assert all(workspace.store.exists(digest) for digest in outcome.digests.values())

    transport.requests.clear()
    again = chain.run(workspace=remote)
    assert len(again.cached) == STEPS
    sent = _routes(remote)
    assert ("POST", "/api/v1/tasks/cache/find") not in sent
    assert sent.count(("POST", "/api/v1/blobs/batch")) <= _RUN_RECORDS  # no output again
    assert len(sent) < STEPS


class _OlderServer(AppTransport):
    """The server as it answered before it had the cache index and batched uploads."""

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/api/v1/tasks/cache/index":
            self.requests.append((request.method, path))
            return httpx.Response(404, json={"code": "not_found", "message": "Not Found"})
        if path == "/api/v1/blobs/batch":  # matched as PUT /api/v1/blobs/{digest}
            self.requests.append((request.method, path))
            body = {"code": "method_not_allowed", "message": "Method Not Allowed"}
            return httpx.Response(405, json=body)
        return super().handle_request(request)


def test_a_server_without_the_cache_index_or_batches_is_asked_as_before(
    app: Any, team: dict[str, str], workspace: Workspace
) -> None:
    IdentityService(workspace.stores.identity).grant(
        "default", "ed", Role.EDITOR, actor=local_user("root")
    )
    transport = _OlderServer(app)
    remote = RemoteWorkspace(
        server_settings("http://server.test"), transport=transport, token=team["ed"]
    )
    try:
        fresh = chain.run(workspace=remote, steps=5)
        assert fresh.load(list(fresh.tasks)[-1]) == 5
        assert ("POST", "/api/v1/blobs/batch") in transport.requests  # tried once, then PUTs
        transport.requests.clear()
        again = chain.run(workspace=remote, steps=5)
    finally:
        remote.close()
    assert len(again.cached) == 5
    assert transport.requests.count(("POST", "/api/v1/tasks/cache/index")) <= 1
    assert transport.requests.count(("POST", "/api/v1/tasks/cache/find")) == 5


def test_what_steps_log_goes_up_with_their_outputs(
    remote: RemoteWorkspace, workspace: Workspace
) -> None:
    transport: AppTransport = remote.client._http._transport  # type: ignore[attr-defined]
    transport.requests.clear()
    run = measured_chain.run(workspace=remote)
    assert len(run.executed) == STEPS
    sent = _routes(remote)
    assert sent.count(("PUT", "/api/v1/blobs/{digest}")) <= 4  # the run's own records only
    assert len(sent) < STEPS
    history = workspace.stores.runs.metric_history(run.run_id, ["value"])
    assert sorted(point.value for point in history.items) == [float(x) for x in range(STEPS)]
    for row in workspace.stores.tasks.run_tasks(run.run_id):
        assert row.logged_digest is not None and workspace.store.exists(row.logged_digest)
        assert row.log_digest is not None and workspace.store.exists(row.log_digest)
