"""UUIDv7 ids: well formed, strictly increasing in a process, and carrying their creation time."""

from __future__ import annotations

import itertools
import threading
import time
import types
import uuid
from typing import TYPE_CHECKING

from labledger._foundation import ids
from labledger._foundation.ids import new_id, timestamp_of

if TYPE_CHECKING:
    import pytest


def test_version_and_variant_bits() -> None:
    for _ in range(100):
        value = uuid.UUID(new_id())
        assert value.version == 7
        assert value.variant == uuid.RFC_4122


def test_ids_are_36_character_lowercase_strings() -> None:
    id_ = new_id()
    assert len(id_) == 36
    assert id_ == id_.lower()
    assert str(uuid.UUID(id_)) == id_


def test_strictly_increasing_over_ten_thousand_ids() -> None:
    made = [new_id() for _ in range(10_000)]
    assert all(a < b for a, b in itertools.pairwise(made))
    as_ints = [uuid.UUID(x).int for x in made]
    assert all(a < b for a, b in itertools.pairwise(as_ints))
    assert len(set(made)) == len(made)


def test_timestamp_of_reads_the_creation_time() -> None:
    before = time.time()
    id_ = new_id()
    after = time.time()
    # Millisecond resolution, and the counter may borrow a millisecond or two ahead.
    assert before - 0.001 <= timestamp_of(id_) <= after + 0.01


def test_order_holds_when_the_clock_stands_still_or_goes_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    first = new_id()
    frozen = time.time_ns()
    monkeypatch.setattr(ids, "time", types.SimpleNamespace(time_ns=lambda: frozen))
    # More ids than the 12-bit counter holds in one millisecond.
    same_ms = [new_id() for _ in range(5000)]
    monkeypatch.setattr(ids, "time", types.SimpleNamespace(time_ns=lambda: frozen - 10_000_000_000))
    earlier_clock = [new_id() for _ in range(10)]
    made = [first, *same_ms, *earlier_clock]
    assert all(a < b for a, b in itertools.pairwise(made))
    assert all(uuid.UUID(x).version == 7 for x in made)


def test_unique_across_threads() -> None:
    results: list[list[str]] = [[] for _ in range(8)]

    def work(out: list[str]) -> None:
        out.extend(new_id() for _ in range(2000))

    threads = [threading.Thread(target=work, args=(out,)) for out in results]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    everything = [x for out in results for x in out]
    assert len(set(everything)) == len(everything)
    for out in results:
        assert out == sorted(out)
