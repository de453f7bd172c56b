"""Entries a client signs for its own runs: the create carries ``run.started``, the finish the
seal that ``seal-entries`` answered; the server chains them only when they are what it would
write, in the signed-in user's name and by their registered key, and otherwise writes nothing."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, TypeAlias

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from labledger.stores.ledger import EntryBody
from labledger.workspace.signing import Signer
from labledger.workspace.verify import verify_workspace

if TYPE_CHECKING:
    from collections.abc import Callable

    from labledger.identity import IdentityService
    from labledger.workspace.workspace import Workspace
    from tests.unit.server.conftest import TestClient

Headers: TypeAlias = "Callable[[str], dict[str, str]]"
RUN_ID = "0190aaaa-0000-7000-8000-00000000e001"


@pytest.fixture
def ed_key(service: IdentityService, team: dict[str, str]) -> Signer:
    signer = Signer("ed", Ed25519PrivateKey.generate())
    service.add_key("ed", signer.public_key_hex, name="laptop", by="ed")
    return signer


def _signed(signer: Signer, kind: str, subject: str, payload: dict[str, Any]) -> dict[str, Any]:
    body = EntryBody.new(
        kind, subject=subject, payload=payload, actor=signer.actor, key_id=signer.public_key_hex
    )
    return {**body.fields(), "signature": signer.sign_body(body)}


def _create(workspace: Workspace, signer: Signer | None) -> dict[str, Any]:
    run = {
        "id": RUN_ID,
        "project_id": workspace.project_id("assay"),
        "name": "fit",
        "kind": "run",
        "host": "laptop",
        "pid": 1,
        "started_at": time.time() - 10,
    }
    body: dict[str, Any] = {"run": run}
    if signer is not None:
        started = {
            "run_id": RUN_ID,
            "name": "fit",
            "project_id": run["project_id"],
            "kind": "run",
            "host": "laptop",
            "git_commit": None,
            "git_dirty": None,
        }
        body["signed"] = _signed(signer, "run.started", f"run:{RUN_ID}", started)
    return body


def _not_keys(workspace: Workspace) -> list[str]:
    return [e.id for e in workspace.stores.ledger.entries() if not e.kind.startswith("key.")]


def _entries(workspace: Workspace) -> list[Any]:
    return [e for e in workspace.stores.ledger.entries() if e.subject == f"run:{RUN_ID}"]


def test_a_signed_run_is_started_and_sealed_in_the_users_name(
    client: TestClient, as_user: Headers, workspace: Workspace, ed_key: Signer
) -> None:
    made = client.post("/api/v1/runs", json=_create(workspace, ed_key), headers=as_user("ed"))
    assert made.status_code == 201, made.text
    finish = {"status": "finished", "ended_at": time.time(), "metrics": [["loss", 0.5, 1, 1.0, 1]]}
    before = _not_keys(workspace)
    asked = client.post(f"/api/v1/runs/{RUN_ID}/seal-entries", json=finish, headers=as_user("ed"))
    assert asked.status_code == 200, asked.text
    (seal,) = asked.json()["entries"]
    assert (seal["kind"], seal["payload"]["status"]) == ("run.finished", "finished")
    # Asking changes nothing: no entry (the workspace's own key aside, made on first use), no
    # metric, the run still running.
    assert _not_keys(workspace) == before
    (run,) = workspace.stores.runs.get_runs([RUN_ID])
    assert (run.status, run.metrics) == ("running", {})

    signed = [_signed(ed_key, seal["kind"], seal["subject"], seal["payload"])]
    done = client.post(
        f"/api/v1/runs/{RUN_ID}/finish", json={**finish, "signed": signed}, headers=as_user("ed")
    )
    assert done.status_code == 200, done.text
    assert done.json()["record_digest"] == seal["payload"]["record_digest"]
    entries = {e.kind: e for e in _entries(workspace)}
    for kind in ("run.started", "run.finished"):
        assert entries[kind].actor == "ed"
        assert entries[kind].signature.startswith("v2:")
    report = verify_workspace(workspace, blobs=False)
    assert report.ok, report.problems
    assert report.signers["ed"] == 2


def test_a_body_in_someone_elses_name_or_by_a_foreign_key_is_refused(
    client: TestClient, as_user: Headers, workspace: Workspace, ed_key: Signer
) -> None:
    before = len(workspace.stores.ledger.entries())
    # ed's key, signing in pat's name; then a key nobody registered, in ed's name.
    for signer in (Signer("pat", ed_key.private_key), Signer("ed", Ed25519PrivateKey.generate())):
        refused = client.post(
            "/api/v1/runs", json=_create(workspace, signer), headers=as_user("ed")
        )
        assert refused.status_code == 403, refused.text
        assert refused.json()["hint"]
    assert len(workspace.stores.ledger.entries()) == before
    assert not workspace.stores.runs.search_runs(_all()).items


def test_a_seal_that_is_not_the_servers_is_refused_and_the_run_keeps_running(
    client: TestClient, as_user: Headers, workspace: Workspace, ed_key: Signer
) -> None:
    made = client.post("/api/v1/runs", json=_create(workspace, ed_key), headers=as_user("ed"))
    assert made.status_code == 201, made.text
    finish = {"status": "finished", "ended_at": time.time()}
    asked = client.post(f"/api/v1/runs/{RUN_ID}/seal-entries", json=finish, headers=as_user("ed"))
    (seal,) = asked.json()["entries"]
    lying = {**seal["payload"], "record_digest": "blake3:" + "0" * 64}
    signed = [_signed(ed_key, seal["kind"], seal["subject"], lying)]
    refused = client.post(
        f"/api/v1/runs/{RUN_ID}/finish", json={**finish, "signed": signed}, headers=as_user("ed")
    )
    assert refused.status_code == 409, refused.text
    assert "nothing was written" in refused.json()["message"]
    (run,) = workspace.stores.runs.get_runs([RUN_ID])
    assert run.status == "running"
    assert [e.kind for e in _entries(workspace)] == ["run.started"]


def test_a_viewer_may_not_ask_for_a_seal(
    client: TestClient, as_user: Headers, workspace: Workspace, ed_key: Signer
) -> None:
    client.post("/api/v1/runs", json=_create(workspace, None), headers=as_user("ed"))
    finish = {"status": "finished", "ended_at": time.time()}
    denied = client.post(
        f"/api/v1/runs/{RUN_ID}/seal-entries", json=finish, headers=as_user("vera")
    )
    assert denied.status_code == 403, denied.text
    hidden = client.post(
        f"/api/v1/runs/{RUN_ID}/seal-entries", json=finish, headers=as_user("otto")
    )
    assert hidden.status_code == 404, hidden.text


def _all() -> Any:
    from labledger.stores.runs import RunQuery

    return RunQuery()


def test_a_body_for_an_entry_the_write_does_not_make_is_refused(
    client: TestClient, as_user: Headers, workspace: Workspace, ed_key: Signer
) -> None:
    body = _create(workspace, None)
    body["signed"] = _signed(ed_key, "run.finished", f"run:{RUN_ID}", {"run_id": RUN_ID})
    refused = client.post("/api/v1/runs", json=body, headers=as_user("ed"))
    assert refused.status_code == 400, refused.text
    assert "does not make" in refused.json()["message"]
    assert not _entries(workspace)
