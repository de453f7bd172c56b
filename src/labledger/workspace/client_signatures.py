"""Entries a server writes for a client, signed by the client's own key.

A server writes the ledger entries of a user's runs and artifacts (``run.started``, the seal,
``artifact.produced``, ``artifacts.produced``) beside the rows they describe. A client that holds a
signing key signs those bodies itself and sends them with the write; the route runs the store's
write inside ``signed_by_client(...)``, and ``Workspace.record`` then chains the client's body in
place of one of its own, in the same transaction, once three things hold:

- the body is the one the workspace would write: same kind, subject and payload (compared as
  canonical JSON), and its actor is the signed-in user (``attribution.requesting_user``);
- its signature holds against a key the ledger lets that user sign with now
  (``signed_entries.append_signed_entry``: registered, not revoked, not someone else's);
- every entry the write makes is signed: one the client did not sign refuses the whole write.

Any failure raises inside the transaction, so the write rolls back whole: a refused seal leaves its
run running. A seal's payload is computed by the server from the rows it holds, so the client asks
for it first: ``preparing_entries`` runs the same write, collects the entries it would make, and
stops it before the commit (``EntriesPrepared``), so the client signs exactly what will be written.
"""

from __future__ import annotations

import contextlib
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from labledger._foundation.canonical import canonical_text
from labledger._foundation.errors import ConflictError, PermissionDeniedError, ValidationError

if TYPE_CHECKING:
    from collections.abc import Collection, Iterator, Sequence

    from sqlalchemy import Connection

    from labledger.stores.ledger import EntryBody
    from labledger.workspace.ledger import LedgerEntry

__all__ = [
    "ClientSignatures",
    "EntriesPrepared",
    "PreparedEntry",
    "client_signatures",
    "preparing_entries",
    "signed_by_client",
]


@dataclass(frozen=True, slots=True)
class PreparedEntry:
    """An entry a write would make, for its client to sign: kind, subject and payload."""

    kind: str
    subject: str
    payload: dict[str, Any]


class EntriesPrepared(Exception):
    """Raised inside a write run under ``preparing_entries`` once its last entry is known, so
    the transaction rolls back; carries the entries the write would have made."""

    def __init__(self, entries: list[PreparedEntry]) -> None:
        super().__init__(f"{len(entries)} entries prepared")
        self.entries = entries


@dataclass
class ClientSignatures:
    """The signed bodies a client sent with one write (commit), or the entries a write would
    make (prepare, stopping at ``stop_at``)."""

    signed: dict[tuple[str, str], tuple[EntryBody, str]] = field(default_factory=dict)
    stop_at: str | None = None
    prepared: list[PreparedEntry] = field(default_factory=list)

    @property
    def preparing(self) -> bool:
        return self.stop_at is not None

    def record(
        self, conn: Connection, kind: str, subject: str, payload: dict[str, Any], user: str | None
    ) -> LedgerEntry:
        """Chain the client's signed body for this entry (see the module's docstring).

        Raises:
            EntriesPrepared: Preparing, and this is the entry to stop at.
            ConflictError: The client signed no body for this entry, or another payload.
            PermissionDeniedError: The body is in another user's name, or its signature or key
                is refused.
        """
        if self.preparing:
            self.prepared.append(PreparedEntry(kind, subject, payload))
            if kind == self.stop_at:
                raise EntriesPrepared(self.prepared)
            from labledger.workspace.ledger import append_entry

            # Chained unsigned only for the rest of the write to see it: the write stops at
            # ``stop_at`` and rolls back.
            return append_entry(conn, kind, subject=subject, payload=payload, actor=user or "")
        found = self.signed.pop((kind, subject), None)
        if found is None:
            raise ConflictError(
                f"this write makes an entry {kind} for {subject} that the request did not sign, "
                "so nothing was written",
                hint="ask for the bodies to sign again (a run's changed since its seal was "
                "prepared) and send the write with their signatures",
            )
        body, signature = found
        if body.actor != user:
            raise PermissionDeniedError(
                f"the {kind} entry is signed in the name of {body.actor!r}, but you are {user!r}",
                hint="sign entries in your own name (the server's name for you: GET /api/v1/me)",
            )
        if canonical_text(body.payload) != canonical_text(payload):
            raise ConflictError(
                f"the signed {kind} entry for {subject} is not the one the server would write "
                "from the rows it holds, so nothing was written",
                hint="ask for the bodies to sign again and sign what the server answers",
            )
        from labledger.workspace.signed_entries import append_signed_entry

        try:
            return append_signed_entry(conn, body, signature)
        except PermissionDeniedError as refused:
            raise PermissionDeniedError(
                f"{refused.message}; nothing was written",
                hint="sign with a key registered for you and not revoked (`labledger keys list "
                "-w URL`; `labledger keys add -w URL` registers yours), or work without a key "
                "(unset LABLEDGER_SIGNING_KEY) to have the server sign; a run being ended is "
                "still running: end it again",
            ) from None


_current: ContextVar[ClientSignatures | None] = ContextVar(
    "labledger_client_signatures", default=None
)


def client_signatures() -> ClientSignatures | None:
    """The client's signatures for the write under way, or ``None`` (the workspace signs)."""
    return _current.get()


@contextlib.contextmanager
def _using(signatures: ClientSignatures) -> Iterator[ClientSignatures]:
    token = _current.set(signatures)
    try:
        yield signatures
    finally:
        _current.reset(token)


@contextlib.contextmanager
def signed_by_client(
    bodies: Sequence[tuple[EntryBody, str]], *, expected: Collection[tuple[str, str]]
) -> Iterator[None]:
    """Chain the client's signed ``bodies`` for the entries the writes inside the block make.

    With no bodies (a client without a key) the workspace writes and signs as it does for
    itself.

    Args:
        bodies: The signed bodies and their signatures.
        expected: The ``(kind, subject)`` of every entry the write may make.

    Raises:
        ValidationError: A body is for an entry this write does not make, or two bodies are
            for the same entry.
    """
    if not bodies:
        yield
        return
    signed: dict[tuple[str, str], tuple[EntryBody, str]] = {}
    for body, signature in bodies:
        key = (body.kind, body.subject)
        if key not in expected or key in signed:
            raise ValidationError(
                f"the request signs a {body.kind} entry for {body.subject}, which this write "
                + ("makes once" if key in signed else "does not make"),
                hint="sign exactly the entries the write makes (for a finish: what "
                "POST /api/v1/runs/{id}/seal-entries answers)",
            )
        signed[key] = (body, signature)
    with _using(ClientSignatures(signed)):
        yield


@contextlib.contextmanager
def preparing_entries(stop_at: str) -> Iterator[ClientSignatures]:
    """Collect the entries the writes inside the block make, up to the first of kind
    ``stop_at``, which raises ``EntriesPrepared`` and so rolls its transaction back."""
    with _using(ClientSignatures(stop_at=stop_at)) as signatures:
        yield signatures
