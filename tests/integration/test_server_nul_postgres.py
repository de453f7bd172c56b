"""A NUL character (U+0000) in a request to a server on a PostgreSQL catalog: PostgreSQL's text
type cannot hold one, so the driver refuses it. Every route must answer a clear 400 (the workspace
turns the driver's refusal into ``ValidationError``; a NUL in the URL is refused before routing),
never a 500, and nothing may be half-written."""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

import pytest
import sqlalchemy as sa

from labledger._foundation.errors import ValidationError
from labledger.identity import IdentityService, Role, local_user
from labledger.workspace import schema

if TYPE_CHECKING:
    from labledger.workspace.workspace import Workspace

pytestmark = pytest.mark.integration

pytest.importorskip("fastapi")
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

NUL = "\x00"


def _refused(response: Any) -> None:
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["code"] == "validation"
    assert "NUL" in body["message"] and body["hint"]


def _counts(workspace: Workspace) -> dict[str, int]:
    tables = (schema.runs, schema.users, schema.collections, schema.ledger, schema.artifacts)
    with workspace.read() as conn:
        return {
            table.name: conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
            for table in tables
        }


@pytest.fixture
def served(pg_workspace: Workspace) -> tuple[TestClient, dict[str, str], str]:
    """A client of an app over the PostgreSQL workspace; headers of an editor of ``assay``."""
    from labledger.server import create_app

    service = IdentityService(pg_workspace.stores.identity)
    project = pg_workspace.project_id("assay")
    service.create_user("ed", by="root", password="correct horse battery")
    service.create_user("ada", by="root", is_admin=True)
    service.grant("assay", "ed", Role.EDITOR, actor=local_user("root"))
    secret = service.issue_token("ed", "test", by="root").secret
    client = TestClient(create_app(pg_workspace, auth_required=True), raise_server_exceptions=False)
    return client, {"Authorization": f"Bearer {secret}"}, project


def test_a_nul_in_a_body_is_a_400_on_every_route_and_nothing_is_written(
    served: tuple[TestClient, dict[str, str], str], pg_workspace: Workspace
) -> None:
    client, ed, project = served
    before = _counts(pg_workspace)
    # Unauthenticated: the user name is looked up before any password is checked.
    _refused(client.post("/api/v1/sessions", json={"user": f"e{NUL}d", "password": "x" * 8}))
    run = {"id": "r" * 32, "project_id": project, "name": "fit", "kind": "run", "host": "h",
           "pid": 1, "started_at": 1_700_000_000.0, "git_commit": f"abc{NUL}"}  # fmt: skip
    _refused(client.post("/api/v1/runs", json={"run": run}, headers=ed))
    _refused(client.post("/api/v1/runs", json={"run": {**run, "git_commit": None,
             "kind": f"r{NUL}"}}, headers=ed))  # fmt: skip
    _refused(client.post("/api/v1/runs/get", json={"refs": [f"a{NUL}"]}, headers=ed))
    _refused(client.post("/api/v1/artifacts/get", json={"refs": [f"a{NUL}"]}, headers=ed))
    _refused(client.post("/api/v1/runs/search", json={"filter": f"name = 'a{NUL}'"}, headers=ed))
    where = {"project_id": project}
    _refused(client.post("/api/v1/collections", json={"name": "c", "description": f"d{NUL}"},
                         params=where, headers=ed))  # fmt: skip
    assert _counts(pg_workspace) == before
    # The same requests without the NUL work: the refusal left no transaction broken.
    good = client.post("/api/v1/collections", json={"name": "c", "description": "d"},
                       params=where, headers=ed)  # fmt: skip
    assert good.status_code == 201, good.text
    signed_in = client.post("/api/v1/sessions", json={"user": "ed",
                            "password": "correct horse battery"})  # fmt: skip
    assert signed_in.status_code == 201, signed_in.text


def test_a_nul_in_the_url_is_a_400_before_any_route(
    served: tuple[TestClient, dict[str, str], str],
) -> None:
    client, ed, _ = served
    for path in (
        "/api/v1/ledger/proofs/run%00",
        "/api/v1/projects/assay/members/e%00d",
        "/api/v1/artifacts?kind=a%00",
        "/api/v1/artifacts?run_id=a%00",
        "/api/v1/runs/abc/metrics?key=l%00",
    ):
        _refused(client.get(path, headers=ed))
    _refused(client.put("/api/v1/projects/assay/members/e%00d", json={"role": "viewer"},
                        headers=ed))  # fmt: skip


def test_the_workspace_turns_the_drivers_refusal_into_validation_and_rolls_back(
    pg_workspace: Workspace,
) -> None:
    service = IdentityService(pg_workspace.stores.identity)
    before = _counts(pg_workspace)
    with pytest.raises(ValidationError, match="NUL") as caught:
        service.create_user("ed", by="root", display_name=f"E{NUL}d")
    assert "nothing was written" in (caught.value.hint or "")
    assert _counts(pg_workspace) == before
    with pytest.raises(ValidationError, match="NUL"), pg_workspace.read() as conn:
        conn.execute(sa.select(schema.users.c.id).where(schema.users.c.name == NUL))
    # Other data errors are not dressed up as a NUL.
    with pytest.raises(sa.exc.DataError), pg_workspace.read() as conn:
        conn.execute(sa.text("SELECT 1 / 0"))
