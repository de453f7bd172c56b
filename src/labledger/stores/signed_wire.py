"""How entries a client signs travel with the writes they describe.

A client that holds a signing key sends, with a run's create, its finish and an artifact batch,
the bodies of the ledger entries the server is to write for them (``Signer.sign_body`` over kind,
actor, subject, payload, time and key id) and their signatures. A seal's payload is the server's
to compute, so the client first asks for the entries a finish would make (``PreparedOut``), signs
them and sends the finish with them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from labledger._foundation.canonical import canonical_text
from labledger.stores.ledger import EntryBody

__all__ = ["MAX_SIGNED", "EntrySigner", "PreparedEntryOut", "PreparedOut", "SignedBodyIn"]

MAX_SIGNED = 1000
"""The most signed bodies one write carries (an artifact batch's limit)."""

EntrySigner = Callable[[str, str, dict[str, Any]], dict[str, Any]]
"""``(kind, subject, payload)`` -> a new body signed in the signed-in user's name, as a request
carries it (``SignedBodyIn.wire``)."""


class SignedBodyIn(BaseModel):
    """An entry body its actor signed (``Signer.sign_body``) and the signature (``v2:...``)."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=36)
    kind: str = Field(min_length=1, max_length=60)
    actor: str = Field(min_length=1, max_length=200)
    subject: str = Field(min_length=1, max_length=120)
    payload: dict[str, Any] = Field(max_length=1000)
    created_at: float = Field(ge=0, le=1e11, strict=True)
    key_id: str = Field(pattern=r"^[0-9a-f]{64}$")
    signature: str = Field(min_length=1, max_length=128)

    def body(self) -> EntryBody:
        """The signed body."""
        return EntryBody(
            self.id, self.kind, self.actor, self.subject, self.payload, self.created_at, self.key_id
        )

    def signed(self) -> tuple[EntryBody, str]:
        """The body and its signature."""
        return self.body(), self.signature

    @classmethod
    def wire(cls, body: EntryBody, signature: str) -> dict[str, Any]:
        """``body`` and ``signature`` as a request carries them."""
        return {**body.fields(), "signature": signature}


class PreparedEntryOut(BaseModel):
    """An entry a write would make, for the signed-in client to sign."""

    kind: str
    subject: str
    payload: dict[str, Any]

    @field_validator("payload")
    @classmethod
    def _canonical(cls, payload: dict[str, Any]) -> dict[str, Any]:
        # As the ledger hashes it (canonical JSON: an infinite or NaN value as the strings
        # "Infinity", "-Infinity", "NaN"), so what the client signs is what the server writes;
        # JSON itself has no such numbers.
        return dict(json.loads(canonical_text(payload)))


class PreparedOut(BaseModel):
    """The entries a finish would make, in the order it makes them (the seal last)."""

    entries: list[PreparedEntryOut]
