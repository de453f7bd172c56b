"""A server holds what clients send it to the rules the Python API checks, before any store sees
it: a client that skips its own checks gets a 400, and nothing is stored."""

from __future__ import annotations

from typing import TYPE_CHECKING

import labledger
import labledger.metadata as md

if TYPE_CHECKING:
    from collections.abc import Callable

    from labledger.workspace.workspace import Workspace
    from tests.unit.server.conftest import TestClient


def test_prepared_values_definitions_searches_and_names_are_checked_again(
    workspace: Workspace, client: TestClient, as_user: Callable[[str], dict[str, str]]
) -> None:
    md.define_field("conc", "number", minimum=0, maximum=10, workspace=workspace)
    md.define_field("line", "enum", choices=["HeLa", "U2OS"], workspace=workspace)
    with labledger.start_run("dose", workspace=workspace) as run:
        pass
    admin = as_user("ada")

    def refused(method: str, path: str, body: object) -> str:
        answer = client.request(method, path, json=body, headers=admin)
        assert answer.status_code == 400, answer.text
        return str(answer.json()["message"])

    values = f"/api/v1/metadata/values/run/{run.id}"
    assert "outside its bounds" in refused(
        "PUT", values, {"values": [{"field": "conc", "number": 1e9, "text": None}]}
    )
    assert "not one of its choices" in refused(
        "PUT", values, {"values": [{"field": "line", "number": None, "text": "Vero"}]}
    )
    assert md.get_metadata(run.id, workspace=workspace) == {}
    assert "name" in refused("POST", "/api/v1/metadata/fields", {"name": "9 bad", "type": "text"})
    bad_op = {"node": "condition", "name": "line", "op": ">", "value": "HeLa"}
    assert "compares with" in refused(
        "POST",
        "/api/v1/metadata/search",
        {"text": None, "where": bad_op, "kinds": ["run"], "limit": 5},
    )
    assert "NUL" in refused(
        "POST",
        "/api/v1/metadata/search",
        {"text": "a\u0000b", "where": None, "kinds": ["run"], "limit": 5},
    )
    assert "control characters" in refused("POST", "/api/v1/collections", {"name": "a\u0007b"})
