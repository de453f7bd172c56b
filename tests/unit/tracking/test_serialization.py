"""Turning values into bytes: one format per type, deterministic, with schema and statistics."""

from __future__ import annotations

import io
import json
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from labledger._foundation.errors import ValidationError
from labledger.tracking import serialization
from labledger.tracking.serialization import Serialized, register_serializer, serialize


def test_dataframes_become_parquet_deterministically() -> None:
    frame = pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", None], "c": [0.5, float("nan"), 2.5]})
    first, second = serialize(frame), serialize(frame.copy())
    assert (first.kind, first.format) == ("table", "parquet")
    assert first.data == second.data
    assert first.data[:4] == b"PAR1"
    assert first.stats["rows"] == 3
    assert first.stats["numeric"]["c"]["nulls"] == 1
    assert first.stats["numeric"]["c"]["mean"] == 1.5
    assert "b" not in first.stats["numeric"]
    pd.testing.assert_frame_equal(pd.read_parquet(io.BytesIO(first.data)), frame)


def test_dataframe_statistics_of_non_finite_values_are_null() -> None:
    stats = serialize(pd.DataFrame({"v": [float("inf"), 1.0]})).stats["numeric"]["v"]
    assert stats["max"] is None
    json.dumps(stats, allow_nan=False)


def test_arrow_tables() -> None:
    table = pa.table({"x": [1, 2]})
    result = serialize(table)
    assert (result.kind, result.format) == ("table", "parquet")
    assert result.stats == {"rows": 2, "columns": 1}
    assert pq.read_table(io.BytesIO(result.data)).equals(table)


def test_ndarrays_become_npy() -> None:
    array = np.array([[1.0, np.nan], [3.0, 4.0]])
    result = serialize(array)
    assert (result.kind, result.format) == ("array", "npy")
    assert result.schema == {"dtype": "float64", "shape": [2, 2]}
    assert result.stats == {"size": 4, "min": 1.0, "max": 4.0, "mean": pytest.approx(8 / 3)}
    np.testing.assert_array_equal(np.load(io.BytesIO(result.data)), array)
    assert serialize(array.copy()).data == result.data


def test_empty_and_text_arrays_have_no_numeric_stats() -> None:
    assert serialize(np.array([], dtype=np.float64)).stats == {"size": 0}
    assert serialize(np.array(["a", "b"])).stats == {"size": 2}


def test_object_arrays_are_refused() -> None:
    with pytest.raises(ValidationError, match="object arrays"):
        serialize(np.array([{"a": 1}], dtype=object))


@pytest.mark.parametrize(
    "value",
    [{"b": 1, "a": [1, 2]}, [1, "two", None], (1, 2), 3, 2.5, True, None, {"nan": float("nan")}],
)
def test_json_values_become_canonical_json(value: Any) -> None:
    result = serialize(value)
    assert (result.kind, result.format) == ("json", "json")
    json.loads(result.data)


def test_bytes_stay_bytes() -> None:
    for value in (b"abc", bytearray(b"abc"), memoryview(b"abc")):
        result = serialize(value)
        assert (result.kind, result.format, result.data) == ("bytes", "bin", b"abc")
        assert result.stats == {"size": 3}


@pytest.mark.parametrize("value", [object(), {1, 2}, "plain text", {"k": object()}])
def test_other_values_are_refused_with_advice(value: Any) -> None:
    with pytest.raises(ValidationError) as caught:
        serialize(value)
    assert "pass a path, bytes" in str(caught.value)


def test_registered_serializers_win_and_match_subclasses(monkeypatch: pytest.MonkeyPatch) -> None:
    class Model:
        pass

    class Tuned(Model):
        pass

    monkeypatch.setattr(serialization, "_BY_TYPE_NAME", dict(serialization._BY_TYPE_NAME))
    register_serializer(
        f"{Model.__module__}.{Model.__qualname__}", lambda m: Serialized("model", "custom", b"m")
    )
    assert serialize(Tuned()).kind == "model"
    assert serialize(Tuned()).format == "custom"
