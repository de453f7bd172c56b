"""Arrays as .npy: no pickles in or out, C order on disk, statistics without warnings."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest

from labledger._foundation.errors import IntegrityError, UnsupportedValueError
from labledger.materializers import load, ref_for, save

if TYPE_CHECKING:
    from labledger.workspace.blobstore import BlobStore


@pytest.mark.parametrize(
    "array",
    [
        np.array([{"a": 1}], dtype=object),
        np.array([1, "a"], dtype=object),
        np.zeros(2, dtype=[("x", "f8"), ("o", "O")]),
    ],
    ids=["dicts", "mixed", "structured-with-object"],
)
def test_object_arrays_are_refused(array: Any, store: BlobStore) -> None:
    with pytest.raises(UnsupportedValueError, match="object arrays cannot be stored safely"):
        save(array, store)
    assert list(store.digests()) == []


def test_a_pickled_npy_is_never_unpickled(store: BlobStore) -> None:
    sink = io.BytesIO()
    np.save(sink, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    ref = ref_for(digest=store.put(sink.getvalue()), kind="array", format="npy")
    with pytest.raises(IntegrityError, match=r"not a readable \.npy array"):
        load(ref, store)


@pytest.mark.parametrize(
    ("array", "stats"),
    [
        (np.array([1.0, np.nan, 3.0]), {"size": 3, "min": 1.0, "max": 3.0, "mean": 2.0}),
        (np.full(3, np.nan), {"size": 3, "min": None, "max": None, "mean": None}),
        (np.array([1, 2, 6], dtype=np.int8), {"size": 3, "min": 1.0, "max": 6.0, "mean": 3.0}),
        (np.array([np.inf, 1.0]), {"size": 2, "min": 1.0, "max": None, "mean": None}),
        (np.array([], dtype=np.float64), {"size": 0}),
        (np.array([True, False]), {"size": 2}),
        (np.array(["a", "b"]), {"size": 2}),
    ],
)
def test_statistics(array: Any, stats: dict[str, Any], store: BlobStore) -> None:
    stored = save(array, store)
    assert stored.stats == stats
    assert stored.schema == {"dtype": str(array.dtype), "shape": list(array.shape)}


def test_views_and_orders_store_their_values(store: BlobStore) -> None:
    base = np.arange(20, dtype=np.int32).reshape(4, 5)
    view = base[::2, 1:4]
    stored = save(view, store)
    np.testing.assert_array_equal(load(stored, store), view)
    assert save(np.ascontiguousarray(view), store).digest == stored.digest
    assert save(base.T, store).digest == save(base.T.copy(order="C"), store).digest
