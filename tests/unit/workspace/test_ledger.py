"""The ledger detects any edit, insertion or deletion, and names the entry where the chain breaks."""

from __future__ import annotations

import itertools
import time
from typing import TYPE_CHECKING, Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.pool import StaticPool

from labledger._foundation.canonical import canonical_text
from labledger._foundation.digests import digest_bytes
from labledger._foundation.ids import new_id
from labledger.workspace import schema
from labledger.workspace.keys import register_key
from labledger.workspace.ledger import (
    GENESIS_HASH,
    append_entry,
    count_entries,
    entry_hash,
    iter_entries,
    verify_chain,
)
from labledger.workspace.signing import generate_key, load_signer
from labledger.workspace.workspace import Workspace

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from labledger.workspace.signing import Signer


def _append(ws: Workspace, n: int, kind: str = "test.event") -> list[str]:
    ids = []
    with ws.write() as conn:
        for i in range(n):
            ids.append(ws.record(conn, kind, f"thing:{i}", {"i": i, "note": f"entry {i}"}).id)
    return ids


def _verify(ws: Workspace) -> tuple[int, list[Any]]:
    with ws.read() as conn:
        return verify_chain(conn)


def _sql(ws: Workspace, statement: str, **params: Any) -> None:
    with ws.catalog.writer.begin() as conn:
        conn.execute(sa.text(statement), params)


def _other_digest() -> str:
    return digest_bytes(new_id().encode())


# --- appending and reading -----------------------------------------------------------------------


def test_entries_chain_from_genesis(workspace: Workspace) -> None:
    ids = _append(workspace, 5)
    with workspace.read() as conn:
        entries = list(iter_entries(conn, kind="test.event"))
        assert count_entries(conn) >= 5
    assert [e.id for e in entries] == ids
    with workspace.read() as conn:
        everything = list(iter_entries(conn))
    assert everything[0].prev_hash == GENESIS_HASH
    for before, after in itertools.pairwise(everything):
        assert after.prev_hash == before.hash
        assert after.seq > before.seq
    assert _verify(workspace) == (len(everything), [])


def test_append_returns_what_is_stored(workspace: Workspace) -> None:
    with workspace.write() as conn:
        entry = workspace.record(
            conn, "run.started", "run:1", {"b": 1, "a": float("nan"), "t": (1, 2)}
        )
    with workspace.read() as conn:
        (stored,) = iter_entries(conn, subject="run:1")
    assert (stored.seq, stored.id, stored.hash, stored.prev_hash) == (
        entry.seq,
        entry.id,
        entry.hash,
        entry.prev_hash,
    )
    assert canonical_text(stored.payload) == canonical_text(entry.payload)
    assert stored.payload == {"a": "NaN", "b": 1, "t": [1, 2]}
    assert stored.actor == workspace.actor
    body = {
        "id": stored.id,
        "kind": stored.kind,
        "actor": stored.actor,
        "subject": stored.subject,
        "payload": stored.payload,
        "created_at": stored.created_at,
    }
    assert entry_hash(stored.prev_hash, body) == stored.hash


def test_iter_entries_pages_through_large_ledgers(workspace: Workspace) -> None:
    ids = _append(workspace, 25, kind="page.test")
    with workspace.read() as conn:
        assert [e.id for e in iter_entries(conn, kind="page.test", batch=4)] == ids
        assert [e.id for e in iter_entries(conn, subject="thing:3", batch=2)] == [ids[3]]


def test_entry_rolls_back_with_its_transaction(workspace: Workspace) -> None:
    with workspace.read() as conn:
        before = count_entries(conn)
    with pytest.raises(RuntimeError), workspace.write() as conn:
        workspace.record(conn, "test.event", "x", {})
        raise RuntimeError("the change fails")
    with workspace.read() as conn:
        assert count_entries(conn) == before
    assert _verify(workspace)[1] == []


# --- tampering -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("payload_json", '{"i":1,"note":"forged"}'),
        ("kind", "test.forged"),
        ("actor", "mallory"),
        ("subject", "thing:999"),
        ("created_at", 1.0),
        ("id", "01900000-0000-7000-8000-000000000000"),
        ("hash", None),
        ("prev_hash", None),
    ],
)
def test_editing_any_field_is_reported_by_entry_id(
    workspace: Workspace, column: str, value: Any
) -> None:
    ids = _append(workspace, 4)
    target = ids[1]
    value = _other_digest() if value is None else value
    _sql(workspace, f"UPDATE ledger SET {column} = :v WHERE id = :id", v=value, id=target)
    reported_as = value if column == "id" else target
    checked, problems = _verify(workspace)
    assert checked >= 4
    assert problems, f"editing {column} went unnoticed"
    assert reported_as in {p.entry_id for p in problems}
    first = problems[0]
    assert first.entry_id == reported_as
    assert first.reason


def test_editing_a_hash_also_breaks_the_next_link(workspace: Workspace) -> None:
    ids = _append(workspace, 3)
    _sql(workspace, "UPDATE ledger SET hash = :v WHERE id = :id", v=_other_digest(), id=ids[1])
    reported = {p.entry_id for p in _verify(workspace)[1]}
    assert {ids[1], ids[2]} <= reported
    assert ids[0] not in reported


def test_rewriting_an_entry_with_a_consistent_hash_breaks_the_next_link(
    workspace: Workspace,
) -> None:
    ids = _append(workspace, 3)
    with workspace.read() as conn:
        entry = next(e for e in iter_entries(conn) if e.id == ids[1])
    payload = {"i": 1, "note": "rewritten"}
    body = {
        "id": entry.id,
        "kind": entry.kind,
        "actor": entry.actor,
        "subject": entry.subject,
        "payload": payload,
        "created_at": entry.created_at,
    }
    _sql(
        workspace,
        "UPDATE ledger SET payload_json = :p, hash = :h WHERE id = :id",
        p=canonical_text(payload),
        h=entry_hash(entry.prev_hash, body),
        id=entry.id,
    )
    problems = _verify(workspace)[1]
    assert [p.entry_id for p in problems] == [ids[2]]
    assert "previous hash" in problems[0].reason


def test_deleting_a_middle_entry_is_detected(workspace: Workspace) -> None:
    ids = _append(workspace, 5)
    _sql(workspace, "DELETE FROM ledger WHERE id = :id", id=ids[2])
    problems = _verify(workspace)[1]
    assert [p.entry_id for p in problems] == [ids[3]]
    assert "#3 is missing before it" in problems[0].reason


def test_a_forged_entry_is_detected(workspace: Workspace) -> None:
    _append(workspace, 3)
    with workspace.read() as conn:
        head = list(iter_entries(conn))[-1]
    forged_id = new_id()
    _sql(
        workspace,
        "INSERT INTO ledger (id, kind, actor, subject, payload_json, created_at, prev_hash, hash)"
        " VALUES (:id, 'model.approved', 'mallory', 'model:x', '{}', :t, :prev, :hash)",
        id=forged_id,
        t=time.time(),
        prev=head.hash,
        hash=_other_digest(),
    )
    problems = _verify(workspace)[1]
    assert [p.entry_id for p in problems] == [forged_id]
    assert "content" in problems[0].reason


def test_a_forged_entry_spliced_into_the_middle_is_detected(workspace: Workspace) -> None:
    ids = _append(workspace, 4)
    with workspace.read() as conn:
        entries = {e.id: e for e in iter_entries(conn)}
    # Make room in the sequence, then splice a forged entry right after ids[1].
    _sql(workspace, "UPDATE ledger SET seq = seq + 1000 WHERE seq > :s", s=entries[ids[1]].seq)
    forged_id = new_id()
    body = {
        "id": forged_id,
        "kind": "x",
        "actor": "m",
        "subject": "s",
        "payload": {},
        "created_at": 1.0,
    }
    # Its prev_hash cannot repeat ids[2]'s (UNIQUE), so the forger leaves ids[2] dangling.
    prev = _other_digest()
    _sql(
        workspace,
        "INSERT INTO ledger (seq, id, kind, actor, subject, payload_json, created_at, prev_hash, hash)"
        " VALUES (:seq, :id, 'x', 'm', 's', '{}', 1.0, :prev, :hash)",
        seq=entries[ids[1]].seq + 1,
        id=forged_id,
        prev=prev,
        hash=entry_hash(prev, body),
    )
    reported = [p.entry_id for p in _verify(workspace)[1]]
    assert forged_id in reported
    assert ids[2] in reported


def test_unique_prev_hash_prevents_a_fork(workspace: Workspace) -> None:
    _append(workspace, 2)
    with workspace.read() as conn:
        head = list(iter_entries(conn))[-1]
    with pytest.raises(sa.exc.IntegrityError):
        _sql(
            workspace,
            "INSERT INTO ledger (id, kind, actor, subject, payload_json, created_at, prev_hash, hash)"
            " VALUES (:id, 'fork', 'a', 's', '{}', 1.0, :prev, :hash)",
            id=new_id(),
            prev=head.prev_hash,
            hash=_other_digest(),
        )
    assert _verify(workspace)[1] == []


# --- signatures ----------------------------------------------------------------------------------


@pytest.fixture
def signer(tmp_path: Path) -> Signer:
    path = tmp_path / "keys" / "alice.pem"
    generate_key(path)
    return load_signer(path, "alice")


@pytest.fixture
def signed_workspace(tmp_path: Path, signer: Signer) -> Iterator[Workspace]:
    ws = Workspace.init(tmp_path / "signed", actor="alice")
    ws.signer = signer
    register_key(ws, "alice", signer.public_key_hex)
    try:
        yield ws
    finally:
        ws.close()


def test_signed_entries_verify(signed_workspace: Workspace) -> None:
    ids = _append(signed_workspace, 3)
    with signed_workspace.read() as conn:
        entries = [e for e in iter_entries(conn) if e.id in ids]
    # Body signatures, in the 128 characters the column holds.
    assert all(e.signature and e.signature.startswith("v2:") for e in entries)
    assert all(e.signature and len(e.signature) <= 128 for e in entries)
    assert _verify(signed_workspace)[1] == []


def test_signing_key_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, signer: Signer
) -> None:
    key = tmp_path / "keys" / "alice.pem"
    monkeypatch.setenv("LABLEDGER_SIGNING_KEY", str(key))
    monkeypatch.setenv("LABLEDGER_USER", "alice")
    with Workspace.init(tmp_path / "env") as ws:
        assert ws.actor == "alice"
        assert ws.signer is not None
        assert ws.signer.public_key_hex == signer.public_key_hex
        entry = _append(ws, 1)[0]
        with ws.read() as conn:
            (stored,) = [e for e in iter_entries(conn) if e.id == entry]
        assert stored.signature is not None


def test_tampered_signature_fails(signed_workspace: Workspace) -> None:
    ids = _append(signed_workspace, 3)
    with signed_workspace.read() as conn:
        signature = next(e.signature for e in iter_entries(conn) if e.id == ids[1])
    assert signature is not None
    flipped = ("1" if signature[0] == "0" else "0") + signature[1:]
    _sql(signed_workspace, "UPDATE ledger SET signature = :s WHERE id = :id", s=flipped, id=ids[1])
    problems = _verify(signed_workspace)[1]
    assert [p.entry_id for p in problems] == [ids[1]]
    assert "signature" in problems[0].reason
    _sql(signed_workspace, "UPDATE ledger SET signature = 'not hex' WHERE id = :id", id=ids[1])
    assert [p.entry_id for p in _verify(signed_workspace)[1]] == [ids[1]]


def test_the_catalog_key_table_is_only_a_hint(signed_workspace: Workspace, tmp_path: Path) -> None:
    ids = _append(signed_workspace, 2)
    generate_key(tmp_path / "other.pem")
    other = load_signer(tmp_path / "other.pem", "alice")
    # Replacing or deleting the table's key changes nothing: keys come from the ledger.
    _sql(
        signed_workspace,
        "UPDATE ledger_keys SET public_key = :k WHERE actor = 'alice'",
        k=other.public_key_hex,
    )
    assert _verify(signed_workspace)[1] == []
    _sql(signed_workspace, "DELETE FROM ledger_keys")
    assert _verify(signed_workspace)[1] == []
    # Signing with another key than the registered one fails, whatever the table says.
    signed_workspace.signer = other
    more = _append(signed_workspace, 1)
    assert {p.entry_id for p in _verify(signed_workspace)[1]} == set(more)
    assert set(ids).isdisjoint(p.entry_id for p in _verify(signed_workspace)[1])


def test_entries_of_other_actors_are_not_signed_with_alices_key(
    signed_workspace: Workspace,
) -> None:
    with signed_workspace.write() as conn:
        entry = append_entry(
            conn, "x", subject="s", payload={}, actor="bob", signer=signed_workspace.signer
        )
    assert entry.signature is None
    assert _verify(signed_workspace)[1] == []


# --- property: any single-field edit is detected -------------------------------------------------

_FIELDS = ["payload_json", "kind", "actor", "subject", "created_at", "hash", "prev_hash", "id"]
_payloads = st.dictionaries(
    st.text(max_size=5),
    st.integers() | st.text(max_size=8) | st.floats(allow_nan=False),
    max_size=3,
)


def _memory_ledger() -> sa.Engine:
    engine = sa.create_engine("sqlite://", poolclass=StaticPool)
    schema.metadata.create_all(engine, tables=[schema.ledger, schema.ledger_keys])
    return engine


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    entries=st.lists(
        st.tuples(st.sampled_from(["run.started", "run.finished", "artifact.produced"]), _payloads),
        min_size=1,
        max_size=8,
    ),
    data=st.data(),
)
def test_any_single_field_edit_is_detected(
    entries: list[tuple[str, dict[str, Any]]], data: Any
) -> None:
    engine = _memory_ledger()
    try:
        with engine.begin() as conn:
            stored = [
                append_entry(conn, kind, subject=f"s:{i}", payload=payload, actor="alice")
                for i, (kind, payload) in enumerate(entries)
            ]
        target = data.draw(st.sampled_from(stored))
        column = data.draw(st.sampled_from(_FIELDS))
        old: Any = target.payload if column == "payload_json" else getattr(target, column)
        if column == "payload_json":
            new = data.draw(_payloads.filter(lambda p: canonical_text(p) != canonical_text(old)))
            value: Any = canonical_text(new)
        elif column == "created_at":
            value = data.draw(
                st.floats(allow_nan=False, allow_infinity=False).filter(lambda f: f != old)
            )
        elif column in ("hash", "prev_hash"):
            value = _other_digest()
        elif column == "id":
            value = new_id()
        else:
            value = data.draw(st.text(min_size=1, max_size=20).filter(lambda t: t != old))
        with engine.begin() as conn:
            conn.execute(
                sa.text(f"UPDATE ledger SET {column} = :v WHERE id = :id"),
                {"v": value, "id": target.id},
            )
        with engine.connect() as conn:
            checked, problems = verify_chain(conn)
        assert checked == len(entries)
        assert problems, f"editing {column} of entry {target.seq} went unnoticed"
        expected_id = value if column == "id" else target.id
        assert problems[0].entry_id == expected_id
    finally:
        engine.dispose()
