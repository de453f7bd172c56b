"""Registering actors' public signing keys, so anyone can check the ledger entries they sign.

A key is registered once per actor, in the catalog table ``ledger_keys`` and in the ledger itself
(entry ``key.registered``). Replacing an actor's key is refused: it would make every entry they
signed before fail verification.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import select

from labledger._foundation.errors import ValidationError
from labledger.workspace import schema
from labledger.workspace.signing import default_key_path, generate_key, load_signer

if TYPE_CHECKING:
    from pathlib import Path

    from labledger.workspace.workspace import Workspace

__all__ = ["CreatedKey", "RegisteredKey", "create_signing_key", "list_keys", "register_key"]


@dataclass(frozen=True, slots=True)
class RegisteredKey:
    """An actor's public Ed25519 key as registered in a workspace."""

    actor: str
    public_key: str
    created_at: float


@dataclass(frozen=True, slots=True)
class CreatedKey:
    """What ``create_signing_key`` did: where the private key is, and whether it was new."""

    key: RegisteredKey
    path: Path
    new_file: bool
    newly_registered: bool


def _check_public_key(public_key: str) -> str:
    try:
        raw = bytes.fromhex(public_key)
    except ValueError:
        raw = b""
    if len(raw) != 32:
        raise ValidationError(
            f"{public_key!r} is not an Ed25519 public key", hint="pass 64 hexadecimal characters"
        )
    return raw.hex()


def register_key(workspace: Workspace, actor: str, public_key: str) -> tuple[RegisteredKey, bool]:
    """Register ``actor``'s public key (hex); return it and whether it was new.

    Registering the same key again does nothing.

    Raises:
        ValidationError: The key is malformed, or ``actor`` already has a different key.
    """
    if not actor or len(actor) > 200:
        raise ValidationError(f"actor name {actor!r} is invalid", hint="use 1-200 characters")
    public_key = _check_public_key(public_key)
    table = schema.ledger_keys
    with workspace.write() as conn:
        row = conn.execute(select(table).where(table.c.actor == actor)).first()
        if row is not None:
            if row.public_key != public_key:
                raise ValidationError(
                    f"{actor} already has a different signing key in this workspace",
                    hint="keep using that key, or create one for another actor with --actor",
                )
            return RegisteredKey(row.actor, row.public_key, row.created_at), False
        key = RegisteredKey(actor, public_key, time.time())
        conn.execute(
            table.insert(),
            {"actor": actor, "public_key": public_key, "created_at": key.created_at},
        )
        workspace.record(
            conn, "key.registered", f"key:{actor}", {"actor": actor, "public_key": public_key}
        )
    return key, True


def create_signing_key(
    workspace: Workspace, *, actor: str | None = None, path: Path | None = None
) -> CreatedKey:
    """Make sure ``actor`` has a private key file and its public half is registered in ``workspace``.

    An existing key file (for instance one made for another workspace) is reused, not overwritten.

    Args:
        workspace: Where the public key is registered.
        actor: Whose key; defaults to the workspace's actor.
        path: The private key's PEM file; defaults to ``default_key_path(actor)``.
    """
    actor = actor or workspace.actor
    path = path or default_key_path(actor)
    new_file = not path.exists()
    if new_file:
        generate_key(path)
    try:
        signer = load_signer(path, actor)
        key, registered = register_key(workspace, actor, signer.public_key_hex)
    except BaseException:
        if new_file:
            # A key nobody can register is of no use; leave no stray secret behind.
            path.unlink(missing_ok=True)
        raise
    return CreatedKey(key, path, new_file, registered)


def list_keys(workspace: Workspace) -> list[RegisteredKey]:
    """Every registered key, by actor."""
    table = schema.ledger_keys
    with workspace.read() as conn:
        rows = conn.execute(select(table).order_by(table.c.actor)).all()
    return [RegisteredKey(row.actor, row.public_key, row.created_at) for row in rows]
