"""Checking a ledger kept by someone else (a server) without trusting its keeper.

Two checks, from any ``LedgerStore``:

- **quick**: ask for a new signed checkpoint, check its signatures, and check the keeper's
  consistency proof that it extends the checkpoint this user saw last (remembered in the per-user
  state folder). A keeper that cut entries from the end, rewrote or forked history since is caught
  with a few hashes, however long the ledger.
- **full**: also download every entry up to the checkpoint and walk the chain here: hashes, the
  key history and every signature, and the Merkle root, which must be the checkpoint's.

Either way, a check that passes is remembered as the new last-seen checkpoint.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from labledger.stores.ledger import Checkpoint
from labledger.workspace.checkpoints import checkpoint_signature_problems
from labledger.workspace.ledger import walk_entries
from labledger.workspace.merkle import verify_consistency
from labledger.workspace.verify_state import state_dir, write_state_file

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence

    from labledger.stores.ledger import LedgerEntry, LedgerStore
    from labledger.workspace.trusted_keys import TrustedKey

__all__ = ["LedgerCheck", "check_ledger", "check_server", "last_seen", "remember"]

_PAGE = 5000


@dataclass(frozen=True, slots=True)
class LedgerCheck:
    """What checking a kept ledger found.

    Attributes:
        checkpoint: The keeper's new signed checkpoint.
        previous: The checkpoint this user had seen last (``None`` the first time).
        walked: How many entries were downloaded and walked (0 for a quick check).
        problems: What is wrong, one sentence each; empty when the ledger checks out.
    """

    checkpoint: Checkpoint
    previous: Checkpoint | None
    walked: int = 0
    problems: list[str] = field(default_factory=list)
    served: dict[str, Any] | None = None  # the server's re-check of itself, when asked for

    @property
    def ok(self) -> bool:
        return not self.problems


def _state_file(location: str) -> Any:
    name = hashlib.sha256(location.encode()).hexdigest()[:32]
    return state_dir() / "servers" / f"{name}.json"


def last_seen(location: str) -> Checkpoint | None:
    """The checkpoint of the ledger at ``location`` (a server URL) this user last checked."""
    try:
        document = json.loads(_state_file(location).read_text(encoding="utf-8"))
        return Checkpoint.from_dict(document["checkpoint"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def remember(location: str, checkpoint: Checkpoint) -> None:
    """Remember ``checkpoint`` as the last one seen of ``location`` (unless one covers more)."""
    known = last_seen(location)
    if (
        known is not None
        and known.workspace == checkpoint.workspace
        and known.size > checkpoint.size
    ):
        return
    document = {"location": location, "checked_at": time.time(), "checkpoint": checkpoint.to_dict()}
    write_state_file(_state_file(location), document)


def _pages(store: LedgerStore, size: int) -> Iterator[LedgerEntry]:
    after = 0
    while after < size:
        page = store.entries(after_seq=after, limit=min(_PAGE, size - after))
        if not page:
            return
        yield from page
        after = page[-1].seq


def check_ledger(
    store: LedgerStore,
    *,
    previous: Checkpoint | None = None,
    full: bool = False,
    trusted: Sequence[TrustedKey] | None = None,
    progress: Callable[[int], None] | None = None,
) -> LedgerCheck:
    """Check the ledger a store keeps against ``previous`` (see the module docstring).

    Args:
        store: The ledger's keeper (a server's, or a workspace's own).
        previous: The checkpoint last seen of it; ``None`` skips the history check.
        full: Download and walk every entry too.
        trusted: Keys that must sign the checkpoint (and, with ``full``, the entries).
        progress: Called with the number of entries walked so far.
    """
    checkpoint = store.checkpoint()
    problems = [
        f"the new checkpoint: {p}" for p in checkpoint_signature_problems(checkpoint, trusted)
    ]
    if not checkpoint.signatures:
        problems.append(
            "the new checkpoint is unsigned: the server has no workspace key (its administrator "
            "sets LABLEDGER_WORKSPACE_KEY to the key that signed its checkpoints before)"
        )
    if previous is not None:
        problems += _history_problems(store, previous, checkpoint)
    walked = 0
    if full:
        sizes = [checkpoint.size] + ([previous.size] if previous is not None else [])
        walk = walk_entries(
            _pages(store, checkpoint.size), trusted=trusted, sizes=sizes, progress=progress
        )
        walked = walk.checked
        problems += [f"entry #{p.seq} ({p.entry_id}): {p.reason}" for p in walk.problems]
        if walk.checked != checkpoint.size:
            problems.append(
                f"the keeper gave {walk.checked} entries for a checkpoint of {checkpoint.size}"
            )
        elif walk.roots.get(checkpoint.size) != checkpoint.root:
            problems.append("the entries given do not make the new checkpoint's root")
        if previous is not None and walk.roots.get(previous.size, previous.root) != previous.root:
            problems.append(
                f"the entries given do not make the root of the {previous.size} entries seen before"
            )
    return LedgerCheck(checkpoint, previous, walked, problems)


def _history_problems(store: LedgerStore, previous: Checkpoint, new: Checkpoint) -> list[str]:
    if previous.workspace != new.workspace:
        return [
            f"the keeper now serves workspace {new.workspace}, not {previous.workspace} seen before"
        ]
    if new.size < previous.size:
        return [
            f"the ledger has {new.size} entries, fewer than the {previous.size} seen before: "
            f"{previous.size - new.size} were cut from its end"
        ]
    if new.size == previous.size:
        if new.root != previous.root:
            return ["the ledger has as many entries as seen before, but another root: rewritten"]
        return []
    proof = [bytes.fromhex(h) for h in store.consistency(previous.size, new.size)]
    if not verify_consistency(
        previous.size, new.size, proof, bytes.fromhex(previous.root), bytes.fromhex(new.root)
    ):
        return [
            f"the ledger of {new.size} entries does not extend the {previous.size} seen before: "
            "history was rewritten, cut and regrown, or forked"
        ]
    return []


def check_server(
    store: LedgerStore,
    location: str,
    *,
    checkpoint: Checkpoint | None = None,
    full: bool = False,
    trusted: Sequence[TrustedKey] | None = None,
    keep: bool = True,
    progress: Callable[[int], None] | None = None,
) -> LedgerCheck:
    """Check a server's ledger against ``checkpoint`` and the one this user saw last there.

    Both are held to the server's new signed checkpoint (``checkpoint`` is checked first, then the
    remembered one); when everything checks out and ``keep`` is true, the new one is remembered
    for ``location`` (the server's URL).
    """
    previous = checkpoint or (last_seen(location) if keep else None)
    result = check_ledger(store, previous=previous, full=full, trusted=trusted, progress=progress)
    if checkpoint is not None and keep and result.ok:
        remembered = last_seen(location)
        if remembered is not None:
            again = check_ledger(store, previous=remembered, trusted=trusted)
            result = LedgerCheck(result.checkpoint, previous, result.walked, again.problems)
    if result.ok and keep:
        remember(location, result.checkpoint)
    return result
