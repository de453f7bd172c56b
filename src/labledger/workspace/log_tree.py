"""The ledger's Merkle tree in the catalog: extended as entries arrive, read for roots and proofs.

Table ``ledger_tree`` keeps the hash of every complete subtree (level 0: the leaves). Extending it
costs one leaf hash plus amortised one node hash per new entry; a root or a proof reads a
logarithmic number of nodes, fetched in one query. The tree is derived from the entries: ``verify``
recomputes it, and ``rebuild_tree`` makes it again from scratch.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from sqlalchemy import and_, delete, func, or_, select

from labledger._foundation.errors import IntegrityError
from labledger.workspace import schema
from labledger.workspace.ledger import entry_leaf, iter_entries, lock_ledger, row_leaf
from labledger.workspace.merkle import (
    NodeSource,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    subtree_hash,
)
from labledger.workspace.sqlite_driver import driver_connection

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from sqlalchemy import Connection

__all__ = [
    "extend_and_root",
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


_SQLITE_SIZE = "SELECT max(idx) FROM ledger_tree WHERE level = 0"
_SQLITE_NODE = "SELECT hash FROM ledger_tree WHERE level = ? AND idx = ?"
_SQLITE_INSERT = "INSERT INTO ledger_tree (level, idx, hash) VALUES (?, ?, ?)"
_SQLITE_ENTRIES = (
    "SELECT seq, id, kind, actor, subject, payload_json, created_at, prev_hash, hash "
    "FROM ledger WHERE seq > ? ORDER BY seq"
)


def tree_size(conn: Connection) -> int:
    """How many entries the stored tree covers."""
    db = driver_connection(conn)
    last = (
        db.execute(_SQLITE_SIZE).fetchone()[0] if db is not None else conn.execute(_SIZE).scalar()
    )
    return 0 if last is None else int(last) + 1


class _Nodes:
    """Stored nodes, read once each: one query per node on SQLite, batched on other databases."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.db = driver_connection(conn)
        self.known: dict[tuple[int, int], bytes] = {}

    def load(self, wanted: list[tuple[int, int]]) -> None:
        missing = sorted({key for key in wanted if key not in self.known})
        if self.db is not None:
            for key in missing:
                row = self.db.execute(_SQLITE_NODE, key).fetchone()
                if row is not None:
                    self.known[key] = bytes.fromhex(row[0])
            return
        for start in range(0, len(missing), 200):
            part = missing[start : start + 200]
            condition = or_(*(and_(_tree.c.level == lv, _tree.c.idx == ix) for lv, ix in part))
            for level, idx, value in self.conn.execute(
                select(_tree.c.level, _tree.c.idx, _tree.c.hash).where(condition)
            ):
                self.known[(level, idx)] = bytes.fromhex(value)

    def get(self, key: tuple[int, int]) -> bytes:
        value = self.known.get(key)
        if value is None:
            self.load([key])
            value = self.known.get(key)
        if value is None:
            level, idx = key
            raise IntegrityError(
                f"the ledger's Merkle tree lacks node {level}/{idx}",
                hint="run `labledger verify`; `labledger checkpoint --rebuild` makes the tree again",
            )
        return value

    def run(self, compute: Callable[[NodeSource], T]) -> T:
        """Run ``compute`` once to learn which nodes it reads, load them together, run it again."""
        wanted: list[tuple[int, int]] = []

        def record(level: int, idx: int) -> bytes:
            wanted.append((level, idx))
            return bytes(32)

        compute(record)  # the algorithms' control flow never depends on hash values
        self.load(wanted)
        return compute(lambda level, idx: self.get((level, idx)))


def _new_leaves(conn: Connection, after: int) -> Iterator[tuple[int, bytes]]:
    db = driver_connection(conn)
    if db is None:
        for entry in iter_entries(conn, after_seq=after):
            yield entry.seq, leaf_hash(entry_leaf(entry))
        return
    for row in db.execute(_SQLITE_ENTRIES, (after,)):
        yield row[0], leaf_hash(row_leaf(*row[1:])[0])


def extend_tree(conn: Connection, nodes: _Nodes | None = None) -> int:
    """Add every entry appended since the last extension to the tree; return its new size.

    Call it inside a write transaction: it takes the ledger's append lock, so that two writers
    (one appending, one only signing a checkpoint, say) never extend it at once.
    """
    lock_ledger(conn)
    nodes = nodes or _Nodes(conn)
    old = tree_size(conn)
    new_nodes: dict[tuple[int, int], bytes] = {}
    size = old
    for seq, leaf in _new_leaves(conn, old):
        if seq != size + 1:
            raise IntegrityError(
                f"ledger entry #{size + 1} is missing (next is #{seq})",
                hint="run `labledger verify` to see what was removed",
            )
        new_nodes[(0, size)] = leaf
        size += 1
    if size == old:
        return old
    level = 0
    while (size >> level) > 1:
        for parent in range((old >> level) >> 1, (size >> level) >> 1):
            left_key, right_key = (level, 2 * parent), (level, 2 * parent + 1)
            left = new_nodes.get(left_key) or nodes.get(left_key)
            new_nodes[(level + 1, parent)] = node_hash(left, new_nodes[right_key])
        level += 1
    rows = [(lv, ix, value.hex()) for (lv, ix), value in new_nodes.items()]
    if nodes.db is not None:
        nodes.db.executemany(_SQLITE_INSERT, rows)
    else:
        conn.execute(_tree.insert(), [{"level": r[0], "idx": r[1], "hash": r[2]} for r in rows])
    nodes.known.update(new_nodes)
    return size


def rebuild_tree(conn: Connection) -> int:
    """Drop the stored tree and make it again from the entries; return its size."""
    lock_ledger(conn)
    conn.execute(delete(_tree))
    return extend_tree(conn)


def tree_root(conn: Connection, size: int, nodes: _Nodes | None = None) -> str:
    """The hex root hash of the first ``size`` entries (which the stored tree must cover)."""
    if size == 0:
        return _EMPTY_ROOT
    return (nodes or _Nodes(conn)).run(lambda source: subtree_hash(source, 0, size)).hex()


def extend_and_root(conn: Connection) -> tuple[int, str]:
    """Extend the tree (``extend_tree``) and return its size and root, reading each node once."""
    nodes = _Nodes(conn)
    size = extend_tree(conn, nodes)
    if size == 0:
        return 0, _EMPTY_ROOT
    # The root folds the complete subtrees of the size's set bits, right to left.
    keys: list[tuple[int, int]] = []
    start = 0
    for level in range(size.bit_length() - 1, -1, -1):
        if size >> level & 1:
            keys.append((level, start >> level))
            start += 1 << level
    value = nodes.get(keys[-1])
    for key in reversed(keys[:-1]):
        value = node_hash(nodes.get(key), value)
    return size, value.hex()


def tree_inclusion_proof(conn: Connection, index: int, size: int) -> list[str]:
    """The hex audit path of leaf ``index`` in the tree of the first ``size`` entries."""
    return [h.hex() for h in _Nodes(conn).run(lambda n: inclusion_proof(n, index, size))]


def tree_consistency_proof(conn: Connection, old_size: int, new_size: int) -> list[str]:
    """The hex proof that the tree of ``new_size`` entries extends the one of ``old_size``."""
    return [h.hex() for h in _Nodes(conn).run(lambda n: consistency_proof(n, old_size, new_size))]
