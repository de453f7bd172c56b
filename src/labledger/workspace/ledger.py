"""The ledger: an append-only, hash-chained journal of significant events.

Each entry's hash is ``blake3(prev_hash || canonical_json(body))`` where the body holds the entry's id,
kind, actor, subject, payload and time. Editing, inserting or deleting any entry breaks the chain
from that point on, which ``verify_chain`` reports by entry id. Entries are appended inside the same
transaction as the change they record, so the two commit or vanish together.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select, text

from labledger._foundation.canonical import canonical_json, canonical_text
from labledger._foundation.digests import digest_bytes
from labledger._foundation.ids import new_id
from labledger.workspace import schema
from labledger.workspace.signing import signature_is_valid
from labledger.workspace.sqlite_driver import driver_connection, insert_sql

if TYPE_CHECKING:
    from collections.abc import Iterator

    from sqlalchemy import Connection

    from labledger.workspace.signing import Signer

__all__ = [
    "GENESIS_HASH",
    "ChainProblem",
    "LedgerEntry",
    "append_entry",
    "entry_hash",
    "iter_entries",
    "verify_chain",
]

GENESIS_HASH = "blake3:" + "0" * 64
# Any constant serialises ledger appends across PostgreSQL sessions.
_PG_LOCK_KEY = 0x6C61626C
# Built once: constructing statements costs more than running them on the hot path.
_PG_LOCK = text("SELECT pg_advisory_xact_lock(:key)")
_HEAD = select(schema.ledger.c.hash).order_by(schema.ledger.c.seq.desc()).limit(1)
_INSERT = schema.ledger.insert().returning(schema.ledger.c.seq)
_COLUMNS = (
    "id",
    "kind",
    "actor",
    "subject",
    "payload_json",
    "created_at",
    "prev_hash",
    "hash",
    "signature",
)
_SQLITE_HEAD = "SELECT hash FROM ledger ORDER BY seq DESC LIMIT 1"
_SQLITE_INSERT = insert_sql(schema.ledger, _COLUMNS)


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """One ledger entry as stored."""

    seq: int
    id: str
    kind: str
    actor: str
    subject: str
    payload: dict[str, Any]
    created_at: float
    prev_hash: str
    hash: str
    signature: str | None


@dataclass(frozen=True, slots=True)
class ChainProblem:
    """A ledger entry that fails verification, and why."""

    entry_id: str
    seq: int
    reason: str


def entry_hash(prev_hash: str, body: dict[str, Any]) -> str:
    """The chained hash of an entry body following ``prev_hash``."""
    return digest_bytes(prev_hash.encode("ascii") + canonical_json(body))


def _body(
    id_: str, kind: str, actor: str, subject: str, payload: Any, created_at: float
) -> dict[str, Any]:
    return {
        "id": id_,
        "kind": kind,
        "actor": actor,
        "subject": subject,
        "payload": payload,
        "created_at": created_at,
    }


def append_entry(
    conn: Connection,
    kind: str,
    *,
    subject: str,
    payload: dict[str, Any],
    actor: str,
    signer: Signer | None = None,
) -> LedgerEntry:
    """Append an entry inside the caller's write transaction and return it."""
    db = driver_connection(conn)
    if db is not None:
        # SQLite write transactions begin IMMEDIATE: nobody else can extend the head meanwhile.
        row = db.execute(_SQLITE_HEAD).fetchone()
        head = row[0] if row is not None else None
    else:
        if conn.dialect.name == "postgresql":
            conn.execute(_PG_LOCK, {"key": _PG_LOCK_KEY})
        head = conn.execute(_HEAD).scalar()
    prev = head or GENESIS_HASH
    id_ = new_id()
    created_at = time.time()
    payload_text = canonical_text(payload)
    # The body holds the payload itself: its canonical form is payload_text either way.
    body = _body(id_, kind, actor, subject, payload, created_at)
    hash_ = entry_hash(prev, body)
    signature = signer.sign(hash_) if signer is not None and signer.actor == actor else None
    values = (id_, kind, actor, subject, payload_text, created_at, prev, hash_, signature)
    if db is not None:
        rowid = db.execute(_SQLITE_INSERT, values).lastrowid
        assert rowid is not None  # seq is the rowid, which every INSERT sets
        seq = rowid
    else:
        seq = conn.execute(_INSERT, dict(zip(_COLUMNS, values, strict=True))).scalar_one()
    return LedgerEntry(
        seq, id_, kind, actor, subject, body["payload"], created_at, prev, hash_, signature
    )


def iter_entries(
    conn: Connection, *, subject: str | None = None, kind: str | None = None, batch: int = 5000
) -> Iterator[LedgerEntry]:
    """Entries in append order, optionally only those about ``subject`` or of ``kind``."""
    table = schema.ledger
    last = 0
    while True:
        query = select(table).where(table.c.seq > last).order_by(table.c.seq).limit(batch)
        if subject is not None:
            query = query.where(table.c.subject == subject)
        if kind is not None:
            query = query.where(table.c.kind == kind)
        rows = conn.execute(query).all()
        for row in rows:
            yield LedgerEntry(
                row.seq,
                row.id,
                row.kind,
                row.actor,
                row.subject,
                json.loads(row.payload_json),
                row.created_at,
                row.prev_hash,
                row.hash,
                row.signature,
            )
        if len(rows) < batch:
            return
        last = rows[-1].seq


def count_entries(conn: Connection) -> int:
    """How many entries the ledger holds."""
    return int(conn.execute(select(func.count()).select_from(schema.ledger)).scalar_one())


def verify_chain(conn: Connection) -> tuple[int, list[ChainProblem]]:
    """Re-walk the whole chain; return (entries checked, problems in order)."""
    keys = {row.actor: row.public_key for row in conn.execute(select(schema.ledger_keys))}
    problems: list[ChainProblem] = []
    # Actors whose key registration has been seen: their later entries must be signed.
    signing_actors: set[str] = set()
    expected_prev = GENESIS_HASH
    checked = 0
    for entry in iter_entries(conn):
        checked += 1
        body = _body(
            entry.id, entry.kind, entry.actor, entry.subject, entry.payload, entry.created_at
        )
        if entry.prev_hash != expected_prev:
            problems.append(
                ChainProblem(
                    entry.id, entry.seq, "its previous hash does not match the entry before it"
                )
            )
        if entry_hash(entry.prev_hash, body) != entry.hash:
            problems.append(
                ChainProblem(entry.id, entry.seq, "its content does not match its hash")
            )
        if entry.signature is None and entry.actor in signing_actors:
            problems.append(
                ChainProblem(
                    entry.id,
                    entry.seq,
                    f"it is unsigned, but {entry.actor} signs every entry since registering a key",
                )
            )
        if entry.kind == "key.registered":
            signing_actors.add(str(entry.payload.get("actor")))
        if entry.signature is not None:
            public = keys.get(entry.actor)
            if public is None or not signature_is_valid(public, entry.hash, entry.signature):
                problems.append(
                    ChainProblem(entry.id, entry.seq, f"its signature by {entry.actor} is invalid")
                )
        expected_prev = entry.hash
    return checked, problems
