"""``HttpRunStore`` with a signing key: one more request per run (the seal's entries), a finish
whose answer was lost is sent again and answers its seal, and a run that changed between the two
requests is signed once more rather than refused."""

from __future__ import annotations

import io
import time
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from labledger._foundation.settings import server_settings
from labledger.identity import IdentityService, Role, local_user
from labledger.stores.artifacts import Artifact, NewArtifact
from labledger.stores.runs import FinishRun, NewRun
from labledger.workspace.attribution import acting_for
from labledger.workspace.http.client import Client
from labledger.workspace.http.workspace import RemoteWorkspace
from labledger.workspace.signing import Signer
from labledger.workspace.verify import verify_workspace
from tests.unit.server.app_transport import AppTransport

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from labledger.workspace.workspace import Workspace

URL = "http://127.0.0.1:8080"


class Hooked(AppTransport):
    """Serves every request; loses the first answer to a path in ``lose``, and calls ``after``
    once after answering the first request to its path."""

    def __init__(self, app: Any) -> None:
        super().__init__(app)
        self.lose: set[str] = set()
        self.after: dict[str, Callable[[], None]] = {}

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        answer = super().handle_request(request)
        hook = self.after.pop(request.url.path, None)
        if hook is not None:
            hook()
        if request.url.path in self.lose:
            self.lose.discard(request.url.path)
            raise httpx.ReadTimeout("the answer was lost", request=request)
        return answer


@pytest.fixture
def remote(app: Any, team: dict[str, str], workspace: Workspace) -> Iterator[RemoteWorkspace]:
    service = IdentityService(workspace.stores.identity)
    service.grant("default", "ed", Role.EDITOR, actor=local_user("root"))
    signer = Signer("ed", Ed25519PrivateKey.generate())
    service.add_key("ed", signer.public_key_hex, name="laptop", by="ed")
    client = Client(URL, token=team["ed"], transport=Hooked(app), backoff_s=0.0)
    ws = RemoteWorkspace(server_settings(URL), client=client, signer=signer)
    yield ws
    ws.close()


def _hooked(ws: RemoteWorkspace) -> Hooked:
    transport = ws.client._http._transport
    assert isinstance(transport, Hooked)
    return transport


def _started(remote: RemoteWorkspace, run_id: str) -> None:
    new = NewRun(run_id, remote.project_id(), "signed", "run", "ed", "laptop", 7, time.time() - 5)
    remote.stores.runs.create_run(new)


def _seal(workspace: Workspace, run_id: str) -> Any:
    (entry,) = [
        e for e in workspace.stores.ledger.entries()
        if e.subject == f"run:{run_id}" and e.kind == "run.finished"
    ]  # fmt: skip
    return entry


def test_a_signed_finish_whose_answer_was_lost_answers_its_seal(
    remote: RemoteWorkspace, workspace: Workspace
) -> None:
    run_id = "0190cccc-0000-7000-8000-000000000001"
    _started(remote, run_id)
    _hooked(remote).lose = {f"/api/v1/runs/{run_id}/finish"}
    before = len(_hooked(remote).requests)
    digest = remote.stores.runs.finish_run(
        run_id, FinishRun("finished", time.time(), metrics=[("loss", 0.5, 1, time.time(), 1)])
    )
    paths = [path for _, path in _hooked(remote).requests[before:]]
    assert paths == [
        f"/api/v1/runs/{run_id}/seal-entries",
        f"/api/v1/runs/{run_id}/finish",
        f"/api/v1/runs/{run_id}/finish",  # the answer was lost: sent again
    ]
    entry = _seal(workspace, run_id)
    assert (entry.actor, entry.payload["record_digest"]) == ("ed", digest)


def test_a_run_that_changed_after_its_seal_was_asked_for_is_signed_again(
    remote: RemoteWorkspace, workspace: Workspace
) -> None:
    run_id = "0190cccc-0000-7000-8000-000000000002"
    _started(remote, run_id)

    def an_artifact_lands() -> None:
        digest = workspace.store.put(io.BytesIO(b"late"))
        late = Artifact(
            "late-artifact", "late", "value", "json", digest, 4, run_id, time.time(), "ed"
        )
        with acting_for("ed"):  # as the server writes for ed
            workspace.stores.artifacts.add_artifacts(
                [NewArtifact(late, workspace.project_id(), ((digest, 4),))]
            )

    _hooked(remote).after[f"/api/v1/runs/{run_id}/seal-entries"] = an_artifact_lands
    before = len(_hooked(remote).requests)
    digest = remote.stores.runs.finish_run(run_id, FinishRun("finished", time.time()))
    paths = [path.rsplit("/", 1)[-1] for _, path in _hooked(remote).requests[before:]]
    assert paths == ["seal-entries", "finish", "seal-entries", "finish"]
    entry = _seal(workspace, run_id)
    assert entry.actor == "ed" and entry.payload["record_digest"] == digest
    (run,) = workspace.stores.runs.get_runs([run_id])
    assert (run.status, run.record_digest) == ("finished", digest)
    assert verify_workspace(workspace, blobs=False).ok
