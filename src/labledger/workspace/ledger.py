"""The ledger: an append-only, hash-chained journal of significant events.

Each entry's hash is ``blake3(prev_hash || canonical_json(body))`` where the body holds the entry's id,
kind, actor, subject, payload and time. Editing, inserting or deleting any entry breaks the chain
from that point on, which ``verify_chain`` reports by entry id. Entries are appended inside the same
transaction as the change they record, so the two commit or vanish together.

A signature covers the entry's body and the signing key's id, not its place in the chain (see
``signing``): ``append_entry`` signs locally, and ``signed_entries.append_signed_entry`` chains a body
someone signed before knowing where it would go.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select, text

from labledger._foundation.canonical import canonical_json, canonical_text
from labledger._foundation.digests import digest_bytes
from labledger._foundation.ids import new_id
from labledger._foundation.json_input import require_shallow
from labledger.stores.ledger import LedgerEntry
from labledger.workspace import schema
from labledger.workspace.key_history import KeyHistory
from labledger.workspace.merkle import RootBuilder, leaf_hash
from labledger.workspace.signing import EntryBody
from labledger.workspace.sqlite_driver import driver_connection, insert_sql

if TYPE_CHECKING:
    import sqlite3
    from collections.abc import Callable, Iterable, Iterator, Sequence

    from sqlalchemy import Connection

    from labledger.workspace.signing import Signer
    from labledger.workspace.trusted_keys import TrustedKey

__all__ = [
    "GENESIS_HASH",
    "ChainProblem",
    "ChainWalk",
    "LedgerEntry",
    "append_entry",
    "chain_entry",
    "entry_hash",
    "entry_leaf",
    "iter_entries",
    "ledger_head",
    "lock_ledger",
    "note_head",
    "row_leaf",
    "verify_chain",
    "walk_chain",
    "walk_entries",
]

GENESIS_HASH = "blake3:" + "0" * 64
# Any constant serialises ledger appends across PostgreSQL sessions.
_PG_LOCK_KEY = 0x6C61626C
# Built once: constructing statements costs more than running them on the hot path.
_PG_LOCK = text("SELECT pg_advisory_xact_lock(:key)")
_HEAD = (
    select(schema.ledger.c.seq, schema.ledger.c.hash).order_by(schema.ledger.c.seq.desc()).limit(1)
)
_INSERT = schema.ledger.insert()
_COLUMNS = (
    "seq",
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
_SQLITE_HEAD = "SELECT seq, hash FROM ledger ORDER BY seq DESC LIMIT 1"
_SQLITE_INSERT = insert_sql(schema.ledger, _COLUMNS)


@dataclass(frozen=True, slots=True)
class ChainProblem:
    """A ledger entry that fails verification, and why."""

    entry_id: str
    seq: int
    reason: str


def entry_hash(prev_hash: str, body: dict[str, Any]) -> str:
    """The chained hash of an entry body following ``prev_hash``."""
    return digest_bytes(prev_hash.encode("ascii") + canonical_json(body))


def entry_leaf(entry: LedgerEntry) -> bytes:
    """The bytes the entry is as a leaf of the Merkle tree: its canonical body, as hashed."""
    return canonical_json(
        _body(entry.id, entry.kind, entry.actor, entry.subject, entry.payload, entry.created_at)
    )


_encode_text = json.JSONEncoder(ensure_ascii=False).encode
_encode_fast = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
).encode


def _payload_text(payload: dict[str, Any]) -> str:
    """The payload's canonical JSON: in one C-speed pass when it holds only plain JSON values
    with text keys (every payload labledger writes), else through ``canonical_text``."""
    try:
        if all(type(key) is str for key in payload):
            return _encode_fast(payload)
    except (TypeError, ValueError):  # NaN, or a value JSON cannot hold: the careful path says
        pass
    return canonical_text(payload)


def _leaf_text(
    id_: str, kind: str, actor: str, subject: str, payload_text: str, created_at: float
) -> bytes:
    """``canonical_json`` of an entry's body, given its payload's canonical text."""
    return (
        '{"actor":'
        + _encode_text(actor)
        + ',"created_at":'
        + repr(float(created_at))
        + ',"id":'
        + _encode_text(id_)
        + ',"kind":'
        + _encode_text(kind)
        + ',"payload":'
        + payload_text
        + ',"subject":'
        + _encode_text(subject)
        + "}"
    ).encode("utf-8")


def row_leaf(
    id_: str,
    kind: str,
    actor: str,
    subject: str,
    payload_json: str,
    created_at: float,
    prev_hash: str,
    hash_: str,
) -> tuple[bytes, bool]:
    """An entry's leaf bytes from its stored row, and whether its chained hash matches them.

    Fast path: the body's canonical JSON is assembled around the stored payload text (stored in
    canonical form); if the row's hash disagrees, the body is canonicalised the slow way, in case
    the payload text was stored in another form.
    """
    leaf = _leaf_text(id_, kind, actor, subject, payload_json, created_at)
    prefix = prev_hash.encode("ascii", "replace")
    if digest_bytes(prefix + leaf) == hash_:
        return leaf, True
    try:
        payload = json.loads(payload_json)
        leaf = canonical_json(_body(id_, kind, actor, subject, payload, created_at))
    except (ValueError, TypeError, RecursionError):
        return leaf, False
    return leaf, digest_bytes(prefix + leaf) == hash_


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


def lock_ledger(conn: Connection) -> None:
    """Take the ledger's append lock for the rest of ``conn``'s write transaction.

    On PostgreSQL a transaction-scoped advisory lock, taken once a transaction (see
    ``note_head``); SQLite write transactions begin IMMEDIATE, so they hold it already. Appending
    an entry takes it; so must anything else that writes what the ledger's head determines (its
    tree).
    """
    postgres = driver_connection(conn) is None and conn.dialect.name == "postgresql"
    if postgres and _held(conn) is None:
        conn.execute(_PG_LOCK, {"key": _PG_LOCK_KEY})
        conn.info[_LOCKED] = (conn.get_transaction(), None)


# PostgreSQL: what this transaction knows of the ledger while it holds the append lock: that it
# holds it, and the head once read or written. Every statement under the lock waits for the
# server's GIL again after its round trip, and other writers wait for the lock meanwhile, so a
# run's seal reads the head once, not once per entry (and takes the lock once).
_LOCKED = "labledger.ledger_locked"


def _held(conn: Connection) -> tuple[Any, tuple[int, str] | None] | None:
    """``(transaction, head or None)`` when this transaction holds the append lock."""
    held = conn.info.get(_LOCKED)
    if held is None or held[0] is not conn.get_transaction():
        return None
    return held  # type: ignore[no-any-return]


def note_head(conn: Connection, head: tuple[int, str]) -> None:
    """Remember ``head`` as the ledger's (seq, hash) for the rest of the transaction, which
    holds the append lock (nobody else can move it; this transaction's own appends note theirs).
    Nothing on SQLite, whose head is read from the same file."""
    if _held(conn) is not None:
        conn.info[_LOCKED] = (conn.get_transaction(), head)


def append_entry(
    conn: Connection,
    kind: str,
    *,
    subject: str,
    payload: dict[str, Any],
    actor: str,
    signer: Signer | None = None,
) -> LedgerEntry:
    """Append an entry inside the caller's write transaction and return it.

    With a ``signer`` in the entry's actor's name, the entry's body is signed (``Signer.sign_body``).
    """
    id_ = new_id()
    created_at = time.time()
    signature = None
    if signer is not None and signer.actor == actor:
        body = EntryBody(id_, kind, actor, subject, payload, created_at, signer.public_key_hex)
        signature = signer.sign_body(body)
    return chain_entry(conn, id_, kind, actor, subject, payload, created_at, signature)


def ledger_head(conn: Connection) -> tuple[int, str]:
    """The last entry's (seq, hash), taking the ledger lock for the rest of ``conn``'s write
    transaction; ``(0, GENESIS_HASH)`` when the ledger is empty."""
    return _read_head(conn, driver_connection(conn))


def _read_head(conn: Connection, db: sqlite3.Connection | None) -> tuple[int, str]:
    if db is not None:
        # SQLite write transactions begin IMMEDIATE: nobody else can extend the head meanwhile.
        row = db.execute(_SQLITE_HEAD).fetchone()
        return (row[0], row[1]) if row is not None else (0, GENESIS_HASH)
    lock_ledger(conn)
    held = _held(conn)
    if held is not None and held[1] is not None:
        return held[1]
    row = conn.execute(_HEAD).first()
    head = (row[0], row[1]) if row is not None else (0, GENESIS_HASH)
    note_head(conn, head)
    return head


def chain_entry(
    conn: Connection,
    id_: str,
    kind: str,
    actor: str,
    subject: str,
    payload: dict[str, Any],
    created_at: float,
    signature: str | None,
    head: tuple[int, str] | None = None,
) -> LedgerEntry:
    """Write an entry after ``head`` and return it; ``signature`` is stored as given, unchecked.

    ``head`` is ``ledger_head``'s answer in the same transaction; by default it is read now.
    """
    # Stored for good and served back as JSON: nothing a reader could not serialise again.
    require_shallow(payload, f"the payload of a {kind!r} entry")
    db = driver_connection(conn)
    # Sequence numbers are dense (1, 2, 3, ...): entry seq is leaf seq - 1 of the Merkle tree.
    last_seq, prev = head if head is not None else _read_head(conn, db)
    seq = last_seq + 1
    payload_text = _payload_text(payload)
    # The body's canonical JSON, assembled around the payload's (what entry_hash would encode).
    hash_ = digest_bytes(
        prev.encode("ascii") + _leaf_text(id_, kind, actor, subject, payload_text, created_at)
    )
    values = (seq, id_, kind, actor, subject, payload_text, created_at, prev, hash_, signature)
    if db is not None:
        db.execute(_SQLITE_INSERT, values)
    else:
        conn.execute(_INSERT, dict(zip(_COLUMNS, values, strict=True)))
        note_head(conn, (seq, hash_))
    return LedgerEntry(seq, id_, kind, actor, subject, payload, created_at, prev, hash_, signature)


def iter_entries(
    conn: Connection,
    *,
    subject: str | None = None,
    kind: str | None = None,
    after_seq: int = 0,
    batch: int = 5000,
    kinds: Sequence[str] | None = None,
) -> Iterator[LedgerEntry]:
    """Entries in append order, optionally only those about ``subject`` or of ``kind`` (or ``kinds``).

    ``after_seq`` skips the entries up to and including that sequence number.
    """
    table = schema.ledger
    last = after_seq
    while True:
        query = select(table).where(table.c.seq > last).order_by(table.c.seq).limit(batch)
        if subject is not None:
            query = query.where(table.c.subject == subject)
        if kind is not None:
            query = query.where(table.c.kind == kind)
        if kinds is not None:
            query = query.where(table.c.kind.in_(kinds))
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


@dataclass(slots=True)
class ChainWalk:
    """What one pass over the whole ledger found.

    Attributes:
        checked: Entries walked (the tree's size).
        problems: Entries failing a check, in order.
        root: The Merkle root of all entries (hex).
        roots: The root at each size asked for (hex), for the sizes the ledger reached.
        registered: The keys registered or rotated in, per actor, and the entry that did it.
        actors: How many entries each actor wrote.
        head: The last entry's chained hash.
        builder: The Merkle tree's compact range after the last entry.
    """

    checked: int = 0
    problems: list[ChainProblem] = field(default_factory=list)
    root: str = ""
    roots: dict[int, str] = field(default_factory=dict)
    registered: dict[tuple[str, str], str] = field(default_factory=dict)
    actors: dict[str, int] = field(default_factory=dict)
    head: str = GENESIS_HASH
    builder: RootBuilder = field(default_factory=RootBuilder)


def walk_chain(
    conn: Connection,
    *,
    trusted: Sequence[TrustedKey] | None = None,
    sizes: Iterable[int] = (),
    visit: Callable[[LedgerEntry], None] | None = None,
    progress: Callable[[int], None] | None = None,
) -> ChainWalk:
    """Re-walk the whole chain of the catalog ``conn`` reads (see ``walk_entries``)."""
    return walk_entries(
        iter_entries(conn), trusted=trusted, sizes=sizes, visit=visit, progress=progress
    )


def walk_entries(
    entries: Iterable[LedgerEntry],
    *,
    trusted: Sequence[TrustedKey] | None = None,
    sizes: Iterable[int] = (),
    visit: Callable[[LedgerEntry], None] | None = None,
    progress: Callable[[int], None] | None = None,
) -> ChainWalk:
    """Re-walk a whole chain, given its entries in order from the first: hashes, signatures and
    key history, and the Merkle root.

    Signatures are checked against the keys the ledger itself registers (``key.registered``,
    ``key.rotated``, ``key.revoked`` entries), never the catalog's key table. With ``trusted``
    keys, only those keys (and keys a trusted key rotated to) may sign. ``visit`` is called with
    every entry. The entries may come from the catalog or from a server.
    """
    walk = ChainWalk()
    keys = KeyHistory(trusted)
    builder = RootBuilder()
    wanted = set(sizes)
    expected_prev, last_seq = GENESIS_HASH, 0
    for entry in entries:
        walk.checked += 1
        embedded = entry.payload.get("checkpoint") if entry.kind == "run.finished" else None
        # An entry already found broken explains why later checkpoints no longer match.
        if (
            isinstance(embedded, dict)
            and not walk.problems
            and (
                embedded.get("size") != builder.size or embedded.get("root") != builder.root().hex()
            )
        ):
            walk.problems.append(
                ChainProblem(
                    entry.id,
                    entry.seq,
                    "the checkpoint signed into it does not match the entries before it: "
                    "entries before it were rewritten",
                )
            )
        leaf = entry_leaf(entry)
        builder.add(leaf_hash(leaf))
        if builder.size in wanted:
            walk.roots[builder.size] = builder.root().hex()
        if entry.seq != last_seq + 1:
            gone = (
                f"entry #{last_seq + 1} is"
                if entry.seq == last_seq + 2
                else f"entries #{last_seq + 1} to #{entry.seq - 1} are"
            )
            walk.problems.append(
                ChainProblem(entry.id, entry.seq, f"{gone} missing before it (deleted)")
            )
        elif entry.prev_hash != expected_prev:
            walk.problems.append(
                ChainProblem(
                    entry.id, entry.seq, "its previous hash does not match the entry before it"
                )
            )
        if digest_bytes(entry.prev_hash.encode("ascii") + leaf) != entry.hash:
            walk.problems.append(
                ChainProblem(entry.id, entry.seq, "its content does not match its hash")
            )
        for reason in keys.check(entry):
            walk.problems.append(ChainProblem(entry.id, entry.seq, reason))
        walk.actors[entry.actor] = walk.actors.get(entry.actor, 0) + 1
        if visit is not None:
            visit(entry)
        expected_prev, last_seq = entry.hash, entry.seq
        if progress is not None and walk.checked % 10_000 == 0:
            progress(walk.checked)
    walk.root, walk.head, walk.builder = builder.root().hex(), expected_prev, builder
    walk.registered = dict(keys.registered)
    for reason in keys.missing_trusted(walk.actors):
        walk.problems.append(ChainProblem("", 0, reason))
    return walk


def verify_chain(conn: Connection) -> tuple[int, list[ChainProblem]]:
    """Re-walk the whole chain; return (entries checked, problems in order)."""
    walk = walk_chain(conn)
    return walk.checked, walk.problems
