"""``/api/v1/runs``: who may create, log to, seal and read runs, in which project, and what the
server takes from a client (no user, no seal)."""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, Any, TypeAlias

import pytest

from labledger.identity import Role, local_user
from labledger.workspace.verify import verify_workspace

if TYPE_CHECKING:
    from collections.abc import Callable

    from labledger.identity import IdentityService
    from labledger.workspace.workspace import Workspace
    from tests.unit.server.conftest import TestClient

Headers: TypeAlias = "Callable[[str], dict[str, str]]"


def _error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["code"] == code
    return body


def _new(run_id: str, project_id: str, **extra: Any) -> dict[str, Any]:
    run = {
        "id": run_id,
        "project_id": project_id,
        "name": f"fit-{run_id[-4:]}",
        "kind": "run",
        "host": "laptop",
        "pid": 4242,
        "started_at": 1_700_000_000.0,
        **extra,
    }
    return {"run": run, "params": [["lr", "0.1", 0.1]], "tags": [["team", "assay"]]}


@pytest.fixture
def assay(workspace: Workspace, team: dict[str, str]) -> str:
    return workspace.project_id("assay")


def _grant(service: IdentityService, project: str, user: str, role: str) -> None:
    service.grant(project, user, Role(role), actor=local_user("root"))


def _run(client: TestClient, as_user: Headers, run_id: str, project_id: str, who: str) -> None:
    made = client.post("/api/v1/runs", json=_new(run_id, project_id), headers=as_user(who))
    assert made.status_code == 201, made.text


def test_an_editor_runs_and_a_viewer_reads(
    client: TestClient, as_user: Headers, assay: str, workspace: Workspace
) -> None:
    run_id = "0190aaaa-0000-7000-8000-000000000001"
    _run(client, as_user, run_id, assay, "ed")
    rows = [["loss", 1.0 / (i + 1), i, 1_700_000_001.0 + i, i + 1] for i in range(50)]
    rows.append(["loss", None, 50, 1_700_000_100.0, 51])  # NaN travels as null
    batch = {"metrics": rows, "batch_id": "b1"}
    for _ in range(2):  # sent again after a lost answer: nothing is written twice
        sent = client.post(f"/api/v1/runs/{run_id}/batch", json=batch, headers=as_user("ed"))
        assert sent.status_code == 204, sent.text
    # Another editor of the project may write to the run too.
    tagged = client.post(
        f"/api/v1/runs/{run_id}/batch", json={"tags": [["note", "ok"]]}, headers=as_user("pat")
    )
    assert tagged.status_code == 204
    # But the seal is the run's writer's: a teammate's finish (or its entries) is refused, and
    # the run stays open.
    for route in ("finish", "seal-entries"):
        foreign = client.post(
            f"/api/v1/runs/{run_id}/{route}",
            json={"status": "finished", "ended_at": 1_700_000_200.0},
            headers=as_user("pat"),
        )
        _error(foreign, 403, "permission_denied")
        assert "started by ed; only they can finish it" in foreign.json()["message"]
    # Nor may a teammate say its process is alive or dead.
    for route, body in (
        ("crashed", {"run_ids": [run_id], "reason": "broken", "at": 1_700_000_100.0}),
        ("heartbeat", {"run_ids": [run_id], "at": 1_700_000_100.0}),
    ):
        foreign = client.post(f"/api/v1/runs/{route}", json=body, headers=as_user("pat"))
        _error(foreign, 403, "permission_denied")
    assert (
        client.post(
            "/api/v1/runs/heartbeat",
            json={"run_ids": [run_id], "at": 1_700_000_100.0},
            headers=as_user("ed"),
        ).status_code
        == 204
    )
    sealed = client.post(
        f"/api/v1/runs/{run_id}/finish",
        json={"status": "finished", "ended_at": 1_700_000_200.0},
        headers=as_user("ed"),
    )
    assert sealed.status_code == 200, sealed.text
    # A sealed record stays as sealed: more metrics are refused, tags still change.
    late = {"metrics": [["loss", 0.1, 99, 1_700_000_300.0, 99]]}
    refused = client.post(f"/api/v1/runs/{run_id}/batch", json=late, headers=as_user("ed"))
    _error(refused, 409, "run_state")
    got = client.post("/api/v1/runs/get", json={"refs": [run_id[:30]]}, headers=as_user("vera"))
    assert got.status_code == 200, got.text
    (run,) = got.json()["items"]
    assert (run["id"], run["status"], run["user"], run["host"]) == (
        run_id,
        "finished",
        "ed",
        "laptop",
    )
    assert run["project_id"] == assay
    assert run["record_digest"] == sealed.json()["record_digest"]
    assert run["metrics"] == {"loss": None}
    assert run["tags"] == {"team": "assay", "note": "ok"}
    history = client.get(
        f"/api/v1/runs/{run_id}/metrics", params={"max_results": 20}, headers=as_user("vera")
    ).json()
    assert len(history["items"]) == 20 and history["next_page_token"]
    rest = client.get(
        f"/api/v1/runs/{run_id}/metrics",
        params={"page_token": history["next_page_token"], "max_results": 1000},
        headers=as_user("vera"),
    ).json()
    assert len(rest["items"]) == 31 and rest["items"][-1][1] is None
    # The seal the server wrote from what it holds verifies.
    assert verify_workspace(workspace, remember=False).ok


def test_the_server_names_the_user_and_takes_no_seal_from_the_client(
    client: TestClient, as_user: Headers, assay: str
) -> None:
    run_id = "0190aaaa-0000-7000-8000-000000000002"
    forged = _new(run_id, assay)
    forged["run"]["user"] = "pat"
    _error(client.post("/api/v1/runs", json=forged, headers=as_user("ed")), 422, "invalid_request")
    _run(client, as_user, run_id, assay, "ed")
    seal = {
        "status": "finished",
        "ended_at": 1_700_000_200.0,
        "metrics_seal": {"count": 0, "digest": "x", "summary": {}},
    }
    refused = client.post(f"/api/v1/runs/{run_id}/finish", json=seal, headers=as_user("ed"))
    _error(refused, 422, "invalid_request")


def test_a_create_tried_again_is_a_no_op_and_another_create_of_its_id_a_conflict(
    client: TestClient, as_user: Headers, assay: str
) -> None:
    run_id = "0190aaaa-0000-7000-8000-000000000003"
    _run(client, as_user, run_id, assay, "ed")
    # The client's second try of the same create (the first one's answer was lost).
    again = {**as_user("ed"), "Labledger-Attempt": "2"}
    assert client.post("/api/v1/runs", json=_new(run_id, assay), headers=again).status_code == 201
    # A create of its own, or another run under the same id, is a conflict.
    _error(
        client.post("/api/v1/runs", json=_new(run_id, assay), headers=as_user("ed")),
        409,
        "conflict",
    )
    other = _new(run_id, assay, name="another")
    _error(client.post("/api/v1/runs", json=other, headers=again), 409, "conflict")
    # The same content from another user is another run.
    pat_again = {**as_user("pat"), "Labledger-Attempt": "2"}
    _error(
        client.post("/api/v1/runs", json=_new(run_id, assay), headers=pat_again), 409, "conflict"
    )


def test_a_finish_tried_again_answers_the_seal_the_first_try_committed(
    client: TestClient, as_user: Headers, assay: str
) -> None:
    run_id = "0190aaaa-0000-7000-8000-000000000009"
    _run(client, as_user, run_id, assay, "ed")
    seal = {
        "status": "finished",
        "ended_at": 1_700_000_200.0,
        "metrics": [["loss", 0.5, 0, 1.0, 1]],
    }
    route = f"/api/v1/runs/{run_id}/finish"
    first = client.post(route, json=seal, headers=as_user("ed"))
    assert first.status_code == 200, first.text
    # The first try's answer was lost (the server died after its commit): the second try gets it.
    again = {**as_user("ed"), "Labledger-Attempt": "2"}
    second = client.post(route, json=seal, headers=again)
    assert second.status_code == 200, second.text
    assert second.json() == first.json()
    # A finish of its own, or another seal sent again, is refused: the run has ended.
    _error(client.post(route, json=seal, headers=as_user("ed")), 409, "run_state")
    other = {**seal, "status": "failed"}
    _error(client.post(route, json=other, headers=again), 409, "run_state")
    later = {**seal, "ended_at": 1_700_000_201.0}
    _error(client.post(route, json=later, headers=again), 409, "run_state")
    history = client.get(f"/api/v1/runs/{run_id}/metrics", headers=as_user("ed")).json()
    assert len(history["items"]) == 1


def test_a_viewer_cannot_write(client: TestClient, as_user: Headers, assay: str) -> None:
    run_id = "0190aaaa-0000-7000-8000-000000000004"
    _error(
        client.post("/api/v1/runs", json=_new(run_id, assay), headers=as_user("vera")),
        403,
        "permission_denied",
    )
    _run(client, as_user, run_id, assay, "ed")
    vera = as_user("vera")
    batch = {"metrics": [["loss", 0.5, 0, 1_700_000_001.0, 1]]}
    _error(
        client.post(f"/api/v1/runs/{run_id}/batch", json=batch, headers=vera),
        403,
        "permission_denied",
    )
    finish = {"status": "finished", "ended_at": 1_700_000_200.0}
    _error(
        client.post(f"/api/v1/runs/{run_id}/finish", json=finish, headers=vera),
        403,
        "permission_denied",
    )
    crash = {"run_ids": [run_id], "reason": "no", "at": 1_700_000_300.0}
    _error(client.post("/api/v1/runs/crashed", json=crash, headers=vera), 403, "permission_denied")
    beat = {"run_ids": [run_id], "at": 1_700_000_300.0}
    _error(client.post("/api/v1/runs/heartbeat", json=beat, headers=vera), 403, "permission_denied")


def test_a_non_member_finds_nothing_and_a_guessed_id_is_a_404(
    client: TestClient,
    as_user: Headers,
    assay: str,
    workspace: Workspace,
    service: IdentityService,
) -> None:
    hidden_project = workspace.project_id("secret")
    _grant(service, "secret", "pat", "editor")
    visible = "0190aaaa-0000-7000-8000-000000000005"
    hidden = "0190aaaa-0000-7000-8000-000000000006"
    missing = "0190aaaa-0000-7000-8000-000000000007"
    _run(client, as_user, visible, assay, "ed")
    _run(client, as_user, hidden, hidden_project, "pat")
    # otto is in no project: every run is as missing as one that does not exist.
    for who, run_id in (("otto", visible), ("otto", hidden), ("ed", hidden)):
        guessed = client.post("/api/v1/runs/get", json={"refs": [run_id]}, headers=as_user(who))
        absent = client.post("/api/v1/runs/get", json={"refs": [missing]}, headers=as_user(who))
        body = _error(guessed, 404, "not_found")
        assert body["message"].replace(run_id, "X") == _error(absent, 404, "not_found")[
            "message"
        ].replace(missing, "X")
        _error(client.get(f"/api/v1/runs/{run_id}/metrics", headers=as_user(who)), 404, "not_found")
        batch = {"tags": [["x", "y"]]}
        _error(
            client.post(f"/api/v1/runs/{run_id}/batch", json=batch, headers=as_user(who)),
            404,
            "not_found",
        )

    # Searches find only runs of projects the user reads.
    def found(who: str, **query: Any) -> set[str]:
        page = client.post("/api/v1/runs/search", json=query, headers=as_user(who))
        assert page.status_code == 200, page.text
        return {run["id"] for run in page.json()["items"]}

    # Someone with no role anywhere is told so, naming only the project every workspace has.
    lost = _error(
        client.post("/api/v1/runs/search", json={}, headers=as_user("otto")), 404, "not_found"
    )
    assert "otto has no role in project 'default'" in lost["message"]
    assert "projects grant otto viewer --project default" in lost["hint"]
    assert found("ed") == {visible}
    assert found("pat") == {visible, hidden}
    assert found("ada") == {visible, hidden}  # a workspace administrator
    assert found("ed", filter="tags.team = 'assay'") == {visible}
    _error(
        client.post(
            "/api/v1/runs/search", json={"project_id": hidden_project}, headers=as_user("ed")
        ),
        404,
        "not_found",
    )
    running = client.post("/api/v1/runs/running", json={}, headers=as_user("ed")).json()
    assert {live["run_id"] for live in running["items"]} == {visible}
    # A heartbeat or a crash for a run the user cannot see leaves it as it is.
    crash = {"run_ids": [hidden], "reason": "guess", "at": time.time()}
    assert client.post("/api/v1/runs/crashed", json=crash, headers=as_user("ed")).json() == {
        "ids": []
    }


def test_bad_filters_and_sort_keys_are_400s(
    client: TestClient, as_user: Headers, assay: str
) -> None:
    ed = as_user("ed")
    for query in (
        {"filter": "metrics.auc >"},
        {"filter": "nonsense.x = 1"},
        {"where": {"node": "condition", "name": "metrics.auc", "op": "~", "value": 1}},
        {"where": {"node": "condition", "name": "bogus", "op": "=", "value": 1}},
        {"order_by": [{"name": "attributes.nope"}]},
        {"filter": "a", "where": {"node": "text", "text": "a"}},
        {"page_token": "not-a-token"},
    ):
        answer = client.post("/api/v1/runs/search", json=query, headers=ed)
        assert answer.status_code == 400, (query, answer.text)


def test_client_times_are_held_to_the_server_clock(
    client: TestClient, as_user: Headers, assay: str, workspace: Workspace
) -> None:
    now = time.time()
    runs = workspace.stores.runs
    beaten, crashed, ended = (f"0190aaaa-0000-7000-8000-0000000000{n}" for n in ("a1", "a2", "a3"))
    for run_id in (beaten, crashed, ended):
        made = client.post(
            "/api/v1/runs", json=_new(run_id, assay, started_at=now - 60), headers=as_user("ed")
        )
        assert made.status_code == 201, made.text
    # A heartbeat a year ahead would keep the run's lease forever: it is brought to the skew.
    year = 365 * 86400.0
    beat = {"run_ids": [beaten], "at": now + year}
    assert (
        client.post("/api/v1/runs/heartbeat", json=beat, headers=as_user("ed")).status_code == 204
    )
    assert runs.get_runs([beaten])[0].heartbeat_at <= time.time() + 300
    crash = {"run_ids": [crashed], "reason": "gone", "at": now - year}
    assert client.post("/api/v1/runs/crashed", json=crash, headers=as_user("ed")).json() == {
        "ids": [crashed]
    }
    assert runs.get_runs([crashed])[0].ended_at >= now - 300
    # An end before the start, or in the future, is refused and the run stays open.
    for at in (now - 120, now + 3600):
        finish = {"status": "finished", "ended_at": at}
        refused = client.post(f"/api/v1/runs/{ended}/finish", json=finish, headers=as_user("ed"))
        assert "server's clock" in _error(refused, 400, "validation")["message"]
    assert runs.get_runs([ended])[0].status == "running"
    finish = {"status": "finished", "ended_at": now}
    assert client.post(
        f"/api/v1/runs/{ended}/finish", json=finish, headers=as_user("ed")
    ).is_success
    # Finishing it again says it has ended, not that someone marked it crashed.
    again = client.post(f"/api/v1/runs/{ended}/finish", json=finish, headers=as_user("ed"))
    message = _error(again, 409, "run_state")["message"]
    assert "already ended (status finished)" in message and "crashed" not in message


def test_run_reads_match_the_openapi_document_with_infinite_values(
    client: TestClient, as_user: Headers, assay: str
) -> None:
    """JSON has no infinite numbers: they travel as "Infinity" and "-Infinity", and the
    document says so, so a client that checks answers against it accepts them."""
    import jsonschema

    run_id = "0190aaaa-0000-7000-8000-0000000000f1"
    _run(client, as_user, run_id, assay, "ed")
    rows = [["up", "Infinity", 0, 1_700_000_001.0, 1], ["down", "-Infinity", 0, 1_700_000_001.0, 2]]
    rows += [["nan", None, 0, 1_700_000_001.0, 3], ["plain", 0.5, 0, 1_700_000_001.0, 4]]
    sent = client.post(
        f"/api/v1/runs/{run_id}/batch", json={"metrics": rows}, headers=as_user("ed")
    )
    assert sent.status_code == 204, sent.text
    document = client.get("/api/v1/openapi.json").json()

    def check(response: Any, component: str) -> dict[str, Any]:
        assert response.status_code == 200, response.text
        schema = {"$ref": f"#/components/schemas/{component}", "components": document["components"]}
        body: dict[str, Any] = response.json()
        jsonschema.Draft202012Validator(schema).validate(body)
        return body

    found = check(
        client.post("/api/v1/runs/search", json={"max_results": 10}, headers=as_user("ed")),
        "RunPageOut",
    )
    (run,) = [r for r in found["items"] if r["id"] == run_id]
    assert run["metrics"] == {"up": "Infinity", "down": "-Infinity", "nan": None, "plain": 0.5}
    check(
        client.post("/api/v1/runs/get", json={"refs": [run_id]}, headers=as_user("ed")), "RunsOut"
    )
    history = check(
        client.get(f"/api/v1/runs/{run_id}/metrics", headers=as_user("ed")), "MetricPageOut"
    )
    assert {tuple(item[:2]) for item in history["items"]} == {
        ("up", "Infinity"), ("down", "-Infinity"), ("nan", None), ("plain", 0.5)
    }  # fmt: skip


def test_a_metric_value_is_a_number_the_infinity_texts_or_null_and_nothing_else(
    client: TestClient, as_user: Headers, assay: str, workspace: Workspace
) -> None:
    from labledger.tracking import get_metric_history

    run_id = "0190aaaa-0000-7000-8000-00000000000f"
    _run(client, as_user, run_id, assay, "ed")
    rows = [["a", 0.5, 0, 1.0, 1], ["a", "Infinity", 1, 1.0, 2], ["a", "-Infinity", 2, 1.0, 3],
            ["a", "NaN", 3, 1.0, 4], ["a", None, 4, 1.0, 5]]  # fmt: skip
    sent = client.post(
        f"/api/v1/runs/{run_id}/batch", json={"metrics": rows}, headers=as_user("ed")
    )
    assert sent.status_code == 204, sent.text
    values = [p.value for p in get_metric_history(run_id, "a", workspace=workspace)]
    assert values[:3] == [0.5, math.inf, -math.inf]
    assert all(math.isnan(v) for v in values[3:])
    for odd in (True, "1.5", "inf", [1]):  # JSON's true is no number, and no other text is
        refused = client.post(
            f"/api/v1/runs/{run_id}/batch",
            json={"metrics": [["b", odd, 0, 1.0, 6]]},
            headers=as_user("ed"),
        )
        assert refused.status_code == 422, (odd, refused.text)
