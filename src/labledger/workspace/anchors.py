"""Checking the ledger against what was seen of it before: checkpoints and this user's last verify.

A hash chain alone cannot show that its end was cut, or that the whole chain was re-hashed. An
anchor kept elsewhere can: a checkpoint (size and Merkle root) proves that the first ``size``
entries are still exactly those it saw. The ledger is walked once (``walk_chain``), which yields the
root at each size asked for; each anchor is then a comparison, named in plain words.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from sqlalchemy import select

from labledger.workspace import schema
from labledger.workspace.checkpoints import checkpoint_signature_problems
from labledger.workspace.log_tree import tree_root, tree_size

if TYPE_CHECKING:
    from collections.abc import Sequence

    from sqlalchemy import Connection

    from labledger.workspace.checkpoints import Checkpoint
    from labledger.workspace.ledger import ChainWalk
    from labledger.workspace.trusted_keys import TrustedKey
    from labledger.workspace.verify_state import VerifiedState

__all__ = [
    "check_anchor",
    "check_checkpoint",
    "check_remembered",
    "check_stored",
    "stored_checkpoint_sizes",
]


def _when(timestamp: float) -> str:
    return dt.datetime.fromtimestamp(timestamp, tz=dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def check_anchor(walk: ChainWalk, size: int, root: str, what: str) -> str | None:
    """Why the ledger does not extend ``(size, root)``, described as ``what``; ``None`` if it does."""
    if size > walk.checked:
        cut = size - walk.checked
        return (
            f"{what} covers {size} entries, but the ledger now holds {walk.checked}: "
            f"{cut} entr{'y was' if cut == 1 else 'ies were'} cut from its end "
            f"(#{walk.checked + 1} onwards; or removed elsewhere and the chain re-hashed), "
            "or this is another copy of the workspace"
        )
    if size and walk.roots.get(size) != root:
        return (
            f"the ledger's first {size} entries no longer match {what}: entries up to #{size} "
            "were rewritten or re-hashed, or this ledger is a fork of the one it was made from"
        )
    return None


def check_checkpoint(
    walk: ChainWalk,
    checkpoint: Checkpoint,
    workspace_id: str,
    trusted: Sequence[TrustedKey] | None,
) -> list[str]:
    """Problems proving the ledger extends ``checkpoint``."""
    what = f"the checkpoint of {_when(checkpoint.time)}"
    problems: list[str] = []
    if checkpoint.workspace != workspace_id:
        problems.append(
            f"{what} is of workspace {checkpoint.workspace}, but this one is {workspace_id}"
        )
    problems += [f"{what}: {p}" for p in checkpoint_signature_problems(checkpoint, trusted)]
    found = check_anchor(walk, checkpoint.size, checkpoint.root, what)
    if found:
        problems.append(found)
    return problems


def check_remembered(walk: ChainWalk, state: VerifiedState, workspace_id: str) -> list[str]:
    """Problems proving the ledger extends what this user last verified."""
    what = f"what you verified on {_when(state.verified_at)}"
    problems: list[str] = []
    if state.workspace != workspace_id:
        problems.append(
            f"this workspace's id is {workspace_id}, but when you verified it on "
            f"{_when(state.verified_at)} it was {state.workspace}: its catalog was replaced"
        )
        return problems
    found = check_anchor(walk, state.size, state.root, what)
    if found:
        problems.append(found)
    for actor, key, entry_id in state.keys:
        if walk.registered.get((actor, key)) != entry_id:
            problems.append(
                f"{actor}'s signing key {key[:16]}..., registered by entry {entry_id} when you "
                "last verified, is no longer registered so: registration and signatures may "
                "have been stripped"
            )
    return problems


def stored_checkpoint_sizes(conn: Connection) -> dict[int, set[str]]:
    """Each size a checkpoint in the catalog covers, with the roots stated for it."""
    table = schema.ledger_checkpoints
    found: dict[int, set[str]] = {}
    for size, root in conn.execute(select(table.c.size, table.c.root)):
        found.setdefault(int(size), set()).add(root)
    return found


def check_stored(conn: Connection, walk: ChainWalk, stored: dict[int, set[str]]) -> list[str]:
    """Problems with the checkpoints and the Merkle tree the catalog keeps."""
    problems: list[str] = []
    # The newest stored checkpoint that fails says it all; older ones would repeat it.
    for size in sorted(stored, reverse=True):
        found = next(
            (
                reason
                for root in sorted(stored[size])
                if (
                    reason := check_anchor(
                        walk, size, root, f"the catalog's checkpoint of {size} entries"
                    )
                )
            ),
            None,
        )
        if found:
            problems.append(found)
            break
    if problems:
        return problems
    size = tree_size(conn)
    if size > walk.checked:
        problems.append(
            f"the stored Merkle tree covers {size} entries, more than the {walk.checked} the "
            "ledger holds: entries were cut from its end"
        )
    elif size:
        try:
            matches = tree_root(conn, size) == walk.roots.get(size)
        except Exception:
            matches = False
        if not matches:
            problems.append(
                "the stored Merkle tree does not match the entries; if the entries are right, "
                "`labledger checkpoint --rebuild` makes it again"
            )
    return problems
