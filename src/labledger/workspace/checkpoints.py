"""Checkpoints: signed statements of the ledger's Merkle tree (size, root, time, workspace).

A checkpoint is a small JSON document::

    {"format": "labledger-checkpoint/1", "workspace": "<id>", "size": 1234,
     "root": "<sha-256 hex>", "time": 1764900000.0,
     "signatures": [{"actor": "workspace", "public_key": "<hex>", "signature": "<hex>"}]}

Each signature is Ed25519 over the canonical JSON of the document without ``signatures``. One is
written at the end of every run and by ``labledger checkpoint``; kept anywhere outside the catalog
(a paper, a release note, the per-user state folder), it lets ``verify`` prove the ledger still
extends it: nothing before it was cut, rewritten or forked.

Signers: the workspace key (for a folder workspace, ``.labledger/workspace-key.pem``, made on first
use and registered in the ledger as actor ``workspace``), and the writer's own key when
``LABLEDGER_SIGNING_KEY`` is set.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from labledger._foundation.errors import (
    ConfigurationError,
    IntegrityError,
    LabledgerError,
    ValidationError,
)
from labledger._foundation.ids import new_id
from labledger._foundation.json_input import parse_json
from labledger.stores.ledger import CHECKPOINT_FORMAT, Checkpoint, CheckpointSignature
from labledger.workspace import schema
from labledger.workspace.ledger import lock_ledger
from labledger.workspace.log_tree import extend_tree
from labledger.workspace.signing import generate_key, load_signer, usable_public_key
from labledger.workspace.sqlite_driver import driver_connection, insert_sql
from labledger.workspace.tip import LedgerMoved, advance_tip, save_tip

if TYPE_CHECKING:
    from collections.abc import Sequence

    from sqlalchemy import Connection

    from labledger.workspace.signing import Signer
    from labledger.workspace.trusted_keys import TrustedKey
    from labledger.workspace.workspace import Workspace

__all__ = [
    "CHECKPOINT_FORMAT",
    "WORKSPACE_ACTOR",
    "Checkpoint",
    "CheckpointSignature",
    "LedgerChangedWarning",
    "catch_up_tip",
    "check_workspace_key",
    "checkpoint_signature_problems",
    "ensure_workspace_key",
    "latest_checkpoint",
    "load_checkpoint",
    "make_checkpoint",
    "seal_checkpoint",
    "signature_is_valid_bytes",
    "workspace_id",
    "write_checkpoint",
]

WORKSPACE_ACTOR = "workspace"
_KEY_FILE = "workspace-key.pem"


class LedgerChangedWarning(UserWarning):
    """The ledger no longer extends what this user saw, so no checkpoint was signed."""


def load_checkpoint(source: str | os.PathLike[str]) -> Checkpoint:
    """A checkpoint from a file, or from its JSON text itself.

    Raises:
        ValidationError: The file is missing, or holds no checkpoint.
    """
    text = os.fspath(source)
    if not text.lstrip().startswith("{"):
        try:
            text = Path(text).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ValidationError(
                f"cannot read the checkpoint {os.fspath(source)}: {exc}",
                hint="pass a file that `labledger checkpoint --output` wrote, or its JSON text",
            ) from None
    document = parse_json(text, "the checkpoint")
    if isinstance(document, dict) and "checkpoint" in document and "format" not in document:
        document = document["checkpoint"]  # a proof file holds one
    return Checkpoint.from_dict(document)


_SQLITE_ID = "SELECT value FROM workspace_info WHERE key = 'id'"
_SQLITE_INSERT = insert_sql(
    schema.ledger_checkpoints, ("id", "size", "root", "created_at", "document")
)


def workspace_id(conn: Connection) -> str:
    """The workspace's id, which its checkpoints name."""
    db = driver_connection(conn)
    if db is not None:
        row = db.execute(_SQLITE_ID).fetchone()
        return str(row[0]) if row else ""
    info = schema.workspace_info
    value = conn.execute(select(info.c.value).where(info.c.key == "id")).scalar()
    return str(value or "")


def _key_path(workspace: Workspace) -> Path | None:
    configured = os.environ.get("LABLEDGER_WORKSPACE_KEY")
    if configured:
        return Path(configured).expanduser()
    root = workspace.settings.root
    return root / _KEY_FILE if root is not None else None


def check_workspace_key(workspace: Workspace) -> None:
    """Refuse to go on when the catalog's checkpoints are signed with a workspace key this process
    would not sign with: none configured, a file that is gone, or another key.

    A server that started so would sign nothing (every client's ``verify`` then reports an
    unsigned checkpoint), or fail each seal on a key conflict. Said at start, to whoever starts it.

    Raises:
        ConfigurationError: The configured key is missing or is not the registered one.
    """
    table = schema.ledger_keys
    with workspace.read() as conn:
        row = conn.execute(select(table).where(table.c.actor == WORKSPACE_ACTOR)).first()
    if row is None:
        return  # made and registered at the first checkpoint
    day = time.strftime("%Y-%m-%d", time.gmtime(row.created_at))
    registered = f"registered {day}, public key {row.public_key[:16]}..."
    hint = (
        "set LABLEDGER_WORKSPACE_KEY to the PEM file that signed this catalog's checkpoints "
        "before (the server's key), then start again"
    )
    path = _key_path(workspace)
    if path is None:
        raise ConfigurationError(
            f"this catalog's checkpoints are signed with a workspace key ({registered}), and "
            "LABLEDGER_WORKSPACE_KEY is not set: every client's verify would find them unsigned",
            hint=hint,
        )
    if not path.exists():
        raise ConfigurationError(
            f"the workspace key file {path} does not exist, but this catalog's checkpoints are "
            f"signed with a workspace key ({registered})",
            hint=hint,
        )
    try:
        signer = load_signer(path, WORKSPACE_ACTOR)
    except (LabledgerError, OSError) as exc:
        said = exc.message if isinstance(exc, LabledgerError) else str(exc)
        raise ConfigurationError(
            f"the workspace key file {path} cannot be read ({said}); this catalog's "
            f"checkpoints are signed with a workspace key ({registered})",
            hint=hint,
        ) from exc
    if signer.public_key_hex != row.public_key:
        raise ConfigurationError(
            f"the workspace key in {path} (public key {signer.public_key_hex[:16]}...) is not the "
            f"one this catalog's checkpoints are signed with ({registered})",
            hint=hint,
        )


def ensure_workspace_key(workspace: Workspace) -> Signer | None:
    """The workspace key (made and registered on first use), which signs checkpoints.

    It is ``LABLEDGER_WORKSPACE_KEY`` (a PEM file, made there if missing: what a team server
    sets) or, for a folder workspace, ``.labledger/workspace-key.pem``; a database workspace
    without the setting has none (``None``), and its checkpoints carry only the writer's own
    signature. Call it outside any write transaction: registering the key writes.
    """
    if workspace.workspace_signer is not None:
        return workspace.workspace_signer
    path = _key_path(workspace)
    if path is None:
        return None
    from labledger.workspace.keys import register_key

    if not path.exists():
        with contextlib.suppress(FileExistsError):  # another process made it first
            generate_key(path)
    signer = load_signer(path, WORKSPACE_ACTOR)
    register_key(workspace, WORKSPACE_ACTOR, signer.public_key_hex, signer=signer)
    workspace.workspace_signer = signer
    return signer


def _signers(workspace: Workspace) -> list[Signer]:
    signers: list[Signer] = []
    if workspace.workspace_signer is not None:
        signers.append(workspace.workspace_signer)
    if workspace.signer is not None:
        signers.append(workspace.signer)
    return signers


def _sign_tip(workspace: Workspace, conn: Connection) -> Checkpoint | None:
    """A checkpoint of every entry, its root derived from the entries through this user's tip
    (``tip.advance_tip``), never read from the stored tree; signed by the workspace's signers.

    Taken under the ledger's lock, so nobody appends between the tip read here and whatever the
    caller writes with it. ``None``, with a ``LedgerChangedWarning``, when the ledger no longer
    extends what this user saw (``verify`` then says what changed).
    """

    own_id = workspace.ledger_tip.workspace if workspace.ledger_tip else workspace_id(conn)
    lock_ledger(conn)
    try:
        tip = advance_tip(workspace, conn, own_id)
    except LedgerMoved as exc:
        warnings.warn(
            LedgerChangedWarning(
                f"no checkpoint signed: {exc}; run `labledger verify` to see what changed"
            ),
            stacklevel=4,
        )
        return None
    unsigned = Checkpoint(own_id, tip.size, tip.root, time.time())
    message = unsigned.signed_bytes()
    signatures = tuple(
        CheckpointSignature(s.actor, s.public_key_hex, s.private_key.sign(message).hex())
        for s in _signers(workspace)
    )
    return Checkpoint(own_id, tip.size, tip.root, unsigned.time, signatures)


def write_checkpoint(
    workspace: Workspace, conn: Connection, *, extend: bool = True, reuse: bool = False
) -> Checkpoint | None:
    """Sign (``_sign_tip``) and store a checkpoint of every entry, inside ``conn``'s write.

    The stored tree (an index for proofs) is extended too unless ``extend`` is false. With
    ``reuse``, a stored checkpoint of the same size and root, signed by the same keys, is
    returned instead of a new row: a server asked for checkpoints of an unchanged ledger keeps
    one row, not one a request.
    """
    checkpoint = _sign_tip(workspace, conn)
    if checkpoint is None:
        return None
    if reuse:
        stored = latest_checkpoint(conn)
        if stored is not None and _same_statement(stored, checkpoint):
            return stored
    if extend:
        extend_tree(conn)
    row = (
        new_id(),
        checkpoint.size,
        checkpoint.root,
        checkpoint.time,
        json.dumps(checkpoint.to_dict(), sort_keys=True, separators=(",", ":")),
    )
    db = driver_connection(conn)
    if db is not None:
        db.execute(_SQLITE_INSERT, row)
    else:
        columns = ("id", "size", "root", "created_at", "document")
        conn.execute(schema.ledger_checkpoints.insert(), dict(zip(columns, row, strict=True)))
    return checkpoint


def _same_statement(stored: Checkpoint, fresh: Checkpoint) -> bool:
    """Whether ``stored`` states what ``fresh`` does, signed by the same keys (its signatures
    valid: the catalog's copy is not taken on trust)."""
    if (stored.workspace, stored.size, stored.root) != (fresh.workspace, fresh.size, fresh.root):
        return False
    if sorted(s.public_key for s in stored.signatures) != sorted(
        s.public_key for s in fresh.signatures
    ):
        return False
    message = stored.signed_bytes()
    return all(
        signature_is_valid_bytes(s.public_key, message, s.signature) for s in stored.signatures
    )


def catch_up_tip(workspace: Workspace) -> int | None:
    """Derive this user's tip of the ledger now, in a read, and remember it.

    A checkpoint extends the tip inside a write that holds the ledger's lock, so a process with
    no tip yet (a server's fresh container, a new state folder) would read every entry there and
    hold every other writer back meanwhile. A server calls this before it takes requests: the
    first run's end then reads only the entries added since.

    Returns:
        The entries the tip covers; ``None`` when the ledger no longer extends what this user
        saw (a checkpoint then warns, and ``verify`` says what changed).
    """
    with workspace.read() as conn:
        try:
            tip = advance_tip(workspace, conn, workspace_id(conn))
        except LedgerMoved:
            return None
    if tip.dirty:
        save_tip(workspace, tip)
    return tip.size


def seal_checkpoint(workspace: Workspace, conn: Connection) -> dict[str, Any] | None:
    """A signed checkpoint of every entry so far, to embed in a run's seal (``checkpoint`` field).

    The automatic checkpoint at a run's end travels inside the ``run.finished`` entry (it costs no
    row of its own), and ``verify`` checks it against the root of the entries before that entry as
    it walks the ledger.
    """
    checkpoint = _sign_tip(workspace, conn)
    return checkpoint.to_dict() if checkpoint is not None else None


def make_checkpoint(workspace: Workspace, *, reuse: bool = False) -> Checkpoint:
    """Sign a checkpoint of the ledger as it is now, store it, and return it.

    With ``reuse``, the stored checkpoint is returned when the ledger has not moved since it was
    signed (``write_checkpoint``).

    Raises:
        IntegrityError: The ledger no longer extends what this user saw of it.
    """
    ensure_workspace_key(workspace)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LedgerChangedWarning)
        with workspace.write() as conn:
            made = write_checkpoint(workspace, conn, reuse=reuse)
    if made is None:
        raise IntegrityError(
            "the ledger no longer extends what you saw of it (entries cut or rewritten), so no "
            "checkpoint was signed",
            hint="run `labledger verify` to see what changed; restore the catalog from a backup",
        )
    return made


def latest_checkpoint(conn: Connection) -> Checkpoint | None:
    """The newest checkpoint stored in the catalog."""
    table = schema.ledger_checkpoints
    document = conn.execute(
        select(table.c.document).order_by(table.c.size.desc(), table.c.created_at.desc()).limit(1)
    ).scalar()
    return Checkpoint.from_dict(json.loads(document)) if document else None


def checkpoint_signature_problems(
    checkpoint: Checkpoint, trusted: Sequence[TrustedKey] | None
) -> list[str]:
    """What is wrong with the checkpoint's signatures (nothing: ``[]``).

    Without trusted keys every signature must be valid for the key it names. With trusted keys, at
    least one signature must be by a trusted key, and every signature valid.
    """
    problems: list[str] = []
    message = checkpoint.signed_bytes()
    pinned = {(k.actor, k.public_key) for k in trusted or ()}
    by_trusted = False
    for s in checkpoint.signatures:
        if not signature_is_valid_bytes(s.public_key, message, s.signature):
            problems.append(f"its signature by {s.actor} ({s.public_key[:16]}...) is invalid")
        elif (s.actor, s.public_key) in pinned:
            by_trusted = True
    if trusted is not None and not by_trusted:
        problems.append("it is not signed by any of the trusted keys")
    return problems


def signature_is_valid_bytes(public_key: str, message: bytes, signature: str) -> bool:
    """Whether ``signature`` (hex) is ``public_key``'s Ed25519 signature of ``message``."""
    from cryptography.exceptions import InvalidSignature

    key = usable_public_key(public_key)
    if key is None:
        return False
    try:
        key.verify(bytes.fromhex(signature), message)
    except (InvalidSignature, ValueError):
        return False
    return True
