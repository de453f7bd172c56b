"""Body signatures: an entry signed before its place in the chain is known, chained afterwards,
checked against the ledger's own key history; legacy chained-hash signatures keep verifying."""

from __future__ import annotations

import base64
import dataclasses
import json
import sqlite3
import time
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import labledger
from labledger._foundation.errors import ConflictError, PermissionDeniedError, ValidationError
from labledger.cli import app
from labledger.workspace.keys import create_signing_key, register_key, revoke_key, rotate_key
from labledger.workspace.keys import trusted_keys as export_keys
from labledger.workspace.ledger import append_entry, entry_hash, iter_entries, verify_chain
from labledger.workspace.proofs import check_proof, make_proof
from labledger.workspace.signed_entries import MAX_CLOCK_SKEW, append_signed_entry
from labledger.workspace.signing import (
    EntryBody,
    Signer,
    body_message,
    body_signature_is_valid,
    entry_signature_is_valid,
    generate_key,
    load_signer,
)
from labledger.workspace.trusted_keys import TrustedKey, trusted_keys_document
from labledger.workspace.workspace import Workspace

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from labledger.workspace.ledger import LedgerEntry


def _signer(tmp_path: Path, actor: str, name: str | None = None) -> Signer:
    path = tmp_path / "keys" / f"{name or actor}.pem"
    generate_key(path)
    return load_signer(path, actor)


@pytest.fixture
def alice(tmp_path: Path) -> Signer:
    return _signer(tmp_path, "alice")


@pytest.fixture
def bob(tmp_path: Path) -> Signer:
    return _signer(tmp_path, "bob")


@pytest.fixture
def ws(tmp_path: Path, alice: Signer, bob: Signer) -> Iterator[Workspace]:
    """A workspace where alice and bob registered their keys; it writes as the server, unsigned."""
    workspace = Workspace.init(tmp_path / "ws", actor="server")
    try:
        for signer in (alice, bob):
            register_key(workspace, signer.actor, signer.public_key_hex, signer=signer)
        yield workspace
    finally:
        workspace.close()


def _body(signer: Signer, **changes: Any) -> EntryBody:
    body = EntryBody.new(
        "model.approved",
        subject="model:churn",
        payload={"version": 3, "note": "ok"},
        actor=signer.actor,
        key_id=signer.public_key_hex,
    )
    return dataclasses.replace(body, **changes)


def _append(ws: Workspace, body: EntryBody, signature: str) -> LedgerEntry:
    with ws.write() as conn:
        return append_signed_entry(conn, body, signature)


def _problems(ws: Workspace) -> list[tuple[str, str]]:
    with ws.read() as conn:
        return [(p.entry_id, p.reason) for p in verify_chain(conn)[1]]


def _entries(ws: Workspace) -> list[LedgerEntry]:
    with ws.read() as conn:
        return list(iter_entries(conn))


def _db(ws: Workspace) -> sqlite3.Connection:
    assert ws.settings.root is not None
    return sqlite3.connect(ws.settings.root / "catalog.db")


def _rewrite(ws: Workspace, entry_id: str, **columns: Any) -> None:
    """What someone who can write the catalog does: edit a row, then re-hash the whole chain."""
    db = _db(ws)
    for column, value in columns.items():
        db.execute(f"UPDATE ledger SET {column} = ? WHERE id = ?", (value, entry_id))
    prev = "blake3:" + "0" * 64
    rows = db.execute(
        "SELECT id, kind, actor, subject, payload_json, created_at FROM ledger ORDER BY seq"
    ).fetchall()
    for id_, kind, actor, subject, payload, created_at in rows:
        body = {
            "id": id_,
            "kind": kind,
            "actor": actor,
            "subject": subject,
            "payload": json.loads(payload),
            "created_at": created_at,
        }
        hash_ = entry_hash(prev, body)
        db.execute("UPDATE ledger SET prev_hash = ?, hash = ? WHERE id = ?", (prev, hash_, id_))
        prev = hash_
    db.commit()
    db.close()


# --- signing first, chaining later ----------------------------------------------------------------


def test_a_body_signed_before_others_write_is_chained_later_and_verifies(
    ws: Workspace, alice: Signer
) -> None:
    body = _body(alice)
    signature = alice.sign_body(body)
    assert signature.startswith("v2:") and len(signature) <= 128  # fits the signature column
    # Meanwhile another writer (another process on the same workspace) extends the chain.
    with Workspace.open(ws.settings.root, actor="carol") as other, other.write() as conn:
        for i in range(3):
            other.record(conn, "note", f"thing:{i}", {"i": i})
    entry = _append(ws, body, signature)
    last = _entries(ws)[-1]
    assert (last.id, last.seq, last.signature) == (body.id, entry.seq, signature)
    assert (last.kind, last.actor, last.subject, last.payload) == (
        body.kind,
        body.actor,
        body.subject,
        body.payload,
    )
    assert last.created_at == body.created_at
    assert _problems(ws) == []


def test_local_writes_sign_the_body(ws: Workspace, alice: Signer) -> None:
    with ws.write() as conn:
        entry = append_entry(conn, "note", subject="s", payload={"x": [1.5, None]}, actor="alice",
                             signer=alice)  # fmt: skip
    assert entry.signature is not None and entry.signature.startswith("v2:")
    body = EntryBody(
        entry.id, "note", "alice", "s", {"x": [1.5, None]}, entry.created_at, alice.public_key_hex
    )
    assert body_signature_is_valid(body, entry.signature)
    assert _problems(ws) == []


_TAMPERED = {
    "kind": "model.rejected",
    "actor": "bob",
    "subject": "model:other",
    "payload": {"version": 4, "note": "ok"},
    "created_at": 1.0,
    "id": "01900000-0000-7000-8000-000000000000",
}


@pytest.mark.parametrize("field", sorted(_TAMPERED))
def test_each_body_field_is_bound_by_the_signature(
    ws: Workspace, alice: Signer, bob: Signer, field: str
) -> None:
    body = _body(alice)
    signature = alice.sign_body(body)
    forged = dataclasses.replace(body, **{field: _TAMPERED[field]})
    assert not body_signature_is_valid(forged, signature)
    # In the ledger: the row is edited and the chain re-hashed, so only the signature can tell.
    _append(ws, body, signature)
    value = _TAMPERED[field]
    column = {"payload": "payload_json"}.get(field, field)
    _rewrite(ws, body.id, **{column: json.dumps(value) if field == "payload" else value})
    entry_id = body.id if field != "id" else _TAMPERED["id"]
    problems = _problems(ws)
    assert [p[0] for p in problems] == [entry_id]
    assert "signature by" in problems[0][1]


def test_a_signature_names_its_key_and_moves_to_no_other_entry(
    ws: Workspace, alice: Signer, bob: Signer
) -> None:
    body = _body(alice)
    signature = alice.sign_body(body)
    # Claiming another key id: the signature no longer holds for either key.
    claimed = dataclasses.replace(body, key_id=bob.public_key_hex)
    assert not body_signature_is_valid(claimed, signature)
    fields = dataclasses.asdict(body)
    assert entry_signature_is_valid(alice.public_key_hex, signature, chained_hash="", fields=fields)
    assert not entry_signature_is_valid(
        bob.public_key_hex, signature, chained_hash="", fields=fields
    )
    # Moving it to another entry of alice's.
    first = _append(ws, body, signature)
    second_body = _body(alice)
    second = _append(ws, second_body, alice.sign_body(second_body))
    db = _db(ws)
    db.execute("UPDATE ledger SET signature = ? WHERE id = ?", (first.signature, second.id))
    db.commit()
    db.close()
    assert [p[0] for p in _problems(ws)] == [second.id]


def test_a_body_signature_cannot_pass_as_a_chained_hash_one(ws: Workspace, alice: Signer) -> None:
    """Downgrade: respelling a body signature as legacy hex makes it a signature of nothing."""
    body = _body(alice)
    signature = alice.sign_body(body)
    entry = _append(ws, body, signature)
    raw = base64.urlsafe_b64decode(signature[3:] + "==")
    db = _db(ws)
    db.execute("UPDATE ledger SET signature = ? WHERE id = ?", (raw.hex(), entry.id))
    db.commit()
    db.close()
    assert [p[0] for p in _problems(ws)] == [entry.id]
    with pytest.raises(ValidationError, match="body signature"):
        _append(ws, _body(alice), alice.sign(entry.hash))


# --- what append_signed_entry refuses -------------------------------------------------------------


def test_a_key_nobody_registered_is_refused(ws: Workspace, tmp_path: Path) -> None:
    carol = _signer(tmp_path, "carol")
    body = _body(carol)
    with pytest.raises(PermissionDeniedError, match="not registered for carol") as caught:
        _append(ws, body, carol.sign_body(body))
    assert caught.value.hint
    # A second key for alice, registered nowhere, neither.
    mallory = _signer(tmp_path, "alice", "mallory")
    body = _body(mallory)
    with pytest.raises(PermissionDeniedError, match="not registered for alice"):
        _append(ws, body, mallory.sign_body(body))
    assert _entries(ws)[-1].kind == "key.registered"  # nothing was written


def test_another_actors_key_is_refused(ws: Workspace, alice: Signer, bob: Signer) -> None:
    # Bob signs a body in alice's name with his own (registered) key.
    body = _body(alice, key_id=bob.public_key_hex)
    raw = bob.private_key.sign(body_message(body))
    signature = "v2:" + base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
    with pytest.raises(PermissionDeniedError, match="belongs to bob, not alice"):
        _append(ws, body, signature)
    with pytest.raises(ValidationError, match="cannot be signed"):
        bob.sign_body(_body(alice))


def test_a_bad_signature_is_refused(ws: Workspace, alice: Signer, bob: Signer) -> None:
    body = _body(alice)
    signature = alice.sign_body(body)
    flipped = signature[:10] + ("A" if signature[10] != "A" else "B") + signature[11:]
    for bad in (flipped, alice.sign_body(_body(alice)), "v2:" + "A" * 86, "v2:not base64"):
        with pytest.raises(PermissionDeniedError, match="invalid"):
            _append(ws, body, bad)
    with pytest.raises(PermissionDeniedError, match="invalid"):
        _append(ws, dataclasses.replace(body, payload={"version": 4}), signature)
    assert body.id not in {e.id for e in _entries(ws)}


def test_revoked_and_rotated_out_keys_are_refused(tmp_path: Path, alice: Signer) -> None:
    with Workspace.init(tmp_path / "rot", actor="alice") as ws:
        ws.signer = alice
        register_key(ws, "alice", alice.public_key_hex, signer=alice)
        old = alice
        rotate_key(ws, tmp_path / "keys" / "alice-2.pem")  # signed (v2) by the old key
        new = load_signer(tmp_path / "keys" / "alice-2.pem", "alice")
        body = _body(old)
        with pytest.raises(PermissionDeniedError, match="revoked or rotated out"):
            _append(ws, body, old.sign_body(body))
        body = _body(new)
        _append(ws, body, new.sign_body(body))
        revoke_key(ws, "alice", new.public_key_hex, "laptop lost")  # signed (v2) by the new key
        body = _body(new)
        with pytest.raises(PermissionDeniedError, match="revoked"):
            _append(ws, body, new.sign_body(body))
        kinds = [
            (e.kind, (e.signature or "")[:3]) for e in _entries(ws) if e.kind.startswith("key")
        ]
        assert kinds == [("key.registered", "v2:"), ("key.rotated", "v2:"), ("key.revoked", "v2:")]
        assert _problems(ws) == []


def test_a_body_is_chained_once_and_only_near_its_time(ws: Workspace, alice: Signer) -> None:
    body = _body(alice)
    signature = alice.sign_body(body)
    _append(ws, body, signature)
    with pytest.raises(ConflictError, match=r"holds entry .* already"):
        _append(ws, body, signature)
    for offset in (-MAX_CLOCK_SKEW - 1, MAX_CLOCK_SKEW + 1, -86_400.0):
        stale = _body(alice, created_at=time.time() + offset)
        with pytest.raises(ValidationError, match="within 300 s"):
            _append(ws, stale, alice.sign_body(stale))
    near = _body(alice, created_at=time.time() - MAX_CLOCK_SKEW + 5)
    _append(ws, near, alice.sign_body(near))
    with ws.write() as conn:  # the ledger's clock decides
        late = _body(alice)
        with pytest.raises(ValidationError, match="within 300 s"):
            append_signed_entry(conn, late, alice.sign_body(late), now=late.created_at + 600)
    assert _problems(ws) == []


def test_a_client_registers_its_own_key_with_a_signed_body(ws: Workspace, tmp_path: Path) -> None:
    carol = _signer(tmp_path, "carol")
    payload = {"actor": "carol", "public_key": carol.public_key_hex}
    registration = _body(carol, kind="key.registered", subject="key:carol", payload=payload)
    _append(ws, registration, carol.sign_body(registration))
    body = _body(carol)
    _append(ws, body, carol.sign_body(body))
    assert _problems(ws) == []
    # A second registration for an actor who has a key is refused, as verify would report it.
    mallory = _signer(tmp_path, "carol", "mallory")
    payload = {"actor": "carol", "public_key": mallory.public_key_hex}
    again = _body(mallory, kind="key.registered", subject="key:carol", payload=payload)
    with pytest.raises(PermissionDeniedError, match="registers another key for carol"):
        _append(ws, again, mallory.sign_body(again))


# --- legacy signatures ----------------------------------------------------------------------------


def test_chained_hash_signatures_written_earlier_still_verify(ws: Workspace, alice: Signer) -> None:
    """Entries signed by the former scheme (over the chained hash) sit beside body-signed ones."""
    legacy = []
    with ws.write() as conn:
        for i in range(3):
            entry = append_entry(conn, "note", subject=f"s:{i}", payload={"i": i}, actor="alice")
            legacy.append((entry.id, alice.sign(entry.hash)))
    db = _db(ws)
    db.executemany("UPDATE ledger SET signature = ? WHERE id = ?", [(s, i) for i, s in legacy])
    db.commit()
    db.close()
    body = _body(alice)
    _append(ws, body, alice.sign_body(body))
    stored = {e.id: e.signature for e in _entries(ws)}
    assert all(len(stored[i] or "") == 128 for i, _ in legacy)
    assert _problems(ws) == []
    # A legacy signature is still bound to its entry: an edit shows even after a re-hash. It also
    # binds the entry's place, so the re-hash breaks the legacy signatures after it; the body
    # signature, bound to the body alone, still holds.
    _rewrite(ws, legacy[1][0], subject="s:forged")
    assert [p[0] for p in _problems(ws)] == [legacy[1][0], legacy[2][0]]


# --- inclusion proofs -----------------------------------------------------------------------------


def test_proofs_of_body_signed_entries_hold_offline_and_fail_when_tampered(
    tmp_path: Path,
) -> None:
    with Workspace.init(tmp_path / "proofs", actor="alice") as ws:
        create_signing_key(ws, actor="alice", path=tmp_path / "keys" / "alice.pem")
        ws.signer = load_signer(tmp_path / "keys" / "alice.pem", "alice")
        with labledger.start_run("signed", workspace=ws) as run:
            run.log_metric("auc", 0.9)
            run.log_artifact({"w": [1]}, name="model.json")
        document = make_proof(ws, "model.json")
        trusted = export_keys(ws)
    assert document["entry"]["signature"].startswith("v2:")
    check = check_proof(document, trusted=trusted)
    assert check.ok, check.problems
    assert "the entry is signed by a trusted key of alice" in check.notes
    other = _signer(tmp_path, "alice", "other")
    stranger = [k for k in trusted if k.actor != "alice"] + [
        TrustedKey("alice", other.public_key_hex, None)
    ]
    assert "not by a trusted key of alice" in "\n".join(
        check_proof(document, trusted=stranger).problems
    )
    signature = document["entry"]["signature"]
    edits = {
        "signature": lambda d: d["entry"].update(signature=_flip(signature, 10)),
        "legacy spelling": lambda d: d["entry"].update(signature="00" * 64),
        "leaf": lambda d: d["entry"].update(leaf=d["entry"]["leaf"].replace("model.json", "m.js")),
    }
    for name, edit in edits.items():
        forged = json.loads(json.dumps(document))
        edit(forged)
        assert not check_proof(forged, trusted=trusted).ok, name
    # The command does the same.
    keys_file = tmp_path / "trusted.json"
    keys_file.write_text(trusted_keys_document(trusted))
    proof_file = tmp_path / "proof.json"
    proof_file.write_text(json.dumps(document))
    runner = CliRunner()
    command = ["verify-proof", str(proof_file), "--trusted-keys", str(keys_file)]
    result = runner.invoke(app, command)
    assert result.exit_code == 0, result.output
    assert "signed by a trusted key of alice" in result.output
    document["entry"]["signature"] = _flip(signature, 10)
    proof_file.write_text(json.dumps(document))
    result = runner.invoke(app, command)
    assert result.exit_code == 1, result.output
    assert "not by a trusted key of alice" in result.output


# --- property -------------------------------------------------------------------------------------

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)
_text = st.text(min_size=1, max_size=30)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    kind=_text,
    subject=_text,
    payload=st.dictionaries(st.text(), _json, max_size=4),
    created_at=st.floats(min_value=0, max_value=4e9),
    field=st.sampled_from(["id", "kind", "actor", "subject", "payload", "created_at", "key_id"]),
)
def test_a_body_signature_holds_for_its_body_alone(
    alice: Signer,
    bob: Signer,
    kind: str,
    subject: str,
    payload: dict[str, Any],
    created_at: float,
    field: str,
) -> None:
    body = EntryBody("01900000-0000-7000-8000-00000000000a", kind, "alice", subject, payload,
                     created_at, alice.public_key_hex)  # fmt: skip
    signature = alice.sign_body(body)
    assert body_signature_is_valid(body, signature)
    # As stored and read back: the payload through its JSON text, the time as a float.
    stored = dataclasses.asdict(body) | {"payload": json.loads(json.dumps(payload))}
    assert entry_signature_is_valid(alice.public_key_hex, signature, chained_hash="", fields=stored)
    changed = {
        "id": "01900000-0000-7000-8000-00000000000b",
        "kind": kind + "x",
        "actor": "bob",
        "subject": subject + "x",
        "payload": {**payload, "extra": 1},
        "created_at": created_at + 1.0,
        "key_id": bob.public_key_hex,
    }[field]
    assert not body_signature_is_valid(dataclasses.replace(body, **{field: changed}), signature)


def _flip(text: str, at: int) -> str:
    """``text`` with one character changed (to another base64url character, never the same)."""
    return text[:at] + ("B" if text[at] == "A" else "A") + text[at + 1 :]
