"""A Merkle tree over the ledger's entries, as RFC 6962 (Certificate Transparency) defines it.

Leaves are the entries in append order. With SHA-256 as ``H``:

- a leaf's hash is ``H(0x00 || leaf bytes)``, where the leaf bytes are the entry's canonical JSON
  body (the same bytes its chained hash covers);
- an inner node's hash is ``H(0x01 || left || right)``;
- the root of ``n > 1`` leaves splits them at ``k``, the largest power of two below ``n``:
  ``H(0x01 || root(first k) || root(the rest))``.

The functions here are pure: they take a ``NodeSource``, a callable that answers the hash of the
perfect subtree at ``(level, index)`` (covering leaves ``index * 2**level`` up to, not including,
``(index + 1) * 2**level``). The catalog keeps those nodes (``log_tree``), so a proof costs a
logarithmic number of lookups however long the ledger is. Proofs are lists of hex hashes, and
checking them needs only ``hashlib``: see ``verify_inclusion`` and ``verify_consistency`` (the
algorithms of RFC 9162, section 2.1).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

__all__ = [
    "NodeSource",
    "RootBuilder",
    "consistency_proof",
    "inclusion_proof",
    "leaf_hash",
    "node_hash",
    "subtree_hash",
    "verify_consistency",
    "verify_inclusion",
]

NodeSource = Callable[[int, int], bytes]


def leaf_hash(data: bytes) -> bytes:
    """The hash of a leaf holding ``data``."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """The hash of an inner node over two children."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two strictly below ``n`` (``n >= 2``)."""
    return 1 << ((n - 1).bit_length() - 1)


def subtree_hash(nodes: NodeSource, start: int, end: int) -> bytes:
    """The root hash of leaves ``start`` to ``end`` (exclusive), as RFC 6962's MTH.

    ``start`` must be where RFC 6962's recursion puts a subtree (a multiple of the largest power of
    two below ``end - start``), which holds for every subtree a proof needs.
    """
    size = end - start
    if size <= 0:
        raise ValueError("an empty range has no subtree hash")
    if size & (size - 1) == 0:
        level = size.bit_length() - 1
        return nodes(level, start >> level)
    k = _split(size)
    return node_hash(subtree_hash(nodes, start, start + k), subtree_hash(nodes, start + k, end))


def inclusion_proof(nodes: NodeSource, index: int, size: int) -> list[bytes]:
    """The audit path of leaf ``index`` in the tree of the first ``size`` leaves (RFC 6962 PATH)."""
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of {size} leaves")
    path: list[bytes] = []
    start, end = 0, size
    while end - start > 1:
        k = _split(end - start)
        if index < start + k:
            path.append(subtree_hash(nodes, start + k, end))
            end = start + k
        else:
            path.append(subtree_hash(nodes, start, start + k))
            start += k
    path.reverse()  # from the leaf's sibling up to the root's child
    return path


def consistency_proof(nodes: NodeSource, old_size: int, new_size: int) -> list[bytes]:
    """Proof that the tree of ``new_size`` leaves extends the one of ``old_size`` (RFC 6962 PROOF)."""
    if not 0 < old_size <= new_size:
        raise ValueError(f"no consistency proof from {old_size} to {new_size} leaves")
    proof: list[bytes] = []
    m, start, end, complete = old_size, 0, new_size, True
    while m != end:
        k = _split(end - start)
        if m - start <= k:
            proof.append(subtree_hash(nodes, start + k, end))
            end = start + k
        else:
            proof.append(subtree_hash(nodes, start, start + k))
            start += k
            complete = False
    if not complete:
        proof.append(subtree_hash(nodes, start, end))
    proof.reverse()
    return proof


def verify_inclusion(leaf: bytes, index: int, size: int, path: list[bytes], root: bytes) -> bool:
    """Whether ``path`` proves ``leaf`` (a leaf hash) is leaf ``index`` of the tree with ``root``."""
    if not 0 <= index < size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(
    old_size: int, new_size: int, proof: list[bytes], old_root: bytes, new_root: bytes
) -> bool:
    """Whether ``proof`` shows the tree (``new_size``, ``new_root``) extends (``old_size``, ``old_root``)."""
    if old_size <= 0 or old_size > new_size:
        return False
    if old_size == new_size:
        return not proof and old_root == new_root
    path = list(proof)
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)  # the old tree is a subtree of the new one
    if not path:
        return False
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == old_root and sr == new_root


class RootBuilder:
    """Builds the root leaf by leaf, keeping one hash per set bit of the size (a compact range).

    ``add`` costs one leaf hash plus amortised one node hash, so ``verify`` recomputes the root of
    the whole ledger in one pass and can ask for the root at any size it passes.
    """

    def __init__(self) -> None:
        self.size = 0
        self._stack: list[tuple[int, bytes]] = []  # (level, hash), levels strictly decreasing

    def add(self, leaf: bytes) -> None:
        """Append one leaf hash."""
        level, value = 0, leaf
        while self._stack and self._stack[-1][0] == level:
            value = node_hash(self._stack.pop()[1], value)
            level += 1
        self._stack.append((level, value))
        self.size += 1

    def copy(self) -> RootBuilder:
        """An independent builder at the same point."""
        clone = RootBuilder()
        clone._stack, clone.size = list(self._stack), self.size
        return clone

    def state(self) -> list[list[object]]:
        """The compact range as JSON-able ``[level, hex]`` pairs (see ``from_state``)."""
        return [[level, value.hex()] for level, value in self._stack]

    @classmethod
    def from_state(cls, size: int, state: list[list[object]]) -> RootBuilder:
        """A builder that continues after ``size`` leaves whose compact range is ``state``.

        Raises:
            ValueError: ``state`` is not the compact range of ``size`` leaves.
        """
        builder = cls()
        stack = [(int(str(level)), bytes.fromhex(str(value))) for level, value in state]
        if sum(1 << level for level, _ in stack) != size or any(
            len(value) != 32 for _, value in stack
        ):
            raise ValueError(f"not the compact range of {size} leaves")
        builder._stack, builder.size = stack, size
        return builder

    def root(self) -> bytes:
        """The root of the leaves added so far (the hash of the empty string for none)."""
        if not self._stack:
            return hashlib.sha256(b"").digest()
        value = self._stack[-1][1]
        for _, left in reversed(self._stack[:-1]):
            value = node_hash(left, value)
        return value
