"""An artifact id taken already, on a PostgreSQL catalog: a 409 that says only that the id is
taken, whichever project holds it, and nothing written (it used to be a 500 from the driver)."""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

import pytest
import sqlalchemy as sa

from labledger._foundation.digests import digest_bytes
from labledger.identity import IdentityService, Role, local_user
from labledger.workspace import schema

if TYPE_CHECKING:
    from labledger.workspace.workspace import Workspace

pytestmark = pytest.mark.integration

pytest.importorskip("fastapi")
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient


def test_a_taken_artifact_id_is_a_conflict_in_any_project(pg_workspace: Workspace) -> None:
    from labledger.server import create_app

    service = IdentityService(pg_workspace.stores.identity)
    mine, theirs = pg_workspace.project_id("mine"), pg_workspace.project_id("theirs")
    for name, project in (("ed", "mine"), ("pat", "theirs")):
        service.create_user(name, by="root")
        service.grant(project, name, Role.EDITOR, actor=local_user("root"))
    token = {n: service.issue_token(n, "t", by="root").secret for n in ("ed", "pat")}
    client = TestClient(create_app(pg_workspace, auth_required=True), raise_server_exceptions=False)
    digest = pg_workspace.store.put(b"bytes")

    def post(who: str, project: str, name: str) -> tuple[int, dict[str, str]]:
        artifact = {"id": "fixed-id", "name": name, "kind": "bytes", "format": "bin",
                    "digest": digest, "size": 5, "project_id": project}  # fmt: skip
        answer = client.post("/api/v1/artifacts", json={"artifacts": [artifact]},
                             headers={"Authorization": f"Bearer {token[who]}"})  # fmt: skip
        return answer.status_code, answer.json()

    assert digest == digest_bytes(b"bytes")
    assert post("pat", theirs, "plate")[0] == 201
    with pg_workspace.read() as conn:
        entries = conn.execute(sa.select(sa.func.count()).select_from(schema.ledger)).scalar()
    for who, project in (("ed", mine), ("pat", theirs)):
        status, body = post(who, project, "other")
        assert status == 409, body
        assert body["code"] == "conflict"
        assert body["message"] == "an artifact with id fixed-id exists already"
    with pg_workspace.read() as conn:
        rows = conn.execute(sa.select(schema.artifacts.c.id, schema.artifacts.c.name)).all()
        after = conn.execute(sa.select(sa.func.count()).select_from(schema.ledger)).scalar()
    assert [tuple(row) for row in rows] == [("fixed-id", "plate")] and after == entries
