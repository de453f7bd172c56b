"""The ledger routes: any user can hold the server to its history; admins can read it all."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

import labledger
from labledger.stores.ledger import Checkpoint, LedgerEntry
from labledger.workspace import schema
from labledger.workspace.ledger_check import check_ledger
from labledger.workspace.proofs import check_proof

if TYPE_CHECKING:
    from collections.abc import Callable

    from labledger.workspace.workspace import Workspace
    from tests.unit.server.conftest import TestClient


class _RoutesLedger:
    """A ``LedgerStore`` over the routes, as a client of the server sees it."""

    def __init__(self, client: TestClient, headers: dict[str, str]) -> None:
        self.client, self.headers = client, headers

    def _ok(self, response: Any) -> Any:
        assert response.status_code == 200, response.text
        return response.json()

    def entries(self, *, after_seq: int = 0, limit: int = 5000) -> list[LedgerEntry]:
        page = self._ok(
            self.client.get(
                "/api/v1/ledger/entries",
                params={"after_seq": after_seq, "max_results": limit},
                headers=self.headers,
            )
        )
        return [LedgerEntry(**item) for item in page["items"]]

    def checkpoint(self) -> Checkpoint:
        answer = self.client.post("/api/v1/ledger/checkpoints", headers=self.headers)
        return Checkpoint.from_dict(self._ok(answer))

    def consistency(self, old_size: int, new_size: int) -> list[str]:
        answer = self.client.get(
            "/api/v1/ledger/consistency",
            params={"old_size": old_size, "new_size": new_size},
            headers=self.headers,
        )
        return list(self._ok(answer)["proof"])

    def proof(self, ref: str) -> dict[str, Any]:
        answer = self.client.get(f"/api/v1/ledger/proofs/{ref}", headers=self.headers)
        return dict(self._ok(answer))


def _runs(ws: Workspace, count: int) -> list[str]:
    ids = []
    for i in range(count):
        with labledger.start_run(f"r{i}", workspace=ws) as run:
            run.log_metric("auc", i / 10)
        ids.append(run.id)
    return ids


def test_any_user_checks_the_servers_history_and_an_admin_walks_it_all(
    workspace: Workspace, client: TestClient, as_user: Callable[[str], dict[str, str]]
) -> None:
    _runs(workspace, 2)
    outsider = _RoutesLedger(client, as_user("otto"))  # no role in any project
    first = check_ledger(outsider)
    assert first.ok, first.problems
    _runs(workspace, 2)
    later = check_ledger(outsider, previous=first.checkpoint)
    assert later.ok and later.checkpoint.size > first.checkpoint.size
    admin = _RoutesLedger(client, as_user("ada"))
    full = check_ledger(admin, previous=later.checkpoint, full=True)
    assert full.ok, full.problems
    assert full.walked == full.checkpoint.size


def test_entries_proofs_and_verify_are_for_administrators(
    workspace: Workspace, client: TestClient, as_user: Callable[[str], dict[str, str]]
) -> None:
    run_id = _runs(workspace, 1)[0]
    for method, path in (
        ("get", "/api/v1/ledger/entries"),
        ("get", f"/api/v1/ledger/proofs/{run_id}"),
        ("post", "/api/v1/ledger/verify?blobs=false"),
    ):
        refused = getattr(client, method)(path, headers=as_user("vera"))
        assert refused.status_code == 403 and refused.json()["code"] == "permission_denied"
        allowed = getattr(client, method)(path, headers=as_user("ada"))
        assert allowed.status_code == 200, allowed.text
    report = client.post("/api/v1/ledger/verify", headers=as_user("ada")).json()
    assert report["ok"] and report["entries_checked"] > 0, report["problems"]
    proof = client.get(f"/api/v1/ledger/proofs/{run_id}", headers=as_user("ada")).json()
    assert proof["subject"]["kind"] == "run" and proof["subject"]["id"] == run_id
    assert check_proof(proof).ok


def test_bad_sizes_and_unknown_refs_get_the_error_shape(
    client: TestClient, as_user: Callable[[str], dict[str, str]]
) -> None:
    answer = client.get(
        "/api/v1/ledger/consistency",
        params={"old_size": 5, "new_size": 10_000},
        headers=as_user("otto"),
    )
    assert answer.status_code == 400 and answer.json()["code"] == "validation"
    missing = client.get("/api/v1/ledger/proofs/no-such-run", headers=as_user("ada"))
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"
    anonymous = client.post("/api/v1/ledger/checkpoints")
    assert anonymous.status_code == 401


def test_checkpoints_of_an_unchanged_ledger_keep_one_row(
    workspace: Workspace, client: TestClient, as_user: Callable[[str], dict[str, str]]
) -> None:
    def stored() -> int:
        with workspace.read() as conn:
            return int(
                conn.execute(
                    select(func.count()).select_from(schema.ledger_checkpoints)
                ).scalar_one()
            )

    _runs(workspace, 1)
    outsider = _RoutesLedger(client, as_user("otto"))
    first = outsider.checkpoint()
    rows = stored()
    assert [outsider.checkpoint() for _ in range(5)] == [first] * 5
    assert stored() == rows  # asking again writes nothing while the ledger stands still
    _runs(workspace, 1)
    moved = outsider.checkpoint()
    assert moved.size > first.size and stored() == rows + 1
