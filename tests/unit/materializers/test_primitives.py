"""JSON, text and bytes: equal values give equal digests whatever their construction."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import labledger.materializers
from labledger._foundation.canonical import canonical_json
from labledger._foundation.errors import IntegrityError
from labledger.materializers import load, ref_for, save
from labledger.workspace.memory_store import MemoryBlobStore

_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text()
_json = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


def test_the_public_names_are_pinned() -> None:
    assert set(labledger.materializers.__all__) == {
        "CatalogRef",
        "Materializer",
        "MaterializerRegistry",
        "Stored",
        "StoredRef",
        "get_materializer",
        "load",
        "materializer_for",
        "ref_for",
        "register_materializer",
        "save",
    }


@settings(deadline=None)  # these check round trips, not speed
@given(st.dictionaries(st.text(), _json, max_size=6))
def test_key_order_never_changes_a_json_digest(value: dict[str, Any]) -> None:
    store = MemoryBlobStore()
    reordered = dict(reversed(list(value.items())))
    stored = save(value, store)
    assert save(reordered, store).digest == stored.digest
    assert load(stored, store) == json.loads(canonical_json(value))


@settings(deadline=None)  # these check round trips, not speed
@given(st.text())
def test_text_round_trips(value: str) -> None:
    store = MemoryBlobStore()
    stored = save(value, store)
    assert stored.materializer == "text"
    assert load(stored, store) == value
    assert stored.stats["characters"] == len(value)


@settings(deadline=None)  # these check round trips, not speed
@given(st.binary())
def test_bytes_round_trip(value: bytes) -> None:
    store = MemoryBlobStore()
    assert load(save(memoryview(value), store), store) == value


def test_unreadable_json_and_text_are_labledger_errors() -> None:
    store = MemoryBlobStore()
    digest = store.put(b"\xff\xfe not utf-8 {")
    for kind, fmt in (("json", "json"), ("text", "txt")):
        with pytest.raises(IntegrityError, match="is not a readable"):
            load(ref_for(digest=digest, kind=kind, format=fmt), store)
