"""Users' signing keys and the entries they sign: registered through the server, checked by it,
and accepted by ``verify`` as signed by keys the ledger itself records."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select, update

import labledger
from labledger._foundation.canonical import canonical_text
from labledger.identity import Role, local_user
from labledger.stores.ledger import EntryBody
from labledger.workspace import schema
from labledger.workspace.ledger import append_entry, entry_hash
from labledger.workspace.signing import Signer

if TYPE_CHECKING:
    from labledger.identity import IdentityService
    from labledger.workspace.workspace import Workspace
    from tests.unit.server.conftest import TestClient

Headers = Callable[[str], dict[str, str]]


@pytest.fixture
def writers(service: IdentityService, team: dict[str, str]) -> None:
    """ed and pat are editors of the workspace's default project, vera a viewer."""
    root = local_user("root")
    for name, role in (("ed", Role.EDITOR), ("pat", Role.EDITOR), ("vera", Role.VIEWER)):
        service.grant("default", name, role, actor=root)


def _signer(actor: str) -> Signer:
    return Signer(actor=actor, private_key=Ed25519PrivateKey.generate())


def _register(client: TestClient, headers: dict[str, str], signer: Signer) -> dict[str, Any]:
    answer = client.post(
        "/api/v1/me/keys", json={"public_key": signer.public_key_hex, "name": "laptop"},
        headers=headers,
    )  # fmt: skip
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


def _signed(
    signer: Signer, *, kind: str = "review.approved", actor: str | None = None, **changes: Any
) -> dict[str, Any]:
    body = EntryBody.new(
        kind, subject="model:m1", payload={"note": "looks right"},
        actor=actor or signer.actor, key_id=signer.public_key_hex,
    )  # fmt: skip
    document = {**body.fields(), "signature": signer.sign_body(body)}
    document.update(changes)
    return document


def _ledger_size(ws: Workspace) -> int:
    with ws.read() as conn:
        return len(conn.execute(select(schema.ledger.c.seq)).all())


def _refused(answer: Any, status: int, code: str) -> None:
    assert answer.status_code == status, answer.text
    assert answer.json()["code"] == code


def test_a_user_registers_lists_and_revokes_their_keys_and_each_change_is_in_the_ledger(
    client: TestClient, as_user: Headers, workspace: Workspace
) -> None:
    ed = _signer("ed")
    added = _register(client, as_user("ed"), ed)
    assert added["id"] == ed.public_key_hex  # the key id signed bodies carry
    assert (added["user"], added["name"], added["revoked_at"]) == ("ed", "laptop", None)
    again = client.post("/api/v1/me/keys", json={"public_key": ed.public_key_hex},
                        headers=as_user("ed"))  # fmt: skip
    assert again.status_code == 201 and again.json()["id"] == ed.public_key_hex
    listed = client.get("/api/v1/me/keys", headers=as_user("ed")).json()["items"]
    assert [k["id"] for k in listed] == [ed.public_key_hex]
    assert client.get("/api/v1/me/keys", headers=as_user("vera")).json()["items"] == []
    # Someone else's key is not theirs to register, list or revoke.
    _refused(client.post("/api/v1/me/keys", json={"public_key": ed.public_key_hex},
                         headers=as_user("vera")), 409, "conflict")  # fmt: skip
    _refused(client.delete(f"/api/v1/me/keys/{ed.public_key_hex}", headers=as_user("vera")),
             404, "not_found")  # fmt: skip
    revoked = client.delete(f"/api/v1/me/keys/{ed.public_key_hex}", headers=as_user("ed"))
    assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
    entries = [e for e in workspace.stores.ledger.entries() if e.kind.startswith("user.key_")]
    assert [(e.kind, e.payload["user"], e.payload["by"]) for e in entries] == [
        ("user.key_added", "ed", "ed"),
        ("user.key_revoked", "ed", "ed"),
    ]
    # A revoked key is registered once: it cannot come back.
    _refused(client.post("/api/v1/me/keys", json={"public_key": ed.public_key_hex},
                         headers=as_user("ed")), 409, "conflict")  # fmt: skip


def test_keys_are_read_in_hex_openssh_or_pem_and_anything_else_is_refused(
    client: TestClient, as_user: Headers
) -> None:
    from cryptography.hazmat.primitives import serialization

    key = Ed25519PrivateKey.generate().public_key()
    ssh = key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    answer = client.post("/api/v1/me/keys", json={"public_key": ssh.decode() + " ed@laptop"},
                         headers=as_user("ed"))  # fmt: skip
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    assert answer.status_code == 201 and answer.json()["id"] == raw.hex()
    for bad in ("00" * 31, "zz" * 32, "ssh-rsa AAAA", "-----BEGIN PRIVATE KEY-----\nx"):
        _refused(client.post("/api/v1/me/keys", json={"public_key": bad}, headers=as_user("ed")),
                 400, "validation")  # fmt: skip


# The eight points of small order (the identity first), then non-canonical spellings of some:
# y + p in place of y, and x = 0 with its sign bit set.
_SMALL_ORDER = (
    "01" + "00" * 31,
    "ec" + "ff" * 30 + "7f",
    "00" * 32,
    "00" * 31 + "80",
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
    "ee" + "ff" * 30 + "7f",
    "ed" + "ff" * 30 + "7f",
    "01" + "00" * 30 + "80",
    "ec" + "ff" * 31,
)


def test_small_order_and_non_canonical_keys_are_refused(
    client: TestClient, as_user: Headers
) -> None:
    for bad in _SMALL_ORDER:
        answer = client.post("/api/v1/me/keys", json={"public_key": bad}, headers=as_user("ed"))
        _refused(answer, 400, "validation")
        assert "not a usable Ed25519 public key" in answer.json()["message"]
        assert answer.json()["hint"]
    assert client.get("/api/v1/me/keys", headers=as_user("ed")).json()["items"] == []


def test_admins_list_and_revoke_anyones_keys_others_may_not(
    client: TestClient, as_user: Headers
) -> None:
    ed = _signer("ed")
    _register(client, as_user("ed"), ed)
    _refused(client.get("/api/v1/keys", headers=as_user("pat")), 403, "permission_denied")
    _refused(client.delete(f"/api/v1/keys/{ed.public_key_hex}", headers=as_user("pat")),
             403, "permission_denied")  # fmt: skip
    listed = client.get("/api/v1/keys", params={"user": "ed"}, headers=as_user("ada")).json()
    assert [k["user"] for k in listed["items"]] == ["ed"]
    # /me/keys is the admin's own: another user's key is not there.
    _refused(client.delete(f"/api/v1/me/keys/{ed.public_key_hex}", headers=as_user("ada")),
             404, "not_found")  # fmt: skip
    revoked = client.delete(f"/api/v1/keys/{ed.public_key_hex}", headers=as_user("ada"))
    assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None


def test_an_editor_of_any_project_may_append_and_a_viewer_of_all_may_not(
    client: TestClient, as_user: Headers, workspace: Workspace
) -> None:
    ed, vera = _signer("ed"), _signer("vera")  # editor and viewer of `assay`, not of `default`
    _register(client, as_user("ed"), ed)
    _register(client, as_user("vera"), vera)
    answer = client.post("/api/v1/ledger/entries", json=_signed(ed), headers=as_user("ed"))
    assert answer.status_code == 201, answer.text
    refused = client.post("/api/v1/ledger/entries", json=_signed(vera), headers=as_user("vera"))
    _refused(refused, 403, "permission_denied")
    outsider = client.post("/api/v1/ledger/entries", json=_signed(ed), headers=as_user("otto"))
    assert outsider.status_code in (403, 404)
    assert labledger.verify(workspace=workspace, blobs=False).ok


@pytest.mark.usefixtures("writers")
def test_an_entry_signed_with_a_registered_key_lands_and_verifies(
    client: TestClient, as_user: Headers, workspace: Workspace
) -> None:
    ed = _signer("ed")
    _register(client, as_user("ed"), ed)
    with labledger.start_run("server-side", workspace=workspace) as run:  # server-written entries
        run.log_metric("auc", 0.9)
    document = _signed(ed)
    answer = client.post("/api/v1/ledger/entries", json=document, headers=as_user("ed"))
    assert answer.status_code == 201, answer.text
    entry = answer.json()
    assert (entry["id"], entry["actor"], entry["signature"]) == (
        document["id"], "ed", document["signature"],
    )  # fmt: skip
    assert entry["hash"] and entry["seq"] == _ledger_size(workspace)
    report = labledger.verify(workspace=workspace, blobs=False)
    assert report.ok, report.problems
    served = client.post("/api/v1/ledger/verify", params={"blobs": False}, headers=as_user("ada"))
    assert served.json()["ok"] is True


@pytest.mark.usefixtures("writers")
@pytest.mark.parametrize(
    ("case", "status", "code"),
    [
        ("unregistered key", 403, "permission_denied"),
        ("another user's key", 403, "permission_denied"),
        ("revoked key", 403, "permission_denied"),
        ("tampered payload", 403, "permission_denied"),
        ("actor is someone else", 403, "permission_denied"),
        ("stale", 400, "validation"),
        ("from the future", 400, "validation"),
        ("replayed", 409, "conflict"),
        ("a workspace kind", 400, "validation"),
        ("a workspace kind in capitals", 400, "validation"),
        ("a workspace kind with spaces", 400, "validation"),
        ("a bare workspace kind", 400, "validation"),
        ("not a body signature", 400, "validation"),
        ("a viewer", 403, "permission_denied"),
    ],
)
def test_bad_signed_entries_are_refused_and_write_nothing(
    client: TestClient,
    as_user: Headers,
    workspace: Workspace,
    case: str,
    status: int,
    code: str,
) -> None:
    ed, pat = _signer("ed"), _signer("pat")
    _register(client, as_user("ed"), ed)
    _register(client, as_user("pat"), pat)
    who = "ed"
    if case == "unregistered key":
        document = _signed(_signer("ed"))
    elif case == "another user's key":
        document = _signed(Signer("ed", pat.private_key))
    elif case == "revoked key":
        client.delete(f"/api/v1/me/keys/{ed.public_key_hex}", headers=as_user("ed"))
        document = _signed(ed)
    elif case == "tampered payload":
        document = _signed(ed, payload={"note": "looks wrong"})
    elif case == "actor is someone else":
        document, who = _signed(pat), "ed"  # pat's own valid entry, sent by ed
    elif case == "stale":
        body = EntryBody("0190a1b2-0000-7000-8000-000000000001", "review.approved", "ed",
                         "model:m1", {}, time.time() - 3600, ed.public_key_hex)  # fmt: skip
        document = {**body.fields(), "signature": ed.sign_body(body)}
    elif case == "from the future":
        body = EntryBody("0190a1b2-0000-7000-8000-000000000002", "review.approved", "ed",
                         "model:m1", {}, time.time() + 3600, ed.public_key_hex)  # fmt: skip
        document = {**body.fields(), "signature": ed.sign_body(body)}
    elif case == "replayed":
        document = _signed(ed)
        first = client.post("/api/v1/ledger/entries", json=document, headers=as_user("ed"))
        assert first.status_code == 201
    elif case == "a workspace kind":
        document = _signed(ed, kind="user.key_added")
    elif case == "a workspace kind in capitals":
        document = _signed(ed, kind="Run.finished")
    elif case == "a workspace kind with spaces":
        document = _signed(ed, kind=" run.finished")
    elif case == "a bare workspace kind":
        document = _signed(ed, kind="checkpoint")
    elif case == "not a body signature":
        document = _signed(ed, signature="ab" * 64)
    else:
        document, who = _signed(_signer("vera")), "vera"
    before = _ledger_size(workspace)
    answer = client.post("/api/v1/ledger/entries", json=document, headers=as_user(who))
    _refused(answer, status, code)
    assert _ledger_size(workspace) == before
    assert labledger.verify(workspace=workspace, blobs=False).ok


@pytest.mark.usefixtures("writers")
def test_revoking_a_key_keeps_what_it_signed_before_valid(
    client: TestClient, as_user: Headers, workspace: Workspace
) -> None:
    ed = _signer("ed")
    _register(client, as_user("ed"), ed)
    before = _signed(ed)
    assert (
        client.post("/api/v1/ledger/entries", json=before, headers=as_user("ed")).status_code == 201
    )
    client.delete(f"/api/v1/me/keys/{ed.public_key_hex}", headers=as_user("ed"))
    assert labledger.verify(workspace=workspace, blobs=False).ok
    # An entry the revoked key signed, slipped in after the revocation, fails verify.
    after = EntryBody.new("review.approved", subject="model:m1", payload={}, actor="ed",
                          key_id=ed.public_key_hex)  # fmt: skip
    with workspace.write() as conn:
        append_entry(conn, after.kind, subject=after.subject, payload=after.payload,
                     actor="ed", signer=ed)  # fmt: skip
    report = labledger.verify(workspace=workspace, blobs=False)
    assert not report.ok
    assert any("signature by ed" in p.reason for p in report.problems)


@pytest.mark.usefixtures("writers")
def test_verify_fails_when_a_user_signed_entry_is_edited_in_the_database(
    client: TestClient, as_user: Headers, workspace: Workspace
) -> None:
    ed = _signer("ed")
    _register(client, as_user("ed"), ed)
    document = _signed(ed)
    assert (
        client.post("/api/v1/ledger/entries", json=document, headers=as_user("ed")).status_code
        == 201
    )
    assert labledger.verify(workspace=workspace, blobs=False).ok
    # The payload is rewritten and the entry's hash made to match it (it is the head, so no
    # later entry names the old one): only the user's signature still tells.
    forged = {"note": "looks wrong"}
    fields = {k: document[k] for k in ("id", "kind", "actor", "subject", "created_at")}
    with workspace.write() as conn:
        prev = conn.execute(
            select(schema.ledger.c.prev_hash).where(schema.ledger.c.id == document["id"])
        ).scalar_one()
        conn.execute(
            update(schema.ledger)
            .where(schema.ledger.c.id == document["id"])
            .values(
                payload_json=canonical_text(forged),
                hash=entry_hash(prev, {**fields, "payload": forged}),
            )
        )
    report = labledger.verify(workspace=workspace, blobs=False)
    assert not report.ok
    reasons = [p.reason for p in report.problems if p.id == document["id"]]
    assert any("signature by ed is invalid" in r for r in reasons), report.problems


@pytest.mark.usefixtures("writers")
def test_verify_fails_when_a_user_signed_entry_loses_its_signature(
    client: TestClient, as_user: Headers, workspace: Workspace
) -> None:
    ed = _signer("ed")
    _register(client, as_user("ed"), ed)
    document = _signed(ed)
    assert (
        client.post("/api/v1/ledger/entries", json=document, headers=as_user("ed")).status_code
        == 201
    )
    with workspace.write() as conn:
        conn.execute(
            update(schema.ledger).where(schema.ledger.c.id == document["id"]).values(signature=None)
        )
    report = labledger.verify(workspace=workspace, blobs=False)
    assert any("it is unsigned, but ed signs" in p.reason for p in report.problems), report


@pytest.mark.usefixtures("writers")
def test_an_entry_nested_past_what_can_be_served_back_is_refused(
    client: TestClient, as_user: Headers, workspace: Workspace
) -> None:
    ed = _signer("ed")
    _register(client, as_user("ed"), ed)
    payload: dict[str, Any] = {"leaf": 1}
    for _ in range(449):
        payload = {"a": payload}
    body = EntryBody.new(
        "review.approved", subject="model:m1", payload=payload, actor="ed", key_id=ed.public_key_hex
    )
    document = {**body.fields(), "signature": ed.sign_body(body)}
    before = _ledger_size(workspace)
    answer = client.post("/api/v1/ledger/entries", json=document, headers=as_user("ed"))
    _refused(answer, 400, "validation")
    assert "nests more than 64 levels" in answer.json()["message"]
    assert _ledger_size(workspace) == before
    listed = client.get("/api/v1/ledger/entries", headers=as_user("ada"))
    assert listed.status_code == 200, listed.text
