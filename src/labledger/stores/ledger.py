"""The ledger as the stores return it: entries, checkpoints, and the ``LedgerStore`` protocol.

A ``LedgerStore`` is what a client needs to check a ledger it does not hold: its entries, in
order, a checkpoint signed by the workspace (or the server that keeps it), consistency proofs
between two sizes of its Merkle tree, and inclusion proofs of single entries; and the one write a
client may make to it directly: appending an ``EntryBody`` it signed itself.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

from labledger._foundation.canonical import canonical_json
from labledger._foundation.errors import ValidationError
from labledger._foundation.ids import new_id
from labledger._foundation.json_input import finite_number, hex_string

__all__ = [
    "CHECKPOINT_FORMAT",
    "Checkpoint",
    "CheckpointSignature",
    "EntryBody",
    "LedgerEntry",
    "LedgerStore",
]

CHECKPOINT_FORMAT = "labledger-checkpoint/1"


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
class EntryBody:
    """What a body signature covers: a ledger entry before it has a place in the chain.

    A client signs one (``Signer.sign_body``) and hands it with its signature to the ledger, which
    checks the signature and chains it (``LedgerStore.append_signed``).

    Attributes:
        id: The entry's id (a new UUIDv7 from ``EntryBody.new``).
        kind: What happened, e.g. ``model.approved``.
        actor: Who writes it; the signing key must be theirs.
        subject: What it is about, e.g. ``run:<id>``.
        payload: The details, JSON-able.
        created_at: When (Unix seconds); the ledger refuses bodies far from its own clock.
        key_id: The signing key's public half, hex.
    """

    id: str
    kind: str
    actor: str
    subject: str
    payload: dict[str, Any]
    created_at: float
    key_id: str

    @classmethod
    def new(
        cls, kind: str, *, subject: str, payload: dict[str, Any], actor: str, key_id: str
    ) -> EntryBody:
        """A body with a fresh id, stamped now."""
        return cls(new_id(), kind, actor, subject, payload, time.time(), key_id)

    def fields(self) -> dict[str, Any]:
        """The body as the mapping that is signed (time as a float)."""
        return {
            "id": self.id,
            "kind": self.kind,
            "actor": self.actor,
            "subject": self.subject,
            "payload": self.payload,
            "created_at": float(self.created_at),
            "key_id": self.key_id,
        }


@dataclass(frozen=True, slots=True)
class CheckpointSignature:
    """One signature on a checkpoint."""

    actor: str
    public_key: str
    signature: str


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A statement that the workspace's ledger had ``size`` entries with Merkle root ``root``."""

    workspace: str
    size: int
    root: str
    time: float
    signatures: tuple[CheckpointSignature, ...] = field(default=())

    def body(self) -> dict[str, Any]:
        """The signed part."""
        return {
            "format": CHECKPOINT_FORMAT,
            "workspace": self.workspace,
            "size": self.size,
            "root": self.root,
            "time": self.time,
        }

    def signed_bytes(self) -> bytes:
        """What each signature covers."""
        return canonical_json(self.body())

    def to_dict(self) -> dict[str, Any]:
        """The document as a JSON-able dict."""
        signatures = [
            {"actor": s.actor, "public_key": s.public_key, "signature": s.signature}
            for s in self.signatures
        ]
        return {**self.body(), "signatures": signatures}

    def to_json(self) -> str:
        """The document's JSON text."""
        return json.dumps(self.to_dict(), indent=2) + "\n"

    @classmethod
    def from_dict(cls, document: Any) -> Checkpoint:
        """Read a checkpoint document.

        Raises:
            ValidationError: It is not a labledger checkpoint.
        """
        hint = "pass the JSON that `labledger checkpoint` printed or wrote"
        if not isinstance(document, dict) or document.get("format") != CHECKPOINT_FORMAT:
            raise ValidationError(f"not a {CHECKPOINT_FORMAT} document", hint=hint)
        raw_signatures = document.get("signatures", [])
        if not isinstance(raw_signatures, list) or not all(
            isinstance(s, dict)
            and isinstance(s.get("actor"), str)
            and hex_string(s.get("public_key"), 64)
            and hex_string(s.get("signature"), 128)
            for s in raw_signatures
        ):
            raise ValidationError("the checkpoint's signatures are malformed", hint=hint)
        signatures = tuple(
            CheckpointSignature(s["actor"], s["public_key"].lower(), s["signature"].lower())
            for s in raw_signatures
        )
        size, root = document.get("size"), document.get("root")
        time_, workspace = finite_number(document.get("time")), document.get("workspace")
        if not isinstance(size, int) or isinstance(size, bool) or not 0 <= size < 2**63:
            raise ValidationError(f"the checkpoint's size {size!r:.40} is not a count", hint=hint)
        if not hex_string(root, 64):
            raise ValidationError(f"the checkpoint's root {root!r:.80} is not a hash", hint=hint)
        if time_ is None or not 0 <= time_ < 1e11 or not isinstance(workspace, str):
            raise ValidationError("the checkpoint's time or workspace is malformed", hint=hint)
        assert isinstance(root, str)
        return cls(workspace, size, root.lower(), time_, signatures)


class LedgerStore(Protocol):
    """Reading a workspace's ledger from outside: enough to check it without trusting its keeper;
    and appending entries their actors signed."""

    def entries(self, *, after_seq: int = 0, limit: int = 5000) -> list[LedgerEntry]:
        """Entries in append order, after sequence number ``after_seq``, at most ``limit``."""
        ...

    def checkpoint(self) -> Checkpoint:
        """A checkpoint of the whole ledger now, signed by the workspace's key (the server's).

        Raises:
            IntegrityError: The keeper's ledger no longer extends what it saw of it.
        """
        ...

    def consistency(self, old_size: int, new_size: int) -> list[str]:
        """The RFC 6962 consistency proof (hex hashes) that the tree of ``new_size`` entries
        extends the tree of ``old_size``.

        Raises:
            ValidationError: The sizes are not ``0 < old_size <= new_size <= entries``.
        """
        ...

    def proof(self, ref: str) -> dict[str, Any]:
        """The inclusion proof document of the run or artifact ``ref`` (as ``labledger proof``
        writes it), against a new signed checkpoint.

        Raises:
            NotFoundError: Nothing matches ``ref``, or it has no ledger entry.
        """
        ...

    def append_signed(self, body: EntryBody, signature: str) -> LedgerEntry:
        """Chain ``body``, which its actor signed (``signature``: ``v2:...``), after the head.

        The signature must hold for the body and be by a key the ledger lets ``body.actor`` sign
        with now; the body's time must be near the ledger's clock and its id new to the ledger.
        Through a server, ``body.actor`` must also be the signed-in user.

        Raises:
            ValidationError: The body is malformed, stale, or of a kind only the workspace writes.
            ConflictError: The body is in the ledger already (a replay).
            PermissionDeniedError: The signature is not valid, or not by a key ``body.actor`` may
                sign with now, or (through a server) ``body.actor`` is not the signed-in user.
        """
        ...
