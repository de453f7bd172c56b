"""The SQL ledger store: entries, signed checkpoints, consistency and inclusion proofs."""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, Any

from labledger._foundation.errors import IntegrityError, ValidationError
from labledger.workspace.checkpoints import make_checkpoint
from labledger.workspace.ledger import iter_entries, walk_entries
from labledger.workspace.log_tree import extend_tree, tree_consistency_proof
from labledger.workspace.proofs import make_proof
from labledger.workspace.signed_entries import append_signed_entry, check_client_kind

if TYPE_CHECKING:
    from labledger.stores.ledger import Checkpoint, EntryBody, LedgerEntry
    from labledger.workspace.workspace import Workspace

__all__ = ["MAX_ENTRIES_PAGE", "SqlLedgerStore"]

MAX_ENTRIES_PAGE = 5000


class SqlLedgerStore:
    """``LedgerStore`` over a workspace's catalog."""

    def __init__(self, workspace: Workspace) -> None:
        self._workspace = workspace
        # How far this process has re-derived the root from the entries themselves.
        self._checked_size = 0

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
        """A new signed checkpoint; the first one this process signs is held to the entries.

        The signer's tip (``tip.py``) only checks entries appended since it last looked, so an
        entry edited in place while no process was running would not change what it signs. The
        first checkpoint of each process therefore walks every entry and refuses to hand out a
        root the entries no longer produce; later ones extend what was walked. While the
        ledger does not move, the stored checkpoint is handed out again rather than a new row
        written for each request.
        """
        made = make_checkpoint(self._workspace, reuse=True)
        if not self._checked_size:
            with self._workspace.read() as conn:
                walk = walk_entries(
                    itertools.islice(iter_entries(conn), made.size), sizes=[made.size]
                )
            if walk.problems or walk.roots.get(made.size) != made.root:
                first = walk.problems[0] if walk.problems else None
                where = f" (entry #{first.seq}: {first.reason})" if first else ""
                raise IntegrityError(
                    f"the ledger's entries no longer produce the root this workspace signed for "
                    f"its {made.size} entries{where}: entries were edited in place",
                    hint="run `labledger verify` where the workspace is, and restore the catalog "
                    "from a backup",
                )
        self._checked_size = max(self._checked_size, made.size)
        return made

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

    def append_signed(self, body: EntryBody, signature: str) -> LedgerEntry:
        check_client_kind(body.kind)
        with self._workspace.write() as conn:
            return append_signed_entry(conn, body, signature)
