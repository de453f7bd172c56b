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


def test_values_go_only_on_runs_and_artifacts_that_exist(
    workspace: Workspace, client: TestClient, as_user: Callable[[str], dict[str, str]]
) -> None:
    md.define_field("conc", "number", workspace=workspace)
    with labledger.start_run("dose", workspace=workspace) as run:
        pass
    body = {"values": [{"field": "conc", "number": 1.0, "text": None}]}
    for path in ("run/nosuch", f"artifact/{run.id}", "run/" + "z" * 5000):
        answer = client.put(f"/api/v1/metadata/values/{path}", json=body, headers=as_user("ada"))
        assert answer.status_code in (400, 404), answer.text
    ok = client.put(f"/api/v1/metadata/values/run/{run.id}", json=body, headers=as_user("ada"))
    assert ok.status_code == 200 and ok.json()["values"] == {"conc": 1.0}


def test_numbers_too_large_for_a_float_are_a_400_not_a_500(
    workspace: Workspace, client: TestClient, as_user: Callable[[str], dict[str, str]]
) -> None:
    md.define_field("conc", "number", workspace=workspace)
    huge = 10**400
    for value in (huge, [1, huge]):
        where = {
            "node": "condition",
            "name": "conc",
            "op": "in" if isinstance(value, list) else ">",
            "value": value,
        }
        answer = client.post(
            "/api/v1/metadata/search",
            json={"text": None, "where": where, "kinds": ["run"], "limit": 5},
            headers=as_user("ada"),
        )
        assert answer.status_code in (400, 422), answer.text
    deep = client.get(
        "/api/v1/lineage/walk",
        params={"ref": "x", "direction": "up", "depth": 2**63},
        headers=as_user("ada"),
    )
    assert deep.status_code == 422, deep.text


def test_a_token_lifetime_is_finite_and_bounded(
    client: TestClient, as_user: Callable[[str], dict[str, str]]
) -> None:
    for days in (1e308, 1e20, 0):
        answer = client.post(
            "/api/v1/tokens", json={"name": "t", "expires_in_days": days}, headers=as_user("ada")
        )
        assert answer.status_code == 422, answer.text
    made = client.post(
        "/api/v1/tokens", json={"name": "t", "expires_in_days": 30}, headers=as_user("ada")
    )
    assert made.status_code == 201 and made.json()["token"]["expires_at"] is not None


def test_a_missing_blob_does_not_name_where_the_store_is_and_forged_tokens_are_refused(
    workspace: Workspace, client: TestClient, as_user: Callable[[str], dict[str, str]]
) -> None:
    missing = client.get("/api/v1/blobs/blake3:" + "ab" * 32, headers=as_user("ada"))
    assert missing.status_code == 404
    assert str(workspace.settings.root) not in missing.text and "objects" not in missing.text
    for token in ("e30", "bnVsbA", "MQ"):  # {}, null, 1: JSON, but not a key this server made
        answer = client.get(
            "/api/v1/collections", params={"page_token": token}, headers=as_user("ada")
        )
        assert answer.status_code == 400, answer.text


def test_an_and_or_an_or_of_nothing_is_refused(
    workspace: Workspace, client: TestClient, as_user: Callable[[str], dict[str, str]]
) -> None:
    md.define_field("conc", "number", workspace=workspace)
    admin = as_user("ada")
    for node in ("and", "or"):
        empty = {"node": node, "operands": []}
        answer = client.post(
            "/api/v1/metadata/search",
            json={"text": None, "where": empty, "kinds": ["run"], "limit": 5},
            headers=admin,
        )
        assert answer.status_code == 400, answer.text
        runs = client.post("/api/v1/runs/search", json={"where": empty}, headers=admin)
        assert runs.status_code == 400, runs.text
        assert runs.json()["message"] == "an and/or of no conditions"


def test_a_search_too_large_for_a_query_is_a_400(
    workspace: Workspace, team: dict[str, str]
) -> None:
    from fastapi.testclient import TestClient as Client

    from labledger.server import create_app

    # The test server's usual 4 KiB body limit would refuse these bodies first.
    client = Client(create_app(workspace, auth_required=True))
    md.define_field("conc", "number", workspace=workspace)
    with labledger.start_run("dose", params={"lr": 0.1}, workspace=workspace):
        pass
    viewer = {"Authorization": f"Bearer {team['ada']}"}
    editor = {"Authorization": f"Bearer {team['ed']}"}  # a member of one project
    condition = {"node": "condition", "name": "status", "op": "=", "value": "x"}
    measured = {"node": "condition", "name": "conc", "op": ">", "value": 1}
    text = {"node": "text", "text": "plate"}
    many = {"node": "condition", "name": "params.lr", "op": "in", "value": list(range(1000))}
    too_large = [
        ("/api/v1/runs/search", {"filter": " or ".join(["status = 'x'"] * 1200)}),
        ("/api/v1/runs/search", {"filter": " and ".join(["params.lr = 0.1"] * 2000)}),
        ("/api/v1/runs/search", {"where": {"node": "or", "operands": [condition] * 3000}}),
        ("/api/v1/metadata/search", {"where": {"node": "or", "operands": [measured] * 3000}}),
        ("/api/v1/metadata/search", {"where": {"node": "and", "operands": [text] * 3000}}),
        ("/api/v1/runs/search", {"filter": f"params.lr in ({', '.join(['1'] * 1001)})"}),
        ("/api/v1/runs/search", {"filter": _nested(35)}),
        ("/api/v1/runs/search", {"filter": "not " * 45 + "params.lr = 1"}),
        ("/api/v1/runs/search", {"where": {"node": "or", "operands": [many] * 8}}),
        ("/api/v1/runs/search", {"filter": "name like '%" + "a" * 60_000 + "%'"}),
        ("/api/v1/runs/search", {"filter": "params.lr = 99999999999999999999999999"}),
        ("/api/v1/metadata/search", {"where": {**measured, "value": 10**30}}),
    ]
    for path, body in too_large:
        answer = client.post(path, json=body, headers=viewer)
        assert answer.status_code == 400, (path, answer.text[:300])
        assert answer.json()["code"] == "filter_syntax"
    # Large but within the limits, as a user who sees one project (whose scope the server adds
    # to the filter): answered.
    within = [
        " or ".join(["params.lr = 0.1"] * 256),
        _nested(16),
        "not " * 16 + "params.lr = 0.1",
        "name like '%" + "d" * 9_000 + "%' or params.lr = 0.1",
        " or ".join(f"params.lr in ({', '.join(['0.1'] * 1000)})" for _ in range(5)),
    ]
    for accepted in within:
        answer = client.post("/api/v1/runs/search", json={"filter": accepted}, headers=editor)
        assert answer.status_code == 200, answer.text[:300]
    deep_where = {"node": "or", "operands": [measured, {"node": "not", "operand": measured}]}
    for _ in range(14):
        deep_where = {"node": "and" if _ % 2 else "or", "operands": [measured, deep_where]}
    answer = client.post("/api/v1/metadata/search", json={"where": deep_where}, headers=editor)
    assert answer.status_code == 200, answer.text[:300]


def _nested(levels: int) -> str:
    """A filter of ``levels`` groups, each within the last, alternating ``and`` and ``or``."""
    text = "params.lr = 0.1"
    for level in range(1, levels):
        text = f"params.lr = {level} {'and' if level % 2 else 'or'} ({text})"
    return text


def test_a_number_too_long_to_read_or_a_page_token_of_values_no_query_takes_is_a_400(
    workspace: Workspace, client: TestClient, as_user: Callable[[str], dict[str, str]]
) -> None:
    import base64
    import json

    with labledger.start_run("dose", workspace=workspace) as run:
        run.log_metric("auc", 0.5)
    ada = as_user("ada")
    answer = client.post(
        "/api/v1/runs/search", json={"filter": "metrics.auc = 1" + "0" * 500}, headers=ada
    )
    assert answer.status_code == 400 and answer.json()["code"] == "filter_syntax", answer.text

    def token(value: object) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    for bad in ([99999999999999999999, "x"], [{"a": 1}, "x"], [True, "x"], [None, 5]):
        for method, path, body in (
            ("POST", "/api/v1/runs/search", {"page_token": token(bad)}),
            ("GET", f"/api/v1/artifacts?page_token={token(bad)}", None),
        ):
            answer = client.request(method, path, json=body, headers=ada)
            assert answer.status_code == 400, (path, bad, answer.text[:200])
    for bad in (["auc", 10**20, 0, 1], ["auc", 1, {"a": 1}, 1], ["auc", 1.5, 0, 1]):
        path = f"/api/v1/runs/{run.id}/metrics?page_token={token(bad)}"
        answer = client.get(path, headers=ada)
        assert answer.status_code == 400, (bad, answer.text[:200])
