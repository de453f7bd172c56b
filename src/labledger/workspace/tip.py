"""The ledger's tip as this user's own processes derived it: what checkpoints are signed over.

A checkpoint's root must come from the entries themselves, never from the catalog's stored tree
(which anyone who can write the catalog can forge, and a signature would then vouch for the
forgery). Recomputing the root from every entry at each run's end would cost time linear in the
ledger, so each user keeps a **tip**: the size, the chained hash of the last entry, and the Merkle
tree's compact range (one hash per set bit of the size). Extending it reads only the entries added
since, checks that each chains to the one before (``prev_hash`` and ``hash``), and folds their
leaves in.

The tip lives in memory on the ``Workspace`` and in the per-user state folder (next to what
``verify`` remembers), written at most about once a second and when the workspace closes. A user
who has none yet derives it once from every entry.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from labledger._foundation.canonical import canonical_text
from labledger.workspace.ledger import GENESIS_HASH, iter_entries, note_head, row_leaf
from labledger.workspace.merkle import RootBuilder, leaf_hash
from labledger.workspace.sqlite_driver import driver_connection
from labledger.workspace.verify_state import state_path, write_state_file

if TYPE_CHECKING:
    from collections.abc import Iterator

    from sqlalchemy import Connection

    from labledger.workspace.workspace import Workspace

__all__ = ["LedgerMoved", "Tip", "advance_tip", "save_tip"]

_SAVE_EVERY_S = 1.0
_SQLITE_ENTRIES = (
    "SELECT seq, id, kind, actor, subject, payload_json, created_at, prev_hash, hash "
    "FROM ledger WHERE seq > ? ORDER BY seq"
)


class LedgerMoved(Exception):
    """The ledger no longer extends the tip this user saw: cut, rewritten, or replaced."""


@dataclass(slots=True)
class Tip:
    """Size, head hash and compact range of the ledger as derived from its entries."""

    workspace: str
    size: int
    head: str
    builder: RootBuilder
    saved_at: float = 0.0
    dirty: bool = False

    @property
    def root(self) -> str:
        return self.builder.root().hex()


def _load(workspace: Workspace, workspace_id: str) -> Tip:
    try:
        document: Any = json.loads(state_path(workspace, "tip").read_text(encoding="utf-8"))
        if document["workspace"] == workspace_id:
            size = int(document["size"])
            builder = RootBuilder.from_state(size, document["range"])
            return Tip(workspace_id, size, str(document["head"]), builder, time.time())
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return Tip(workspace_id, 0, GENESIS_HASH, RootBuilder())


def save_tip(workspace: Workspace, tip: Tip) -> None:
    """Write ``tip`` to the state folder (best effort: an unwritable folder costs only speed)."""
    path = state_path(workspace, "tip")
    document = {
        "workspace": tip.workspace,
        "size": tip.size,
        "head": tip.head,
        "range": tip.builder.state(),
    }
    write_state_file(path, document)
    tip.saved_at, tip.dirty = time.time(), False


def _rows(conn: Connection, after: int) -> Iterator[tuple[Any, ...]]:
    db = driver_connection(conn)
    if db is not None:
        yield from db.execute(_SQLITE_ENTRIES, (after,))
        return
    for e in iter_entries(conn, after_seq=after):
        yield (
            e.seq,
            e.id,
            e.kind,
            e.actor,
            e.subject,
            e.payload,
            e.created_at,
            e.prev_hash,
            e.hash,
        )


def advance_tip(workspace: Workspace, conn: Connection, workspace_id: str) -> Tip:
    """The tip extended to every entry ``conn`` sees, each checked to chain to the one before.

    Raises:
        LedgerMoved: An entry does not chain to the tip (entries cut, rewritten or replaced since
            this user last saw them).
    """
    tip: Tip | None = workspace.ledger_tip
    if tip is None or tip.workspace != workspace_id:
        tip = _load(workspace, workspace_id)
    size, head, builder = tip.size, tip.head, tip.builder.copy()
    # The tip's own entry comes first (one read for it and those after it): it must be there
    # as this user saw it.
    rows = _rows(conn, max(size - 1, 0))
    if size and next((row[8] for row in rows if row[0] == size), None) != head:
        raise LedgerMoved(
            f"ledger entry #{size} is gone or changed since this user last saw it (cut or rewritten)"
        )
    for seq, id_, kind, actor, subject, payload, created_at, prev_hash, hash_ in rows:
        if seq != size + 1 or prev_hash != head:
            raise LedgerMoved(
                f"ledger entry #{seq} does not follow entry #{size} as this user last saw it"
            )
        text = payload if isinstance(payload, str) else canonical_text(payload)
        leaf, matches = row_leaf(id_, kind, actor, subject, text, created_at, prev_hash, hash_)
        if not matches:
            raise LedgerMoved(f"ledger entry #{seq}'s content does not match its hash")
        builder.add(leaf_hash(leaf))
        size, head = seq, hash_
    note_head(conn, (size, head))  # the ledger's head, when this transaction holds its lock
    fresh = Tip(
        workspace_id, size, head, builder, tip.saved_at, dirty=size != tip.size or tip.dirty
    )
    workspace.ledger_tip = fresh
    if fresh.dirty and time.time() - fresh.saved_at >= _SAVE_EVERY_S:
        save_tip(workspace, fresh)
    return fresh
