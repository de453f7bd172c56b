"""``/api/v1/artifacts``: blobs must be in the store first, the maker is the signed-in user."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from labledger._foundation.digests import digest_bytes
from labledger._foundation.errors import ValidationError
from labledger.identity import IdentityService, Role, local_user
from labledger.tracking import start_run
from labledger.tracking.artifacts import export_artifact, get_artifact

if TYPE_CHECKING:
    from pathlib import Path

    from fastapi.testclient import TestClient

    from labledger.workspace.workspace import Workspace

ARTIFACTS = "/api/v1/artifacts"


@pytest.fixture
def headers(workspace: Workspace, team: dict[str, str]) -> Any:
    service = IdentityService(workspace.stores.identity)
    service.grant("default", "vera", Role.VIEWER, actor=local_user("root"))
    service.grant("default", "ed", Role.EDITOR, actor=local_user("root"))

    def of(name: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {team[name]}"}

    return of


def _artifact(data: bytes, **extra: Any) -> dict[str, Any]:
    digest = digest_bytes(data)
    return {
        "name": "plate",
        "kind": "bytes",
        "format": "bin",
        "digest": digest,
        "size": len(data),
        "blobs": [[digest, len(data)]],
        **extra,
    }


def test_an_artifact_whose_blob_is_missing_is_refused(
    client: TestClient, headers: Any, workspace: Workspace
) -> None:
    body = {"artifacts": [_artifact(b"never uploaded")]}
    refused = client.post(ARTIFACTS, json=body, headers=headers("ed"))
    assert refused.status_code == 400
    assert digest_bytes(b"never uploaded") in refused.json()["message"]
    assert "upload them first" in refused.json()["hint"]
    assert client.get(ARTIFACTS, headers=headers("ed")).json()["items"] == []


def test_the_maker_is_the_signed_in_user_never_a_name_sent(
    client: TestClient, headers: Any, workspace: Workspace
) -> None:
    digest = workspace.store.put(b"bytes")
    run = start_run("r", workspace=workspace)
    forged = {"artifacts": [_artifact(b"bytes", created_by="someone else")]}
    assert client.post(ARTIFACTS, json=forged, headers=headers("ed")).status_code == 422
    body = {"artifacts": [_artifact(b"bytes", run_id=run.id)]}
    made = client.post(ARTIFACTS, json=body, headers=headers("ed"))
    assert made.status_code == 201
    (artifact,) = made.json()["items"]
    assert artifact["created_by"] == "ed" and artifact["digest"] == digest
    assert get_artifact(artifact["id"], workspace=workspace).created_by == "ed"
    listed = client.get(ARTIFACTS, params={"run_id": run.id}, headers=headers("vera")).json()
    assert [a["id"] for a in listed["items"]] == [artifact["id"]]
    got = client.post(f"{ARTIFACTS}/get", json={"refs": ["plate"]}, headers=headers("vera"))
    assert got.json()["items"][0]["id"] == artifact["id"]
    run.end()


def test_sizes_must_be_those_of_the_stored_blobs(
    client: TestClient, headers: Any, workspace: Workspace
) -> None:
    digest = workspace.store.put(b"bytes")
    lying = {"artifacts": [_artifact(b"bytes", blobs=[[digest, 10**9]])]}
    refused = client.post(ARTIFACTS, json=lying, headers=headers("ed"))
    assert refused.status_code == 400 and "the store holds 5" in refused.json()["message"]
    assert client.get(ARTIFACTS, headers=headers("ed")).json()["items"] == []


def test_viewers_cannot_record_and_unknown_runs_are_not_found(
    client: TestClient, headers: Any, workspace: Workspace
) -> None:
    workspace.store.put(b"bytes")
    body = {"artifacts": [_artifact(b"bytes")]}
    assert client.post(ARTIFACTS, json=body, headers=headers("vera")).status_code == 403
    assert client.post(ARTIFACTS, json=body, headers=headers("otto")).status_code == 404
    orphan = {"artifacts": [_artifact(b"bytes", run_id="no-such-run")]}
    assert client.post(ARTIFACTS, json=orphan, headers=headers("ed")).status_code == 404
    run = start_run("named", workspace=workspace)
    for almost in (run.id[:12], "named"):  # a prefix or a name is a reference, not an id
        near = {"artifacts": [_artifact(b"bytes", run_id=almost)]}
        assert client.post(ARTIFACTS, json=near, headers=headers("ed")).status_code == 404
    run.end()
    bad_name = {"artifacts": [_artifact(b"bytes", name="a\x00b")]}
    assert client.post(ARTIFACTS, json=bad_name, headers=headers("ed")).status_code == 400


@pytest.mark.parametrize("name", ["../../escape.bin", "..", "/etc/passwd", "a\\..\\..\\b"])
def test_a_name_sent_over_http_never_leads_an_export_outside_its_folder(
    client: TestClient, headers: Any, workspace: Workspace, tmp_path: Path, name: str
) -> None:
    workspace.store.put(b"bytes")
    made = client.post(
        ARTIFACTS, json={"artifacts": [_artifact(b"bytes", name=name)]}, headers=headers("ed")
    )
    assert made.status_code == 201
    target = tmp_path / "out" / "exports"
    target.mkdir(parents=True)
    try:
        written = export_artifact(made.json()["items"][0]["id"], f"{target}/", workspace=workspace)
    except ValidationError as exc:  # a name that names no file is refused, with a way out
        assert "cannot be written under its own name" in str(exc)
        written = None
    if written is not None:
        assert written.resolve().parent == target.resolve()
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["exports"]


def test_an_artifact_goes_only_into_a_running_run_the_user_writes_to(
    client: TestClient, headers: Any, workspace: Workspace
) -> None:
    workspace.store.put(b"bytes")
    workspace.project_id("secret")
    service = IdentityService(workspace.stores.identity)
    service.grant("secret", "pat", Role.EDITOR, actor=local_user("root"))
    hidden = start_run("hidden", project="secret", workspace=workspace)
    sealed = start_run("sealed", workspace=workspace)
    sealed.end()
    missing = "0190aaaa-0000-7000-8000-00000000ffff"

    def post(run_id: str, who: str = "ed") -> Any:
        body = {"artifacts": [_artifact(b"bytes", run_id=run_id)]}
        return client.post(ARTIFACTS, json=body, headers=headers(who))

    # Another project's run is as missing as no run at all: the route is no existence oracle.
    absent, guessed = post(missing), post(hidden.id)
    assert absent.status_code == guessed.status_code == 404
    assert absent.json()["message"].replace(missing, "X") == guessed.json()["message"].replace(
        hidden.id, "X"
    )
    # A sealed run stays as sealed: its record still verifies.
    ended = post(sealed.id)
    assert ended.status_code == 409 and ended.json()["code"] == "run_state", ended.text
    assert client.get(ARTIFACTS, headers=headers("ed")).json()["items"] == []
    hidden.end()


def test_a_reference_to_a_blob_nobody_stored_is_a_400(client: TestClient, headers: Any) -> None:
    body = {"artifacts": [_artifact(b"only a path", kind="reference", blobs=[])]}
    refused = client.post(ARTIFACTS, json=body, headers=headers("ed"))
    assert refused.status_code == 400, refused.text
    assert refused.json()["code"] == "validation"
    assert "not in the store" in refused.json()["message"]
    assert client.get(ARTIFACTS, headers=headers("ed")).json()["items"] == []


def _rows(workspace: Workspace) -> tuple[int, int]:
    """How many artifacts and ledger entries the catalog holds."""
    import sqlalchemy as sa

    from labledger.workspace import schema

    with workspace.read() as conn:
        count = [
            conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
            for table in (schema.artifacts, schema.ledger)
        ]
    return count[0], count[1]


def test_an_id_taken_already_is_a_conflict_that_names_nothing_else_and_writes_nothing(
    client: TestClient, headers: Any, workspace: Workspace, team: dict[str, str]
) -> None:
    workspace.store.put(b"bytes")
    body = {"artifacts": [_artifact(b"bytes", id="fixed-id")]}
    assert client.post(ARTIFACTS, json=body, headers=headers("ed")).status_code == 201
    before = _rows(workspace)
    # Taken in a project pat cannot see: the same 409 as ed gets, and it says only that.
    assay = workspace.project_id("assay")
    attempts = [
        (headers("ed"), _artifact(b"bytes", id="fixed-id")),
        (headers("ed"), _artifact(b"bytes", id="fixed-id", name="other")),
        (headers("pat"), _artifact(b"bytes", id="fixed-id", name="other", project_id=assay)),
    ]
    for who, artifact in attempts:
        again = client.post(ARTIFACTS, json={"artifacts": [artifact]}, headers=who)
        assert again.status_code == 409, again.text
        assert again.json()["code"] == "conflict"
        assert again.json()["message"] == "an artifact with id fixed-id exists already"
    # The same id twice in one request is refused too, and neither is written.
    twice = [_artifact(b"bytes", id="twin", name="a"), _artifact(b"bytes", id="twin", name="b")]
    refused = client.post(ARTIFACTS, json={"artifacts": twice}, headers=headers("ed"))
    assert refused.status_code == 409 and "twin" in refused.json()["message"]
    assert _rows(workspace) == before


def _nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {"leaf": 1}
    for _ in range(depth - 1):
        value = {"a": value}
    return value


@pytest.mark.parametrize("field", ["schema", "stats"])
def test_json_nested_past_what_can_be_served_back_is_refused_and_nothing_is_kept(
    client: TestClient, headers: Any, workspace: Workspace, field: str
) -> None:
    workspace.store.put(b"bytes")
    kept = {"artifacts": [_artifact(b"bytes", **{field: _nested(64)})]}
    assert client.post(ARTIFACTS, json=kept, headers=headers("ed")).status_code == 201
    deep = {"artifacts": [_artifact(b"bytes", name="deep", **{field: _nested(450)})]}
    refused = client.post(ARTIFACTS, json=deep, headers=headers("ed"))
    assert refused.status_code == 400, refused.text
    assert "nests more than 64 levels" in refused.json()["message"]
    listed = client.get(ARTIFACTS, headers=headers("vera"))
    assert listed.status_code == 200 and [a["name"] for a in listed.json()["items"]] == ["plate"]
    large = {"artifacts": [_artifact(b"bytes", name="large", **{field: {"x": "y" * 300_000}})]}
    from fastapi.testclient import TestClient as Client

    from labledger.server import create_app

    roomy = Client(create_app(workspace, auth_required=True, body_limit=1_000_000))
    refused = roomy.post(ARTIFACTS, json=large, headers=headers("ed"))
    assert refused.status_code == 400 and "more than 262,144" in refused.json()["message"]
