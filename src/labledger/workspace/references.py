"""Every blob digest the catalog and the ledger refer to, not only the ``blobs`` table's rows.

``verify`` re-hashes, and ``gc`` keeps, the union of: the ``blobs`` table; each artifact's digest
(a tree artifact's manifest, and the blobs its manifest lists); each task's log and logged-values
blobs; each pipeline run's code snapshot (a tree), environment lock and key facts; and every digest
an ``artifact.produced`` or ``artifacts.produced`` ledger entry names. So a deleted ``blobs`` row can neither hide a missing
blob from ``verify`` nor let ``gc`` delete bytes a committed row still needs.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from sqlalchemy import select

from labledger._foundation.errors import LabledgerError
from labledger.workspace import schema

if TYPE_CHECKING:
    from collections.abc import Iterable

    from sqlalchemy import Connection

    from labledger.workspace.blobstore import BlobStore

__all__ = ["referenced_blobs", "tree_entries"]

_TREE_KINDS = frozenset({"tree", "folder"})


def referenced_blobs(conn: Connection) -> dict[str, bool]:
    """Digest -> whether it is a tree manifest, for every blob a row or an entry names."""
    found: dict[str, bool] = {}

    def add(digests: Iterable[str | None], tree: bool = False) -> None:
        for digest in digests:
            if digest:
                found[digest] = found.get(digest, False) or tree

    add(conn.execute(select(schema.blobs.c.digest)).scalars())
    a = schema.artifacts
    for digest, kind in conn.execute(select(a.c.digest, a.c.kind)):
        add([digest], kind in _TREE_KINDS)
    t = schema.tasks
    for log_digest, logged in conn.execute(select(t.c.log_digest, t.c.logged_digest)):
        add([log_digest, logged])
    p = schema.pipeline_runs
    for code, lock, facts in conn.execute(
        select(p.c.code_digest, p.c.lock_digest, p.c.facts_digest)
    ):
        add([code], True)
        add([lock, facts])
    ledger = schema.ledger
    for kind, payload in conn.execute(
        select(ledger.c.kind, ledger.c.payload_json).where(
            ledger.c.kind.in_(("artifact.produced", "artifacts.produced"))
        )
    ):
        try:
            document = json.loads(payload)
            named = (
                [document.get("digest")]
                if kind == "artifact.produced"
                else [item[2] for item in document.get("artifacts") or ()]
            )
        except (ValueError, AttributeError, TypeError, IndexError, RecursionError):
            continue
        add([d for d in named if isinstance(d, str)])
    return found


def tree_entries(store: BlobStore, digest: str) -> list[str]:
    """The blob digests a tree manifest lists (none if it is missing or unreadable)."""
    try:
        with store.open(digest) as handle:
            document = json.loads(handle.read())
    except (OSError, ValueError, LabledgerError):
        return []
    entries = document.get("entries") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        return []
    return [
        e["digest"] for e in entries if isinstance(e, dict) and isinstance(e.get("digest"), str)
    ]
