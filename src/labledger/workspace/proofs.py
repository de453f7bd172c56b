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

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from labledger._foundation.digests import digest_bytes, digest_file
from labledger._foundation.errors import IntegrityError, NotFoundError, ValidationError
from labledger._foundation.json_input import parse_json
from labledger.workspace import schema
from labledger.workspace.checkpoints import (
    CHECKPOINT_FORMAT,
    Checkpoint,
    checkpoint_signature_problems,
    make_checkpoint,
)
from labledger.workspace.ledger import entry_leaf, iter_entries
from labledger.workspace.log_tree import extend_tree, rebuild_tree, tree_inclusion_proof
from labledger.workspace.lookup import find_artifact, find_by_id
from labledger.workspace.merkle import leaf_hash, verify_inclusion
from labledger.workspace.signing import entry_signature_is_valid

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
        if len(entries) > 1:
            raise IntegrityError(
                f"run {run.id} is sealed more than once, so the ledger's word on it is in doubt",
                hint="run `labledger verify` to see who sealed it again",
            )
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
    if not entries and artifact.run_id:
        entries = [
            e
            for e in iter_entries(conn, subject=f"run:{artifact.run_id}", kind="artifacts.produced")
            if any(item[0] == artifact.id for item in e.payload.get("artifacts") or ())
        ]
    if len(entries) > 1:
        raise IntegrityError(
            f"artifact {artifact.id} is recorded as produced more than once, so the ledger's "
            "word on it is in doubt",
            hint="run `labledger verify` to see who recorded it again",
        )
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


def make_proof(
    workspace: Workspace, ref: str, *, checkpoint: Checkpoint | None = None
) -> dict[str, Any]:
    """An inclusion proof for the run or artifact ``ref`` names.

    Args:
        workspace: Where the run or artifact is.
        ref: A run id, or an artifact id, name or digest.
        checkpoint: A checkpoint published earlier to prove against (the entry must be in it);
            by default a new one is signed.

    Raises:
        NotFoundError: Nothing matches ``ref``, or it has no ledger entry yet.
        IntegrityError: The ledger does not extend ``checkpoint``.
        ValidationError: The entry came after ``checkpoint``.
    """
    with workspace.read() as conn:
        subject, entry = _entry_for(conn, ref)
    if checkpoint is None:
        checkpoint = make_checkpoint(workspace)
    else:
        with workspace.write() as conn:
            extend_tree(conn)  # the stored tree must reach the checkpoint
    if entry.seq > checkpoint.size:
        raise ValidationError(
            f"the entry for {ref} is #{entry.seq}, after the checkpoint's {checkpoint.size} entries",
            hint="prove it against a newer checkpoint (leave out --checkpoint for a new one)",
        )
    leaf = leaf_hash(entry_leaf(entry))
    root = bytes.fromhex(checkpoint.root)
    path: list[str] = []
    for attempt in range(2):
        if attempt:
            # The stored tree is only an index: make it again from the entries, ask once more.
            with workspace.write() as conn:
                rebuild_tree(conn)
        with workspace.read() as conn:
            path = tree_inclusion_proof(conn, entry.seq - 1, checkpoint.size)
        hashes = [bytes.fromhex(h) for h in path]
        if verify_inclusion(leaf, entry.seq - 1, checkpoint.size, hashes, root):
            break
    else:
        raise IntegrityError(
            f"the ledger does not extend the checkpoint of {checkpoint.size} entries",
            hint="run `labledger verify --checkpoint` with it to see what changed",
        )
    return {
        "format": PROOF_FORMAT,
        "subject": subject,
        "entry": {
            "index": entry.seq - 1,
            "leaf": entry_leaf(entry).decode("utf-8"),
            "prev_hash": entry.prev_hash,
            "hash": entry.hash,
            "signature": entry.signature,
        },
        "audit_path": path,
        "checkpoint": checkpoint.to_dict(),
    }


def load_proof(source: str | os.PathLike[str], *, allow_checkpoint: bool = False) -> dict[str, Any]:
    """Read a proof file (or, with ``allow_checkpoint``, a checkpoint file).

    Raises:
        ValidationError: The file is missing or holds no proof.
    """
    path = Path(source)
    hint = "pass a file that `labledger proof ... --output FILE` wrote"
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValidationError(f"cannot read the proof {path}: {exc}", hint=hint) from None
    document = parse_json(text, f"the proof {path}", hint=hint)
    formats = {PROOF_FORMAT, CHECKPOINT_FORMAT} if allow_checkpoint else {PROOF_FORMAT}
    if not isinstance(document, dict) or document.get("format") not in formats:
        raise ValidationError(f"{path} is not a {PROOF_FORMAT} document", hint=hint)
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
    if path is None or len(path) > 64 or not all(len(h) == 32 for h in path):
        return None
    return path


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
        entry = parse_json(leaf_text, "the proof's entry") if isinstance(leaf_text, str) else {}
    except ValidationError:
        entry = {}
    if not isinstance(entry, dict):
        entry = {}
    try:
        checkpoint: Checkpoint | None = Checkpoint.from_dict(document.get("checkpoint"))
    except ValidationError as exc:
        checkpoint = None
        problems.append(f"its checkpoint is unreadable: {exc.message}")
    if not isinstance(leaf_text, str) or not entry:
        problems.append("its entry is missing or not JSON")
    else:
        problems += _inclusion_problems(document, entry_doc, leaf_text, checkpoint)
        problems += _subject_problems(document.get("subject"), entry)
        found, said = _entry_signature(entry_doc, entry, leaf_text, trusted)
        problems, notes = problems + found, notes + said
    if checkpoint is not None:
        problems += [f"checkpoint: {p}" for p in checkpoint_signature_problems(checkpoint, trusted)]
        notes += _signature_notes(checkpoint, trusted)
    if file is not None:
        found, said = _file_check(entry, document.get("subject"), file)
        problems, notes = problems + found, notes + said
    return ProofCheck(entry, checkpoint, problems, notes)


def _inclusion_problems(
    document: dict[str, Any],
    entry_doc: dict[str, Any],
    leaf_text: str,
    checkpoint: Checkpoint | None,
) -> list[str]:
    index, path = entry_doc.get("index"), _path_hashes(document)
    if not isinstance(index, int) or isinstance(index, bool) or path is None:
        return ["its index or audit path is malformed"]
    if checkpoint is None:
        return []
    leaf = leaf_hash(leaf_text.encode("utf-8"))
    if not verify_inclusion(leaf, index, checkpoint.size, path, bytes.fromhex(checkpoint.root)):
        return [
            f"the entry is not leaf {index} of the checkpoint's tree ({checkpoint.size} "
            "entries): the entry, its audit path or the checkpoint was altered"
        ]
    return []


def _produced_digest(entry: dict[str, Any], subject: Any) -> str | None:
    """The digest the entry gives the proof's artifact (``None`` if it names none)."""
    payload = entry.get("payload")
    if not isinstance(payload, dict):
        return None
    if entry.get("kind") == "artifact.produced":
        digest = payload.get("digest")
        return digest if isinstance(digest, str) else None
    wanted = subject.get("id") if isinstance(subject, dict) else None
    for item in payload.get("artifacts") or ():
        if isinstance(item, list) and len(item) == 3 and item[0] == wanted:
            return item[2] if isinstance(item[2], str) else None
    return None


def _file_check(
    entry: dict[str, Any], subject: Any, file: str | os.PathLike[str]
) -> tuple[list[str], list[str]]:
    if entry.get("kind") not in ("artifact.produced", "artifacts.produced"):
        kind = entry.get("kind")
        return [f"--file checks an artifact's bytes, but the proven entry is {kind!r}"], []
    expected = _produced_digest(entry, subject)
    try:
        actual = digest_file(file)
    except OSError as exc:
        raise ValidationError(f"cannot read {os.fspath(file)}: {exc.strerror}") from None
    if expected != actual:
        return [f"{os.fspath(file)} hashes to {actual}, the proven entry says {expected}"], []
    return [], [f"{os.fspath(file)} is the proven artifact ({actual})"]


def _signature_notes(checkpoint: Checkpoint, trusted: Sequence[TrustedKey] | None) -> list[str]:
    if not checkpoint.signatures:
        return ["the checkpoint is unsigned: it proves inclusion, not who vouches for it"]
    keys = ", ".join(f"{s.actor} {s.public_key}" for s in checkpoint.signatures)
    if trusted is None:
        return [f"signed by {keys}; not compared with trusted keys (pass --trusted-keys to pin)"]
    pinned = {(k.actor, k.public_key) for k in trusted}
    by = [
        f"{s.actor} {s.public_key[:16]}..."
        for s in checkpoint.signatures
        if (s.actor, s.public_key) in pinned
    ]
    return [f"the checkpoint is signed by the trusted key(s) {', '.join(by)}"] if by else []


def _subject_problems(subject: Any, entry: dict[str, Any]) -> list[str]:
    """The proof's ``subject`` must say what its entry says (it is what a reader looks at)."""
    if not isinstance(subject, dict):
        return []
    payload = entry.get("payload") if isinstance(entry.get("payload"), dict) else {}
    assert isinstance(payload, dict)
    if subject.get("kind") == "artifact" and entry.get("kind") == "artifacts.produced":
        listed = [
            item
            for item in payload.get("artifacts") or ()
            if isinstance(item, list) and len(item) == 3 and item[0] == subject.get("id")
        ]
        if not listed:
            return ["its subject is not among the artifacts the proven entry names"]
        said = {"id": listed[0][0], "name": listed[0][1], "digest": listed[0][2]}
    elif subject.get("kind") == "artifact":
        said = {
            "id": payload.get("artifact_id"),
            "digest": payload.get("digest"),
            "name": payload.get("name"),
        }
    else:
        said = {"id": payload.get("run_id")}
    wrong = [key for key, value in said.items() if key in subject and subject[key] != value]
    if not wrong:
        return []
    return [f"the {' and '.join(wrong)} its subject shows differ from what the proven entry says"]


def _entry_signature(
    entry_doc: dict[str, Any],
    entry: dict[str, Any],
    leaf_text: str,
    trusted: Sequence[TrustedKey] | None,
) -> tuple[list[str], list[str]]:
    """Check the entry's own chained hash and, against trusted keys, its signature.

    A body signature (``v2:...``) is checked over the leaf's fields with the trusted key as its key
    id; a chained-hash one over the hash just checked against the leaf.
    """
    prev, hash_, signature = (
        entry_doc.get("prev_hash"),
        entry_doc.get("hash"),
        entry_doc.get("signature"),
    )
    if not isinstance(prev, str) or not isinstance(hash_, str):
        return [], []  # a proof made before entries carried their previous hash
    if digest_bytes(prev.encode("ascii", "replace") + leaf_text.encode("utf-8")) != hash_:
        return ["the entry's chained hash does not match its content"], []
    actor = entry.get("actor")
    keys = [k.public_key for k in trusted or () if k.actor == actor]
    if not keys:
        return [], []
    if not isinstance(signature, str):
        return [], [f"the entry is unsigned (written before {actor} signed entries, or stripped)"]
    if not any(
        entry_signature_is_valid(key, signature, chained_hash=hash_, fields=entry) for key in keys
    ):
        return [f"the entry's signature is not by a trusted key of {actor}"], []
    return [], [f"the entry is signed by a trusted key of {actor}"]
