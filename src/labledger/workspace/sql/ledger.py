"""The SQL ledger store: entries, signed checkpoints, consistency and inclusion proofs."""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, Any

from labledger._foundation.errors import ValidationError
from labledger.workspace.checkpoints import make_checkpoint
from labledger.workspace.ledger import iter_entries
from labledger.workspace.log_tree import extend_tree, tree_consistency_proof
from labledger.workspace.proofs import make_proof

if TYPE_CHECKING:
    from labledger.stores.ledger import Checkpoint, LedgerEntry
    from labledger.workspace.workspace import Workspace

__all__ = ["MAX_ENTRIES_PAGE", "SqlLedgerStore"]

MAX_ENTRIES_PAGE = 5000


class SqlLedgerStore:
    """``LedgerStore`` over a workspace's catalog."""

    def __init__(self, workspace: Workspace) -> None:
        self._workspace = workspace

    def entries(self, *, after_seq: int = 0, limit: int = MAX_ENTRIES_PAGE) -> list[LedgerEntry]:
        if after_seq < 0 or not 1 <= limit <= MAX_ENTRIES_PAGE:
            raise ValidationError(
                f"cannot list {limit} entries after #{after_seq}",
                hint=f"ask for 1-{MAX_ENTRIES_PAGE} entries after a sequence number >= 0",
            )
        with self._workspace.read() as conn:
            return list(
                itertools.islice(iter_entries(conn, after_seq=after_seq, batch=limit), limit)
            )

    def checkpoint(self) -> Checkpoint:
        return make_checkpoint(self._workspace)

    def consistency(self, old_size: int, new_size: int) -> list[str]:
        with self._workspace.write() as conn:
            size = extend_tree(conn)  # the stored tree is an index: bring it to the head
        if not 0 < old_size <= new_size <= size:
            raise ValidationError(
                f"no consistency proof from {old_size} to {new_size} entries: the ledger has "
                f"{size}",
                hint="ask for sizes with 0 < old <= new <= the size of a checkpoint of it",
            )
        with self._workspace.read() as conn:
            return tree_consistency_proof(conn, old_size, new_size)

    def proof(self, ref: str) -> dict[str, Any]:
        return make_proof(self._workspace, ref)
