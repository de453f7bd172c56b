"""Inclusion proofs: a small JSON file showing one ledger entry is in a signed checkpoint.

``make_proof`` writes, for an artifact (its ``artifact.produced`` entry) or a run (its seal)::

    {"format": "labledger-proof/1",
     "subject": {"kind": "artifact", "id": ..., "name": ..., "digest": ...},
     "entry": {"index": 41, "leaf": "<canonical JSON of the entry>", "hash": ..., "signature": ...},
     "audit_path": ["<hex>", ...],
     "checkpoint": {... a signed checkpoint ...}}

Anyone can check it offline, without the workspace: the leaf's SHA-256 (with a 0x00 prefix), folded
with the audit path as RFC 9162 says, must give the checkpoint's root, and the checkpoint's
signatures must hold (``check_proof``, ``labledger verify-proof``, or the short script in
docs/ledger.md that needs only the standard library).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from labledger._foundation.digests import digest_file
from labledger._foundation.errors import NotFoundError, ValidationError
from labledger.workspace import schema
from labledger.workspace.checkpoints import (
    Checkpoint,
    checkpoint_signature_problems,
    make_checkpoint,
)
from labledger.workspace.ledger import entry_leaf, iter_entries
from labledger.workspace.log_tree import rebuild_tree, tree_inclusion_proof
from labledger.workspace.lookup import find_artifact, find_by_id
from labledger.workspace.merkle import leaf_hash, verify_inclusion

if TYPE_CHECKING:
    from collections.abc import Sequence

    from sqlalchemy import Connection

    from labledger.workspace.ledger import LedgerEntry
    from labledger.workspace.trusted_keys import TrustedKey
    from labledger.workspace.workspace import Workspace

__all__ = ["PROOF_FORMAT", "ProofCheck", "check_proof", "load_proof", "make_proof"]

PROOF_FORMAT = "labledger-proof/1"


def _entry_for(conn: Connection, ref: str) -> tuple[dict[str, Any], LedgerEntry]:
    """The subject ``ref`` names (an artifact, else a run) and the entry that vouches for it."""
    run = find_by_id(conn, schema.runs, ref, what="run")
    if run is not None:
        entries = [
            e
            for e in iter_entries(conn, subject=f"run:{run.id}")
            if e.kind in ("run.finished", "run.crashed")
        ]
        if not entries:
            raise NotFoundError(
                f"run {run.id} is not sealed yet",
                hint="a run gets its seal when it ends; prove it afterwards",
            )
        subject = {"kind": "run", "id": run.id, "name": run.name, "status": run.status}
        return subject, entries[-1]
    try:
        artifact = find_artifact(conn, ref)
    except NotFoundError:
        raise NotFoundError(
            f"no run or artifact matches {ref!r}",
            hint="pass a run id, an artifact id, name or digest (`labledger artifacts list`)",
        ) from None
    entries = list(iter_entries(conn, subject=f"artifact:{artifact.id}", kind="artifact.produced"))
    if not entries:
        raise NotFoundError(
            f"artifact {artifact.id} has no artifact.produced entry yet",
            hint="its run records one when it ends; prove it after the run has finished",
        )
    subject = {
        "kind": "artifact",
        "id": artifact.id,
        "name": artifact.name,
        "digest": artifact.digest,
    }
    return subject, entries[-1]


def make_proof(workspace: Workspace, ref: str) -> dict[str, Any]:
    """An inclusion proof for the run or artifact ``ref`` names, against a new checkpoint.

    Raises:
        NotFoundError: Nothing matches ``ref``, or it has no ledger entry yet.
    """
    with workspace.read() as conn:
        subject, entry = _entry_for(conn, ref)
    checkpoint = make_checkpoint(workspace)
    with workspace.read() as conn:
        path = tree_inclusion_proof(conn, entry.seq - 1, checkpoint.size)
    leaf = leaf_hash(entry_leaf(entry))
    root = bytes.fromhex(checkpoint.root)
    if not verify_inclusion(
        leaf, entry.seq - 1, checkpoint.size, [bytes.fromhex(h) for h in path], root
    ):
        # The stored tree is only an index: make it again from the entries and ask once more.
        with workspace.write() as conn:
            rebuild_tree(conn)
        with workspace.read() as conn:
            path = tree_inclusion_proof(conn, entry.seq - 1, checkpoint.size)
    return {
        "format": PROOF_FORMAT,
        "subject": subject,
        "entry": {
            "index": entry.seq - 1,
            "leaf": entry_leaf(entry).decode("utf-8"),
            "hash": entry.hash,
            "signature": entry.signature,
        },
        "audit_path": path,
        "checkpoint": checkpoint.to_dict(),
    }


def load_proof(source: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a proof file.

    Raises:
        ValidationError: The file is missing or holds no proof.
    """
    path = Path(source)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValidationError(
            f"cannot read the proof {path}: {exc}",
            hint="pass a file that `labledger proof ... --output FILE` wrote",
        ) from None
    if not isinstance(document, dict) or document.get("format") != PROOF_FORMAT:
        raise ValidationError(f"{path} is not a {PROOF_FORMAT} document")
    return document


@dataclass(frozen=True, slots=True)
class ProofCheck:
    """What ``check_proof`` found.

    Attributes:
        entry: The proven entry's body (kind, actor, subject, payload, ...).
        checkpoint: The checkpoint it is proven against.
        problems: Why the proof fails; empty when it holds.
        notes: What was and was not checked (an unpinned signature, say).
    """

    entry: dict[str, Any]
    checkpoint: Checkpoint | None
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _path_hashes(document: dict[str, Any]) -> list[bytes] | None:
    raw = document.get("audit_path")
    try:
        path = [bytes.fromhex(h) for h in raw] if isinstance(raw, list) else None
    except (TypeError, ValueError):
        return None
    return path if path is not None and all(len(h) == 32 for h in path) else None


def check_proof(
    document: dict[str, Any],
    *,
    trusted: Sequence[TrustedKey] | None = None,
    file: str | os.PathLike[str] | None = None,
) -> ProofCheck:
    """Check an inclusion proof offline: the entry, its audit path, and the checkpoint's signatures.

    Args:
        document: The proof (``load_proof``).
        trusted: Keys the checkpoint must be signed by; without them a valid signature is reported
            with its key, for the reader to compare with a key they trust.
        file: A file whose bytes must be the proven artifact's (its digest is compared).
    """
    problems: list[str] = []
    notes: list[str] = []
    raw_entry = document.get("entry")
    entry_doc: dict[str, Any] = raw_entry if isinstance(raw_entry, dict) else {}
    leaf_text = entry_doc.get("leaf")
    try:
        entry = json.loads(leaf_text) if isinstance(leaf_text, str) else {}
    except json.JSONDecodeError:
        entry = {}
    try:
        checkpoint: Checkpoint | None = Checkpoint.from_dict(document.get("checkpoint"))
    except ValidationError as exc:
        checkpoint = None
        problems.append(f"its checkpoint is unreadable: {exc.message}")
    index, path = entry_doc.get("index"), _path_hashes(document)
    if not isinstance(leaf_text, str) or not isinstance(entry, dict) or not entry:
        problems.append("its entry is missing or not JSON")
    elif not isinstance(index, int) or path is None:
        problems.append("its index or audit path is malformed")
    elif checkpoint is not None:
        leaf = leaf_hash(leaf_text.encode("utf-8"))
        root = bytes.fromhex(checkpoint.root)
        if not verify_inclusion(leaf, index, checkpoint.size, path, root):
            problems.append(
                f"the entry is not leaf {index} of the checkpoint's tree ({checkpoint.size} "
                "entries): the entry, its audit path or the checkpoint was altered"
            )
    if checkpoint is not None:
        problems += [f"checkpoint: {p}" for p in checkpoint_signature_problems(checkpoint, trusted)]
        if not checkpoint.signatures:
            notes.append("the checkpoint is unsigned: it proves inclusion, not who vouches for it")
        elif trusted is None:
            keys = ", ".join(f"{s.actor} {s.public_key}" for s in checkpoint.signatures)
            notes.append(
                f"signed by {keys}; not compared with trusted keys (pass --trusted-keys to pin)"
            )
    payload = entry.get("payload") if isinstance(entry, dict) else None
    if file is not None:
        expected = payload.get("digest") if isinstance(payload, dict) else None
        actual = digest_file(file)
        if expected != actual:
            problems.append(
                f"{os.fspath(file)} hashes to {actual}, the proven entry says {expected}"
            )
        else:
            notes.append(f"{os.fspath(file)} is the proven artifact ({actual})")
    return ProofCheck(entry if isinstance(entry, dict) else {}, checkpoint, problems, notes)
