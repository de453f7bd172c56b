"""``HttpLedgerStore``: the ``LedgerStore`` of a server's workspace, over ``/api/v1/ledger``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from labledger.stores.ledger import Checkpoint, LedgerEntry

if TYPE_CHECKING:
    from labledger.stores.ledger import EntryBody
    from labledger.workspace.http.client import Client

__all__ = ["HttpLedgerStore"]

_ROUTE = "/api/v1/ledger"


class HttpLedgerStore:
    """A server's ledger, read to check it (see ``labledger.workspace.ledger_check``), and
    appended to with entries the signed-in user signed."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def entries(self, *, after_seq: int = 0, limit: int = 5000) -> list[LedgerEntry]:
        page = self._client.call(
            "GET",
            f"{_ROUTE}/entries",
            model=dict,
            params={"after_seq": after_seq, "max_results": limit},
        )
        return [LedgerEntry(**item) for item in page["items"]]

    def checkpoint(self) -> Checkpoint:
        # Signing one writes a row, but asking again is harmless: safe to retry.
        document = self._client.call("POST", f"{_ROUTE}/checkpoints", model=dict, idempotent=True)
        return Checkpoint.from_dict(document)

    def consistency(self, old_size: int, new_size: int) -> list[str]:
        answer = self._client.call(
            "GET",
            f"{_ROUTE}/consistency",
            model=dict,
            params={"old_size": old_size, "new_size": new_size},
        )
        return [str(h) for h in answer["proof"]]

    def served_check(self, *, blobs: bool = True) -> dict[str, Any]:
        """The server's re-check of its own chain, rows, run records and (with ``blobs``) blobs
        (``POST /api/v1/ledger/verify``, administrators): ``ok``, counts and ``problems``."""
        report: dict[str, Any] = self._client.call(
            "POST", f"{_ROUTE}/verify", model=dict, params={"blobs": blobs}, idempotent=True
        )
        return report

    def proof(self, ref: str) -> dict[str, Any]:
        document: dict[str, Any] = self._client.call(
            "GET", f"{_ROUTE}/proofs/{quote(ref, safe='')}", model=dict
        )
        return document

    def append_signed(self, body: EntryBody, signature: str) -> LedgerEntry:
        # Not retried: a second copy of a body that did land is refused as a replay (409).
        entry: LedgerEntry = self._client.call(
            "POST",
            f"{_ROUTE}/entries",
            {**body.fields(), "signature": signature},
            model=LedgerEntry,
        )
        return entry
