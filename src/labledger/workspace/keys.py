"""Registering, rotating and revoking actors' public signing keys, and exporting trusted keys.

A key is registered once per actor, in the ledger (entry ``key.registered``) and, as a hint for
people, in the catalog table ``ledger_keys``. Registering a different key for an actor is refused;
``rotate_key`` replaces it by an entry signed with the old key, and ``revoke_key`` withdraws a key.
``verify`` reads the key history from the ledger alone (see ``key_history``).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import select

from labledger._foundation.errors import ConflictError, ValidationError
from labledger.workspace import schema
from labledger.workspace.ledger import append_entry, lock_ledger
from labledger.workspace.signed_entries import ledger_key_history
from labledger.workspace.signing import default_key_path, generate_key, load_signer
from labledger.workspace.trusted_keys import TrustedKey

if TYPE_CHECKING:
    from pathlib import Path

    from labledger.workspace.signing import Signer
    from labledger.workspace.workspace import Workspace

__all__ = [
    "CreatedKey",
    "RegisteredKey",
    "create_signing_key",
    "list_keys",
    "register_key",
    "revoke_key",
    "rotate_key",
    "trusted_keys",
]


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


def register_key(
    workspace: Workspace, actor: str, public_key: str, *, signer: Signer | None = None
) -> tuple[RegisteredKey, bool]:
    """Register ``actor``'s public key (hex); return it and whether it was new.

    The ``key.registered`` entry is written in ``actor``'s name, signed by ``signer`` (the key
    being registered, when the caller holds it). Registering the same key again does nothing.

    Raises:
        ValidationError: The key is malformed, or ``actor`` already has a different key.
    """
    if not actor or len(actor) > 200:
        raise ValidationError(f"actor name {actor!r} is invalid", hint="use 1-200 characters")
    public_key = _check_public_key(public_key)
    table = schema.ledger_keys
    with workspace.write() as conn:
        # The ledger's lock first: a writer registering the same key at the same moment (a
        # server's first seals, replicas starting together) waits, then finds it registered.
        lock_ledger(conn)
        row = conn.execute(select(table).where(table.c.actor == actor)).first()
        if row is not None:
            if row.public_key != public_key:
                raise ConflictError(
                    f"{actor} already has a different signing key in this workspace",
                    hint="keep using that key, or create one for another actor with --actor",
                )
            return RegisteredKey(row.actor, row.public_key, row.created_at), False
        key = RegisteredKey(actor, public_key, time.time())
        conn.execute(
            table.insert(),
            {"actor": actor, "public_key": public_key, "created_at": key.created_at},
        )
        append_entry(
            conn,
            "key.registered",
            subject=f"key:{actor}",
            payload={"actor": actor, "public_key": public_key},
            actor=actor,
            signer=signer,
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
        key, registered = register_key(workspace, actor, signer.public_key_hex, signer=signer)
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


def rotate_key(workspace: Workspace, new_path: Path | None = None) -> RegisteredKey:
    """Replace the signing key of the workspace's actor with a new one, by a signed ledger entry.

    The ``key.rotated`` entry is signed by the current key, so a reader who trusts the old key
    trusts the new one; entries signed by the old key afterwards fail. By default the new key takes
    the current key's file (the old one is kept beside it as ``NAME.rotated-TIME``), so
    ``LABLEDGER_SIGNING_KEY`` needs no change.

    Raises:
        ValidationError: No signing key is loaded, it is not the actor's registered key, or
            ``new_path`` exists already.
    """
    signer = workspace.signer
    if signer is None:
        raise ValidationError(
            "rotating a key needs the current one",
            hint="set LABLEDGER_SIGNING_KEY to the current key's PEM file",
        )
    in_place = new_path is None
    target = new_path or signer.path
    if target is None:
        raise ValidationError("say where the new key goes", hint="pass --path FILE")
    written = target.with_name(f".{target.name}.new") if in_place else target
    if written.exists() and not in_place:
        raise ValidationError(
            f"{written} exists already", hint="name a new file for the new key with --path"
        )
    written.unlink(missing_ok=True)
    generate_key(written)
    new_signer = load_signer(written, signer.actor)
    table = schema.ledger_keys
    try:
        with workspace.write() as conn:
            row = conn.execute(select(table).where(table.c.actor == signer.actor)).first()
            if row is None or row.public_key != signer.public_key_hex:
                raise ValidationError(
                    f"the loaded signing key is not {signer.actor}'s registered key",
                    hint="`labledger keys list` shows the registered keys",
                )
            workspace.record(
                conn,
                "key.rotated",
                f"key:{signer.actor}",
                {
                    "actor": signer.actor,
                    "old_key": signer.public_key_hex,
                    "new_key": new_signer.public_key_hex,
                },
            )
            now = time.time()
            conn.execute(
                table.update()
                .where(table.c.actor == signer.actor)
                .values(public_key=new_signer.public_key_hex, created_at=now)
            )
    except BaseException:
        written.unlink(missing_ok=True)
        raise
    if in_place:
        kept = target.with_name(f"{target.name}.rotated-{time.strftime('%Y%m%d%H%M%S')}")
        os.replace(target, kept)
        os.replace(written, target)
        new_signer = load_signer(target, signer.actor)
    workspace.signer = new_signer
    return RegisteredKey(signer.actor, new_signer.public_key_hex, now)


def revoke_key(workspace: Workspace, actor: str, public_key: str, reason: str) -> None:
    """Revoke ``actor``'s key: it signs nothing valid after this entry (signed by your own key).

    Raises:
        ValidationError: No signing key is set to sign the revocation, or the key is malformed.
    """
    public_key = _check_public_key(public_key)
    if workspace.signer is None:
        raise ValidationError(
            "a revocation must be signed",
            hint="set LABLEDGER_SIGNING_KEY to your own (registered) key",
        )
    table = schema.ledger_keys
    with workspace.write() as conn:
        workspace.record(
            conn,
            "key.revoked",
            f"key:{actor}",
            {"actor": actor, "public_key": public_key, "reason": reason},
        )
        conn.execute(table.delete().where(table.c.actor == actor, table.c.public_key == public_key))


def trusted_keys(workspace: Workspace) -> list[TrustedKey]:
    """Every key the ledger currently lets sign, with the entry that registered (or rotated) it.

    What ``labledger keys export`` writes: check it, keep it somewhere the workspace's writers
    cannot change, and pass it to ``verify --trusted-keys``.
    """
    with workspace.read() as conn:
        history = ledger_key_history(conn)
    return [
        TrustedKey(actor, key, history.registered.get((actor, key)))
        for actor, keys in sorted(history.valid.items())
        for key in sorted(keys)
    ]
