"""The RFC 6962 tree: proofs agree with a direct computation, and a changed byte breaks them."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labledger.workspace.merkle import (
    RootBuilder,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    subtree_hash,
    verify_consistency,
    verify_inclusion,
)


def _mth(leaves: list[bytes]) -> bytes:
    """RFC 6962's definition, recursively, on leaf hashes."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return node_hash(_mth(leaves[:k]), _mth(leaves[k:]))


def _source(leaves: list[bytes]):  # type: ignore[no-untyped-def]
    def nodes(level: int, index: int) -> bytes:
        width = 1 << level
        chunk = leaves[index * width : (index + 1) * width]
        assert len(chunk) == width, "asked for a subtree that is not complete"
        return _mth(chunk)

    return nodes


def _leaves(n: int) -> list[bytes]:
    return [leaf_hash(f"entry {i}".encode()) for i in range(n)]


def test_known_vector() -> None:
    # Two leaves "" and "\x00" hashed by hand, the RFC 6962 way.
    a, b = leaf_hash(b""), leaf_hash(b"\x00")
    assert a.hex() == "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
    assert _mth([a, b]) == hashlib.sha256(b"\x01" + a + b).digest()


@pytest.mark.parametrize("size", [1, 2, 3, 4, 5, 7, 8, 9, 31, 32, 33, 100])
def test_builder_and_subtree_hash_match_the_definition(size: int) -> None:
    leaves = _leaves(size)
    builder = RootBuilder()
    for leaf in leaves:
        builder.add(leaf)
    assert builder.root() == _mth(leaves)
    assert subtree_hash(_source(leaves), 0, size) == _mth(leaves)


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 70).flatmap(lambda n: st.tuples(st.just(n), st.integers(0, n - 1))))
def test_every_inclusion_proof_verifies(case: tuple[int, int]) -> None:
    size, index = case
    leaves = _leaves(size)
    root = _mth(leaves)
    path = inclusion_proof(_source(leaves), index, size)
    assert len(path) <= size.bit_length()
    assert verify_inclusion(leaves[index], index, size, path, root)
    # Any other leaf, index or a flipped path byte fails.
    other = leaf_hash(b"forged")
    assert not verify_inclusion(other, index, size, path, root)
    if size > 1:
        assert not verify_inclusion(leaves[index], (index + 1) % size, size, path, root)
        bent = [bytes([path[0][0] ^ 1]) + path[0][1:], *path[1:]]
        assert not verify_inclusion(leaves[index], index, size, bent, root)


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 70).flatmap(lambda n: st.tuples(st.integers(1, n), st.just(n))))
def test_every_consistency_proof_verifies(case: tuple[int, int]) -> None:
    old, new = case
    leaves = _leaves(new)
    proof = consistency_proof(_source(leaves), old, new)
    assert verify_consistency(old, new, proof, _mth(leaves[:old]), _mth(leaves))
    # A fork: the same size, one old leaf changed, cannot be proven consistent.
    forked = list(leaves)
    forked[old - 1] = leaf_hash(b"rewritten")
    assert not verify_consistency(old, new, proof, _mth(leaves[:old]), _mth(forked))
    if old < new:
        assert not verify_consistency(old, new, proof, _mth(forked[:old]), _mth(leaves))
        fork_proof = consistency_proof(_source(forked), old, new)
        assert not verify_consistency(old, new, fork_proof, _mth(leaves[:old]), _mth(forked))


def test_bad_ranges_are_refused() -> None:
    nodes = _source(_leaves(4))
    with pytest.raises(ValueError, match="not in a tree"):
        inclusion_proof(nodes, 4, 4)
    with pytest.raises(ValueError, match="no consistency proof"):
        consistency_proof(nodes, 5, 4)
    assert not verify_consistency(0, 4, [], b"", b"")
    assert not verify_inclusion(b"", 0, 0, [], b"")


def test_stored_tree_matches_a_direct_computation(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from labledger.workspace.ledger import entry_leaf, iter_entries
    from labledger.workspace.log_tree import (
        extend_tree,
        rebuild_tree,
        tree_consistency_proof,
        tree_inclusion_proof,
        tree_root,
    )
    from labledger.workspace.workspace import Workspace

    ws = Workspace.init(tmp_path)
    try:
        sizes = []
        for batch in (1, 2, 5, 1, 13, 40):
            with ws.write() as conn:
                for i in range(batch):
                    ws.record(conn, "test.event", f"t:{i}", {"i": i})
                sizes.append(extend_tree(conn))
        with ws.read() as conn:
            leaves = [leaf_hash(entry_leaf(e)) for e in iter_entries(conn)]
            size = len(leaves)
            assert sizes[-1] == size
            for n in (1, 2, 3, 17, size):
                assert tree_root(conn, n) == _mth(leaves[:n]).hex()
            for index in (0, 5, size - 1):
                path = [bytes.fromhex(h) for h in tree_inclusion_proof(conn, index, size)]
                assert verify_inclusion(leaves[index], index, size, path, _mth(leaves))
            proof = [bytes.fromhex(h) for h in tree_consistency_proof(conn, 9, size)]
            assert verify_consistency(9, size, proof, _mth(leaves[:9]), _mth(leaves))
        with ws.write() as conn:
            assert rebuild_tree(conn) == size
            assert tree_root(conn, size) == _mth(leaves).hex()
    finally:
        ws.close()
