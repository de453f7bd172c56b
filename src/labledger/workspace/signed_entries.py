"""Chaining ledger entries their actors signed elsewhere, before the chain's head was known.

A client of a server signs an entry's body (``EntryBody``, ``Signer.sign_body``) and sends it with
its signature; ``append_signed_entry`` places it after the head, in the caller's transaction, once
the signature holds against the key history the ledger itself records. A signed body is accepted
once, and only near its own time, so it cannot be replayed.

A service that writes rows with their entry (a run and its ``run.started``) calls
``append_signed_entry`` in its own transaction in place of ``Workspace.record``; a client's
free-standing statement (``POST /api/v1/ledger/entries``) goes through ``check_client_kind``
first, so it cannot pass for an entry the workspace writes beside its own rows.
"""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING

from sqlalchemy import select

from labledger._foundation.errors import ConflictError, PermissionDeniedError, ValidationError
from labledger.workspace import schema
from labledger.workspace.key_history import KEY_KINDS, KeyHistory
from labledger.workspace.ledger import LedgerEntry, chain_entry, iter_entries, ledger_head
from labledger.workspace.signing import is_body_signature

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from labledger.workspace.signing import EntryBody

__all__ = [
    "MAX_CLOCK_SKEW",
    "WORKSPACE_KIND_PREFIXES",
    "append_signed_entry",
    "check_client_kind",
    "ledger_key_history",
]

# How far a signed body's time may be from the ledger's clock (seconds).
MAX_CLOCK_SKEW = 300.0

# Kinds the workspace writes itself, beside the rows they describe (or, for keys and users, that
# change whose signatures count): a client's free-standing signed entry may not take one of them.
WORKSPACE_KIND_PREFIXES = (
    "artifact.",
    "artifacts.",
    "checkpoint.",
    "collection.",
    "key.",
    "metadata.",
    "pipeline.",
    "project.",
    "role.",
    "run.",
    "task.",
    "token.",
    "user.",
    "workspace.",
)


_KIND = re.compile(r"[a-z0-9_.-]+")


def check_client_kind(kind: str) -> None:
    """Refuse a kind the workspace writes itself for a client's free-standing signed entry, and
    a kind that is not plain lowercase ``[a-z0-9_.-]`` (``" Run.finished"`` is no way around the
    reservation: a signed kind cannot be normalised, so it is refused).

    Raises:
        ValidationError: ``kind`` is not lowercase ``[a-z0-9_.-]+``, or is or starts with one of
            ``WORKSPACE_KIND_PREFIXES`` (``checkpoint`` as well as ``checkpoint.x``).
    """
    if not isinstance(kind, str) or _KIND.fullmatch(kind) is None:
        raise ValidationError(
            f"the entry kind {kind!r} is not lowercase letters, digits, '_', '.' and '-'",
            hint="use a kind such as review.approved, and sign the entry again",
        )
    if kind.startswith(WORKSPACE_KIND_PREFIXES) or f"{kind}." in WORKSPACE_KIND_PREFIXES:
        raise ValidationError(
            f"entries of kind {kind!r} are written by the workspace with the rows they describe, "
            "not appended on their own",
            hint="use a kind of your own (e.g. review.approved); runs, artifacts and keys carry "
            "their signatures through their own routes",
        )


def ledger_key_history(conn: Connection) -> KeyHistory:
    """The key history the ledger's key entries make, as of now (see ``key_history``)."""
    history = KeyHistory()
    for entry in iter_entries(conn, kinds=KEY_KINDS):
        history.check(entry)
    return history


def append_signed_entry(
    conn: Connection, body: EntryBody, signature: str, *, now: float | None = None
) -> LedgerEntry:
    """Chain a body its actor signed beforehand (``Signer.sign_body``), inside ``conn``'s transaction.

    What a server does for its clients: they sign without knowing the chain's head, the ledger
    places the entry. The signature must hold for the body and be by a key the ledger's own key
    history lets ``body.actor`` sign with now (registered or rotated to, not revoked); a
    ``key.registered`` body may be signed by the key it registers. The body's time must be
    within ``MAX_CLOCK_SKEW`` of the ledger's clock, and its id new to the ledger, so a signed
    body cannot be replayed later or twice.

    Args:
        conn: A write transaction.
        body: The signed body.
        signature: Its signature as ``Signer.sign_body`` returns it (``v2:...``).
        now: The ledger's clock (default: ``time.time()``).

    Raises:
        ValidationError: The body is malformed or stale, or its signature is not a body
            signature.
        ConflictError: The body is in the ledger already (a replay).
        PermissionDeniedError: Its signature is not valid, or not by a key ``body.actor`` may
            sign with now.
    """
    _check_body(body, signature)
    now = time.time() if now is None else now
    if not abs(body.created_at - now) <= MAX_CLOCK_SKEW:
        raise ValidationError(
            f"the signed entry {body.id} is dated {body.created_at - now:+.0f} s from now; the "
            f"ledger accepts bodies within {MAX_CLOCK_SKEW:.0f} s of its clock",
            hint="sign a new body now (EntryBody.new), and check the signer's clock",
        )
    head = ledger_head(conn)  # takes the ledger lock: the checks below hold until the commit
    table = schema.ledger
    if conn.execute(select(table.c.seq).where(table.c.id == body.id)).first() is not None:
        raise ConflictError(
            f"the ledger holds entry {body.id} already: a signed body is appended once",
            hint="sign a new body (EntryBody.new) for a new entry",
        )
    history = ledger_key_history(conn)
    _check_key(history, body)
    entry = LedgerEntry(
        head[0] + 1, body.id, body.kind, body.actor, body.subject, body.payload,
        body.created_at, head[1], "", signature,
    )  # fmt: skip
    problems = history.check(entry)
    if problems:
        raise PermissionDeniedError(
            f"the signed entry {body.id} is refused: {'; '.join(problems)}",
            hint="sign the body with the actor's current registered key (`labledger keys list`)",
        )
    return chain_entry(
        conn, body.id, body.kind, body.actor, body.subject, body.payload, body.created_at,
        signature, head,
    )  # fmt: skip


def _check_body(body: EntryBody, signature: str) -> None:
    limits = (("id", body.id, 36), ("kind", body.kind, 60), ("actor", body.actor, 200))
    for name, value, most in (*limits, ("subject", body.subject, 120)):
        if not isinstance(value, str) or not value or len(value) > most:
            raise ValidationError(
                f"the signed entry's {name} {value!r} is invalid", hint=f"use 1-{most} characters"
            )
    if not isinstance(body.payload, dict) or not isinstance(body.created_at, int | float):
        raise ValidationError(
            "the signed entry's payload must be a JSON object and its time a number",
            hint="make the body with EntryBody.new",
        )
    if not isinstance(signature, str) or not is_body_signature(signature):
        raise ValidationError(
            "a pre-signed entry needs a body signature (v2:...)",
            hint="sign it with Signer.sign_body; chained-hash signatures need the chain's head",
        )


def _check_key(history: KeyHistory, body: EntryBody) -> None:
    """Refuse, with the reason, a key id the ledger does not let ``body.actor`` sign with."""
    if body.key_id in history.valid.get(body.actor, ()):
        return
    if body.kind == "key.registered" and body.payload.get("public_key") == body.key_id:
        return  # a registration signed by the key it registers; the history checks the rest
    owners = sorted(a for a, keys in history.valid.items() if body.key_id in keys)
    if body.key_id in history.revoked:
        why = "was revoked or rotated out"
    elif owners:
        why = f"belongs to {', '.join(owners)}, not {body.actor}"
    else:
        why = f"is not registered for {body.actor} in the ledger"
    raise PermissionDeniedError(
        f"the signed entry {body.id} is refused: its key {body.key_id[:16]}... {why}",
        hint="sign with the actor's current key; `labledger keys create` registers one",
    )
