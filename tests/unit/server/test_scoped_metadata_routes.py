"""Metadata values, searches, collections and run-id prefixes are scoped to the project of what
they touch: a member of another project gets 404 (the answer for something that does not
exist), a viewer gets 403 on writes, and searches and listings hold only what the user reads."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeAlias

import pytest

from labledger import metadata
from labledger.identity import Role, local_user
from labledger.tracking import start_run

if TYPE_CHECKING:
    from collections.abc import Callable

    from labledger.identity import IdentityService
    from labledger.workspace.workspace import Workspace
    from tests.unit.server.conftest import TestClient

Headers: TypeAlias = "Callable[[str], dict[str, str]]"
_VALUES = "/api/v1/metadata/values"


def _error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["code"] == code
    return body


@pytest.fixture
def data(workspace: Workspace, service: IdentityService, team: dict[str, str]) -> dict[str, str]:
    """Project ``assay`` (vera viewer, ed editor) and project ``lab`` (otto editor), a run in
    each and an artifact of the assay run, each with a ``conc`` value; ids by name."""
    lab = workspace.project_id("lab")
    service.grant("lab", "otto", Role.EDITOR, actor=local_user("root"))
    metadata.define_field("conc", "number", workspace=workspace)
    found: dict[str, str] = {"assay": workspace.project_id("assay"), "lab": lab}
    for project in ("assay", "lab"):
        with start_run(f"titration-{project}", project=project, workspace=workspace) as run:
            if project == "assay":
                found["artifact"] = run.log_artifact({"x": 1}, name="plate-assay").id
        found[f"{project}_run"] = run.id
        metadata.set_metadata(run.id, {"conc": 5}, workspace=workspace)
    metadata.set_metadata(("artifact", found["artifact"]), {"conc": 7}, workspace=workspace)
    return found


def test_values_of_another_projects_run_are_not_found(
    client: TestClient, as_user: Headers, data: dict[str, str]
) -> None:
    assay_run = f"{_VALUES}/run/{data['assay_run']}"
    assert client.get(assay_run, headers=as_user("vera")).json()["values"] == {"conc": 5.0}
    hidden = _error(client.get(assay_run, headers=as_user("otto")), 404, "not_found")
    absent_id = data["assay_run"][:-4] + "0000"
    absent = _error(
        client.get(f"{_VALUES}/run/{absent_id}", headers=as_user("otto")), 404, "not_found"
    )
    assert hidden["message"].replace(data["assay_run"], "X") == absent["message"].replace(
        absent_id, "X"
    )
    artifact = f"{_VALUES}/artifact/{data['artifact']}"
    _error(client.get(artifact, headers=as_user("otto")), 404, "not_found")
    body = {"values": [{"field": "conc", "number": 9.0, "text": None}]}
    _error(client.put(assay_run, json=body, headers=as_user("otto")), 404, "not_found")
    _error(client.delete(f"{assay_run}/conc", headers=as_user("otto")), 404, "not_found")
    # A viewer reads but cannot write; an editor of the run's project can.
    denied = _error(
        client.put(assay_run, json=body, headers=as_user("vera")), 403, "permission_denied"
    )
    assert denied["message"] == "vera is viewer in assay; this needs editor"
    _error(client.delete(f"{assay_run}/conc", headers=as_user("vera")), 403, "permission_denied")
    assert client.put(assay_run, json=body, headers=as_user("ed")).json()["values"] == {"conc": 9.0}
    lab_run = f"{_VALUES}/run/{data['lab_run']}"
    assert client.put(lab_run, json=body, headers=as_user("otto")).status_code == 200
    _error(client.put(lab_run, json=body, headers=as_user("ed")), 404, "not_found")
    # A workspace administrator reads and writes every project's.
    assert client.get(lab_run, headers=as_user("ada")).status_code == 200


def test_search_finds_only_what_the_user_reads(
    client: TestClient, as_user: Headers, workspace: Workspace, data: dict[str, str]
) -> None:
    # Newer assay runs with values would fill a page of one if the filter came after the query.
    for i in range(3):
        with start_run(f"titration-late-{i}", project="assay", workspace=workspace) as run:
            pass
        metadata.set_metadata(run.id, {"conc": 5}, workspace=workspace)

    def hits(who: str, **body: Any) -> list[str]:
        answer = client.post("/api/v1/metadata/search", json=body, headers=as_user(who))
        assert answer.status_code == 200, answer.text
        return [hit["id"] for hit in answer.json()["items"]]

    where = {"node": "condition", "name": "conc", "op": ">", "value": 1}
    assert hits("otto", where=where, limit=1) == [data["lab_run"]]
    assert hits("otto", text="titration") == [data["lab_run"]]
    vera = hits("vera", where=where)
    assert data["lab_run"] not in vera and data["assay_run"] in vera
    assert {data["lab_run"], data["assay_run"], data["artifact"]} <= set(hits("ada", where=where))
    # Asking for another project's hits narrows, never widens.
    assert hits("otto", where=where, project_ids=[data["assay"]]) == []
    assert hits("ada", where=where, project_ids=[data["lab"]]) == [data["lab_run"]]


def test_fields_are_read_by_any_member_and_defined_by_administrators(
    client: TestClient, as_user: Headers, service: IdentityService, data: dict[str, str]
) -> None:
    fields = "/api/v1/metadata/fields"
    assert [f["name"] for f in client.get(fields, headers=as_user("otto")).json()["items"]] == [
        "conc"
    ]
    service.create_user("nora", by="root")
    nora = {"Authorization": f"Bearer {service.issue_token('nora', 't', by='root').secret}"}
    assert "no role" in _error(client.get(fields, headers=nora), 404, "not_found")["message"]
    new = {"name": "ph", "type": "number"}
    for who in ("ed", "pat"):
        _error(client.post(fields, json=new, headers=as_user(who)), 403, "permission_denied")
    _error(client.post("/api/v1/metadata/reindex", headers=as_user("ed")), 403, "permission_denied")
    assert client.post(fields, json=new, headers=as_user("ada")).status_code == 201


def test_id_prefixes_are_resolved_among_readable_runs(
    client: TestClient, as_user: Headers, data: dict[str, str]
) -> None:
    shared = 0
    while data["assay_run"][shared] == data["lab_run"][shared]:
        shared += 1
    prefix = data["assay_run"][: min(shared, 12)]
    if len(prefix) < 4:
        pytest.skip("the two runs' ids share no prefix this time")
    # Both runs share it: an administrator must type more, a member of one project need not.
    ambiguous = client.post("/api/v1/runs/get", json={"refs": [prefix]}, headers=as_user("ada"))
    assert ambiguous.status_code == 400, ambiguous.text
    found = client.post("/api/v1/runs/get", json={"refs": [prefix]}, headers=as_user("otto"))
    assert [run["id"] for run in found.json()["items"]] == [data["lab_run"]]
    found = client.post("/api/v1/runs/get", json={"refs": [prefix]}, headers=as_user("vera"))
    assert [run["id"] for run in found.json()["items"]] == [data["assay_run"]]
    whole = {"refs": [data["lab_run"]]}
    _error(client.post("/api/v1/runs/get", json=whole, headers=as_user("vera")), 404, "not_found")
    target = client.get(
        "/api/v1/metadata/targets", params={"ref": prefix, "kind": "run"}, headers=as_user("otto")
    )
    assert target.json() == {"kind": "run", "id": data["lab_run"]}
    _error(
        client.get(
            "/api/v1/metadata/targets", params={"ref": data["lab_run"]}, headers=as_user("vera")
        ),
        404,
        "not_found",
    )


def test_collections_belong_to_a_project(
    client: TestClient, as_user: Headers, data: dict[str, str]
) -> None:
    assay, lab = {"project_id": data["assay"]}, {"project_id": data["lab"]}
    route = "/api/v1/collections"
    made = client.post(route, json={"name": "screen"}, params=assay, headers=as_user("ed"))
    assert made.status_code == 201, made.text
    assert made.json()["project_id"] == data["assay"]
    # Names are unique per project: lab may have its own "screen".
    theirs = client.post(route, json={"name": "screen"}, params=lab, headers=as_user("otto"))
    assert theirs.status_code == 201, theirs.text
    again = client.post(route, json={"name": "screen"}, params=assay, headers=as_user("ed"))
    _error(again, 409, "conflict")
    # A non-member neither reads nor writes assay's, and cannot tell it from one not there.
    hidden = _error(
        client.get(f"{route}/screen", params=assay, headers=as_user("otto")), 404, "not_found"
    )
    absent = _error(
        client.get(f"{route}/nope", params=assay, headers=as_user("otto")), 404, "not_found"
    )
    assert hidden["message"].replace("screen", "X") == absent["message"].replace("nope", "X")
    _error(
        client.post(route, json={"name": "x"}, params=assay, headers=as_user("otto")),
        404,
        "not_found",
    )
    add = {"members": [{"kind": "run", "ref": data["assay_run"]}]}
    _error(
        client.post(f"{route}/screen/members", json=add, params=assay, headers=as_user("otto")),
        404,
        "not_found",
    )
    _error(
        client.delete(f"{route}/screen", params=assay, headers=as_user("otto")), 404, "not_found"
    )
    listed = client.get(route, headers=as_user("otto")).json()["items"]
    assert [(c["name"], c["project_id"]) for c in listed] == [("screen", data["lab"])]
    # Left out, the project is default, where otto has no role: he is told so.
    told = _error(client.get(f"{route}/screen", headers=as_user("otto")), 404, "not_found")
    assert told["message"] == "otto has no role in project 'default'"
    # A viewer reads but cannot change it.
    assert client.get(f"{route}/screen", params=assay, headers=as_user("vera")).status_code == 200
    _error(
        client.post(f"{route}/screen/members", json=add, params=assay, headers=as_user("vera")),
        403,
        "permission_denied",
    )
    _error(
        client.delete(f"{route}/screen", params=assay, headers=as_user("vera")),
        403,
        "permission_denied",
    )
    # An editor adds only what they read: lab's run is not found for ed.
    lab_member = {"members": [{"kind": "run", "ref": data["lab_run"]}]}
    _error(
        client.post(
            f"{route}/screen/members", json=lab_member, params=assay, headers=as_user("ed")
        ),
        404,
        "not_found",
    )
    after = client.post(f"{route}/screen/members", json=add, params=assay, headers=as_user("ed"))
    assert [m["id"] for m in after.json()["members"]] == [data["assay_run"]]
    # An administrator adds lab's run to assay's collection; assay's members do not see it.
    added = client.post(
        f"{route}/screen/members", json=lab_member, params=assay, headers=as_user("ada")
    )
    assert len(added.json()["members"]) == 2
    shown = client.get(f"{route}/screen", params=assay, headers=as_user("vera")).json()
    assert [m["id"] for m in shown["members"]] == [data["assay_run"]]
    listed = client.get(route, headers=as_user("vera")).json()["items"]
    assert [(c["name"], len(c["members"])) for c in listed] == [("screen", 1)]
    everything = client.get(route, headers=as_user("ada")).json()["items"]
    assert sorted(c["project_id"] for c in everything) == sorted([data["assay"], data["lab"]])
    assert client.delete(f"{route}/screen", params=assay, headers=as_user("ed")).status_code == 204
