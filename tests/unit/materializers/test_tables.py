"""Tables as Parquet: dtypes and index come back, statistics describe them, bad bytes are named."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from labledger._foundation.errors import IntegrityError, UnsupportedValueError
from labledger.materializers import load, ref_for, save
from labledger.materializers.tables import MAX_SCHEMA_FIELDS, MAX_STAT_COLUMNS

if TYPE_CHECKING:
    from labledger.workspace.blobstore import BlobStore


def _round_trip(frame: pd.DataFrame, store: BlobStore) -> pd.DataFrame:
    loaded: pd.DataFrame = load(save(frame, store), store)
    return loaded


@pytest.mark.parametrize(
    "index",
    [
        pd.Index(["w1", "w2", "w3"], name="well"),
        pd.MultiIndex.from_tuples([("p1", 1), ("p1", 2), ("p2", 1)], names=["plate", "row"]),
        pd.DatetimeIndex(["2024-01-01", "2024-01-02", "2024-01-04"], name="day"),
        pd.Index([3, 1, 2]),
        pd.RangeIndex(5, 8, name="n"),
    ],
    ids=["text", "multi", "dates", "irregular-ints", "range"],
)
def test_dtypes_and_index_round_trip(index: pd.Index, store: BlobStore) -> None:
    frame = pd.DataFrame(
        {
            "n": pd.array([1, None, 3], dtype="Int64"),
            "u": np.array([1, 2, 3], dtype=np.uint8),
            "x": [0.5, np.nan, 2.5],
            "label": pd.array(["a", None, "c"], dtype="string"),
            "cat": pd.Categorical(["b", "a", "b"], categories=["b", "a"], ordered=True),
            "when": pd.to_datetime(["2024-01-01", None, "2024-03-01"]).tz_localize("Europe/Paris"),
            "flag": [True, False, True],
        },
        index=index,
    )
    loaded = _round_trip(frame, store)
    pd.testing.assert_frame_equal(loaded, frame, check_index_type=True)


def test_a_regular_integer_index_is_stored_as_a_range(store: BlobStore) -> None:
    frame = pd.DataFrame({"a": [1, 2, 3]})
    picked = frame.set_axis(pd.Index([0, 1, 2], dtype="int64"))
    assert not isinstance(picked.index, pd.RangeIndex)
    assert save(picked, store).digest == save(frame, store).digest
    assert isinstance(_round_trip(picked, store).index, pd.RangeIndex)


def test_frame_statistics_and_schema(store: BlobStore) -> None:
    frame = pd.DataFrame(
        {"signal": [0.5, np.nan, 2.5, np.inf], "n": [1, 2, 3, 4], "well": ["a", "b", None, "d"]},
        index=pd.Index(["w1", "w2", "w3", "w4"], name="id"),
    )
    stored = save(frame, store)
    assert stored.schema == {
        "fields": [
            {"name": "signal", "type": "double"},
            {"name": "n", "type": "int64"},
            {"name": "well", "type": "large_string"},
        ],
        "index": [{"name": "id", "type": "large_string"}],
    }
    assert stored.stats["rows"] == 4
    assert stored.stats["columns"] == 3
    assert stored.stats["numeric"] == {
        "signal": {"min": 0.5, "max": None, "mean": None, "nulls": 1},
        "n": {"min": 1.0, "max": 4.0, "mean": 2.5, "nulls": 0},
    }


def test_empty_and_wide_frames(store: BlobStore) -> None:
    empty = save(pd.DataFrame({"x": pd.Series([], dtype="float64")}), store)
    assert empty.stats == {
        "rows": 0,
        "columns": 1,
        "numeric": {"x": {"min": None, "max": None, "mean": None, "nulls": 0}},
    }
    wide = save(pd.DataFrame({f"c{i}": [float(i)] for i in range(MAX_STAT_COLUMNS + 10)}), store)
    assert len(wide.schema["fields"]) == MAX_STAT_COLUMNS + 10
    assert len(wide.stats["numeric"]) == MAX_STAT_COLUMNS
    # A very wide table lists its first columns, and says how many it has.
    widest = save(pa.table({f"c{i}": [i] for i in range(MAX_SCHEMA_FIELDS + 5)}), store)
    assert len(widest.schema["fields"]) == MAX_SCHEMA_FIELDS
    assert widest.schema["fields_total"] == MAX_SCHEMA_FIELDS + 5
    assert "fields_total" not in wide.schema


def test_a_frame_arrow_cannot_convert_is_unsupported(store: BlobStore) -> None:
    with pytest.raises(UnsupportedValueError, match="cannot store this DataFrame as Parquet"):
        save(pd.DataFrame({"mixed": [1, "a", 2.5]}), store)


def test_equal_data_gives_equal_bytes_across_table_libraries(store: BlobStore) -> None:
    arrow = pa.table({"a": [1, 2, 3], "b": [0.5, None, 1.5]})
    assert save(pl.from_arrow(arrow), store).stats == save(arrow, store).stats
    polars = pl.DataFrame({"a": [1, 2, 3]})
    assert load(save(polars, store), store).equals(polars)


def test_the_bytes_are_plain_parquet(store: BlobStore) -> None:
    frame = pd.DataFrame({"a": [1, 2]})
    stored = save(frame, store)
    with store.open(stored.digest) as handle:
        data = handle.read()
    assert data[:4] == b"PAR1"
    pd.testing.assert_frame_equal(pd.read_parquet(io.BytesIO(data)), frame)


@pytest.mark.parametrize("materializer", ["pandas", "polars", "arrow"])
def test_corrupt_parquet_is_a_labledger_error(materializer: str, store: BlobStore) -> None:
    sink = io.BytesIO()
    pq.write_table(pa.table({"a": list(range(100))}), sink)
    for data in (b"not parquet at all", sink.getvalue()[:-20], b"PAR1" + b"\x00" * 64 + b"PAR1"):
        ref = ref_for(
            digest=store.put(data), kind="table", format="parquet", materializer=materializer
        )
        with pytest.raises(IntegrityError, match="is not a readable Parquet file") as caught:
            load(ref, store)
        assert "labledger verify" in str(caught.value)
