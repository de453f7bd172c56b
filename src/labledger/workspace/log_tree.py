"""The ledger's Merkle tree in the catalog: extended as entries arrive, read for roots and proofs.

Table ``ledger_tree`` keeps the hash of every complete subtree (level 0: the leaves). Extending it
costs one leaf hash plus amortised one node hash per new entry; a root or a proof reads a
logarithmic number of nodes, fetched in one query. The tree is derived from the entries: ``verify``
recomputes it, and ``rebuild_tree`` makes it again from scratch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar

from sqlalchemy import and_, delete, func, or_, select

from labledger._foundation.errors import IntegrityError
from labledger.workspace import schema
from labledger.workspace.ledger import entry_leaf, iter_entries
from labledger.workspace.merkle import (
    NodeSource,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    subtree_hash,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from sqlalchemy import Connection

__all__ = [
    "extend_tree",
    "rebuild_tree",
    "tree_consistency_proof",
    "tree_inclusion_proof",
    "tree_root",
    "tree_size",
]

T = TypeVar("T")
_tree = schema.ledger_tree
_SIZE = select(func.max(_tree.c.idx)).where(_tree.c.level == 0)
_EMPTY_ROOT = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def tree_size(conn: Connection) -> int:
    """How many entries the stored tree covers."""
    last = conn.execute(_SIZE).scalar()
    return 0 if last is None else int(last) + 1


def _fetch(conn: Connection, wanted: list[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
    found: dict[tuple[int, int], bytes] = {}
    unique = sorted(set(wanted))
    for start in range(0, len(unique), 200):
        part = unique[start : start + 200]
        condition = or_(*(and_(_tree.c.level == lv, _tree.c.idx == ix) for lv, ix in part))
        for level, idx, value in conn.execute(
            select(_tree.c.level, _tree.c.idx, _tree.c.hash).where(condition)
        ):
            found[(level, idx)] = bytes.fromhex(value)
    return found


def _with_nodes(conn: Connection, compute: Callable[[NodeSource], T]) -> T:
    """Run ``compute`` once to learn which nodes it reads, fetch them in one go, run it again."""
    wanted: list[tuple[int, int]] = []

    def record(level: int, idx: int) -> bytes:
        wanted.append((level, idx))
        return bytes(32)

    compute(record)  # the algorithms' control flow never depends on hash values
    nodes = _fetch(conn, wanted)
    missing = [key for key in wanted if key not in nodes]
    if missing:
        level, idx = missing[0]
        raise IntegrityError(
            f"the ledger's Merkle tree lacks node {level}/{idx}",
            hint="run `labledger verify`; `labledger checkpoint --rebuild` makes the tree again",
        )
    return compute(lambda level, idx: nodes[(level, idx)])


def extend_tree(conn: Connection) -> int:
    """Add every entry appended since the last extension to the tree; return its new size.

    Call it inside a write transaction that holds the ledger's append lock (any write transaction
    that appended an entry does), so that two writers never extend it at once.
    """
    old = tree_size(conn)
    new_nodes: dict[tuple[int, int], bytes] = {}
    size = old
    for entry in iter_entries(conn, after_seq=old):
        if entry.seq != size + 1:
            raise IntegrityError(
                f"ledger entry #{size + 1} is missing (next is #{entry.seq})",
                hint="run `labledger verify` to see what was removed",
            )
        new_nodes[(0, size)] = leaf_hash(entry_leaf(entry))
        size += 1
    if size == old:
        return old
    level = 0
    while (size >> level) > 1:
        first_parent = (old >> level) >> 1
        last_parent = (size >> level) >> 1
        for parent in range(first_parent, last_parent):
            left_key, right_key = (level, 2 * parent), (level, 2 * parent + 1)
            left = new_nodes.get(left_key)
            if left is None:
                left = _fetch(conn, [left_key]).get(left_key)
                if left is None:
                    raise IntegrityError(
                        f"the ledger's Merkle tree lacks node {level}/{2 * parent}",
                        hint="`labledger checkpoint --rebuild` makes the tree again",
                    )
            new_nodes[(level + 1, parent)] = node_hash(left, new_nodes[right_key])
        level += 1
    conn.execute(
        _tree.insert(),
        [{"level": lv, "idx": ix, "hash": value.hex()} for (lv, ix), value in new_nodes.items()],
    )
    return size


def rebuild_tree(conn: Connection) -> int:
    """Drop the stored tree and make it again from the entries; return its size."""
    conn.execute(delete(_tree))
    return extend_tree(conn)


def tree_root(conn: Connection, size: int) -> str:
    """The hex root hash of the first ``size`` entries (which the stored tree must cover)."""
    if size == 0:
        return _EMPTY_ROOT
    return _with_nodes(conn, lambda nodes: subtree_hash(nodes, 0, size)).hex()


def tree_inclusion_proof(conn: Connection, index: int, size: int) -> list[str]:
    """The hex audit path of leaf ``index`` in the tree of the first ``size`` entries."""
    return [h.hex() for h in _with_nodes(conn, lambda n: inclusion_proof(n, index, size))]


def tree_consistency_proof(conn: Connection, old_size: int, new_size: int) -> list[str]:
    """The hex proof that the tree of ``new_size`` entries extends the one of ``old_size``."""
    return [h.hex() for h in _with_nodes(conn, lambda n: consistency_proof(n, old_size, new_size))]
