"""Turning values into stored bytes: a small registry from Python types to formats.

DataFrames become Parquet, NumPy arrays ``.npy``, JSON-able values canonical JSON, bytes stay bytes,
and matplotlib figures PNG. Each comes with a schema and summary statistics for the catalog. Heavy
libraries are imported only when a value of their type shows up.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from labledger._foundation.canonical import canonical_json
from labledger._foundation.errors import ValidationError

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["Serialized", "register_serializer", "serialize"]


@dataclass(frozen=True, slots=True)
class Serialized:
    """A value as bytes plus what the catalog records about it."""

    kind: str
    format: str
    data: bytes
    schema: dict[str, Any] = field(default_factory=dict)
    stats: dict[str, Any] = field(default_factory=dict)


def _type_name(value: Any) -> str:
    return f"{type(value).__module__}.{type(value).__qualname__}"


def _finite(value: Any) -> Any:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    return number if math.isfinite(number) else None


def _dataframe(frame: Any) -> Serialized:
    import pyarrow as pa

    table = pa.Table.from_pandas(frame, preserve_index=True)
    return _arrow(table, rows=len(frame), describe=frame)


def _arrow(table: Any, *, rows: int | None = None, describe: Any = None) -> Serialized:
    import pyarrow.parquet as pq

    sink = io.BytesIO()
    # Fixed writer settings and no creation timestamp: equal data gives equal bytes.
    pq.write_table(table, sink, compression="zstd", store_schema=True, write_statistics=True)
    stats: dict[str, Any] = {
        "rows": rows if rows is not None else table.num_rows,
        "columns": table.num_columns,
    }
    if describe is not None:
        numeric = describe.select_dtypes("number")
        stats["numeric"] = {
            str(column): {
                "min": _finite(numeric[column].min()),
                "max": _finite(numeric[column].max()),
                "mean": _finite(numeric[column].mean()),
                "nulls": int(numeric[column].isna().sum()),
            }
            for column in numeric.columns[:50]
        }
    schema = {"fields": [{"name": f.name, "type": str(f.type)} for f in table.schema]}
    return Serialized("table", "parquet", sink.getvalue(), schema, stats)


def _ndarray(array: Any) -> Serialized:
    import numpy as np

    if array.dtype == object:
        raise ValidationError(
            "object arrays cannot be stored safely",
            hint="convert to a numeric or string dtype first",
        )
    sink = io.BytesIO()
    np.save(sink, array, allow_pickle=False)
    stats: dict[str, Any] = {"size": int(array.size)}
    if array.size and np.issubdtype(array.dtype, np.number):
        stats.update(
            min=_finite(np.nanmin(array)),
            max=_finite(np.nanmax(array)),
            mean=_finite(np.nanmean(array)),
        )
    schema = {"dtype": str(array.dtype), "shape": list(array.shape)}
    return Serialized("array", "npy", sink.getvalue(), schema, stats)


def _figure(figure: Any) -> Serialized:
    sink = io.BytesIO()
    # Fixed metadata keeps the PNG bytes identical across runs.
    figure.savefig(sink, format="png", dpi=100, metadata={"Software": None})
    return Serialized("figure", "png", sink.getvalue())


def _json(value: Any) -> Serialized:
    try:
        data = canonical_json(value)
    except TypeError as exc:
        raise ValidationError(
            f"cannot store a {type(value).__name__} as an artifact: {exc}",
            hint="pass a path, bytes, a DataFrame, an ndarray or a JSON-able value",
        ) from exc
    stats = {"items": len(value)} if isinstance(value, dict | list) else {}
    return Serialized("json", "json", data, {"type": type(value).__name__}, stats)


_BY_TYPE_NAME: dict[str, Callable[[Any], Serialized]] = {
    "pandas.DataFrame": _dataframe,
    "pandas.core.frame.DataFrame": _dataframe,
    "pyarrow.lib.Table": _arrow,
    "numpy.ndarray": _ndarray,
    "matplotlib.figure.Figure": _figure,
}


def register_serializer(type_name: str, serializer: Callable[[Any], Serialized]) -> None:
    """Teach ``serialize`` a new type, named as ``module.QualifiedName``."""
    _BY_TYPE_NAME[type_name] = serializer


def serialize(value: Any) -> Serialized:
    """Serialise ``value`` by its type (see the module docstring for the formats)."""
    for klass in type(value).__mro__:
        serializer = _BY_TYPE_NAME.get(f"{klass.__module__}.{klass.__qualname__}")
        if serializer is not None:
            return serializer(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return Serialized("bytes", "bin", bytes(value), {}, {"size": len(value)})
    if value is None or isinstance(value, dict | list | tuple | int | float | bool):
        return _json(value)
    raise ValidationError(
        f"cannot store a {_type_name(value)} as an artifact",
        hint="pass a path, bytes, a DataFrame, an ndarray or a JSON-able value",
    )
