"""``HttpRunStore`` when answers get lost: a create, a batch or a finish the server did is sent
again and changes nothing (a finish answers the seal the first try committed)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from labledger._foundation.settings import server_settings
from labledger.identity import IdentityService, Role, local_user
from labledger.stores.runs import FinishRun, NewRun
from labledger.workspace.http.client import Client
from labledger.workspace.http.workspace import RemoteWorkspace
from tests.unit.server.app_transport import AppTransport

if TYPE_CHECKING:
    from collections.abc import Iterator

    from labledger.workspace.workspace import Workspace

URL = "http://127.0.0.1:8080"


class LosingAnswers(AppTransport):
    """Serves every request, but loses the answer to the first request of each path in
    ``lose`` (the server did it; the client hears nothing)."""

    def __init__(self, app: Any, lose: set[str]) -> None:
        super().__init__(app)
        self.lose = lose

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        answer = super().handle_request(request)
        if request.url.path in self.lose:
            self.lose.discard(request.url.path)
            raise httpx.ReadTimeout("the answer was lost", request=request)
        return answer


@pytest.fixture
def remote(app: Any, team: dict[str, str], workspace: Workspace) -> Iterator[RemoteWorkspace]:
    IdentityService(workspace.stores.identity).grant(
        "default", "ed", Role.EDITOR, actor=local_user("root")
    )
    transport = LosingAnswers(app, set())
    client = Client(URL, token=team["ed"], transport=transport, backoff_s=0.0)
    ws = RemoteWorkspace(server_settings(URL), client=client)
    yield ws
    ws.close()


def _transport(ws: RemoteWorkspace) -> LosingAnswers:
    transport = ws.client._http._transport
    assert isinstance(transport, LosingAnswers)
    return transport


def test_a_create_and_a_batch_whose_answers_were_lost_are_done_once(
    remote: RemoteWorkspace, workspace: Workspace
) -> None:
    store = remote.stores.runs
    run_id = "0190bbbb-0000-7000-8000-000000000001"
    new = NewRun(run_id, remote.project_id(), "lost", "run", "ed", "laptop", 7, time.time())
    _transport(remote).lose = {"/api/v1/runs", f"/api/v1/runs/{run_id}/batch"}
    store.create_run(new, params=[("lr", "0.1", 0.1)])
    rows = [("loss", 1.0 / (i + 1), i, time.time(), i + 1) for i in range(10)]
    store.log_batch(run_id, metrics=rows, batch_id="b1")
    assert _transport(remote).lose == set()  # both answers were lost, and both calls succeeded
    assert len(store.metric_history(run_id).items) == 10
    assert [r.id for r in workspace.stores.runs.get_runs([run_id])] == [run_id]


def test_a_finish_whose_answer_was_lost_is_sent_again_and_answers_its_seal(
    remote: RemoteWorkspace, workspace: Workspace
) -> None:
    store = remote.stores.runs
    run_id = "0190bbbb-0000-7000-8000-000000000002"
    store.create_run(
        NewRun(run_id, remote.project_id(), "seal", "run", "ed", "laptop", 7, time.time())
    )
    _transport(remote).lose = {f"/api/v1/runs/{run_id}/finish"}
    rows = [("loss", 0.5, 0, time.time(), 1)]
    digest = store.finish_run(run_id, FinishRun("finished", time.time(), metrics=rows))
    assert _transport(remote).lose == set()  # the first answer was lost; the second try got it
    (run,) = workspace.stores.runs.get_runs([run_id])
    assert (run.status, run.record_digest) == ("finished", digest)
    assert len(store.metric_history(run_id).items) == 1
