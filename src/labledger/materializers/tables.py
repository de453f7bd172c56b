"""Tables (pandas and polars DataFrames, Arrow tables) as Parquet with deterministic bytes.

Every table goes through Arrow and one Parquet writer with fixed settings, so equal data gives
equal bytes (for the same pyarrow version), however the frame was built or chunked. A pandas
int64 index that is a regular progression (``0..n-1``, ``10, 20, 30``) is stored as a range index,
as pandas itself treats the two as equal; it loads back as a ``RangeIndex``.
"""

from __future__ import annotations

import io
import json
from typing import TYPE_CHECKING, Any

from labledger._foundation.errors import UnsupportedValueError
from labledger.materializers.base import Stored, finite, put_bytes, read_bytes, require, unreadable

if TYPE_CHECKING:
    from pathlib import Path

    from labledger.materializers.base import StoredRef
    from labledger.workspace.blobstore import BlobStore

__all__ = ["ArrowMaterializer", "PandasMaterializer", "PolarsMaterializer"]

# Pinned rather than left to defaults, which may change between pyarrow releases.
_WRITER_OPTIONS: dict[str, Any] = {
    "compression": "zstd",
    "compression_level": 3,
    "version": "2.6",
    "data_page_version": "1.0",
    "use_dictionary": True,
    "write_statistics": True,
    "store_schema": True,
    "row_group_size": 1 << 20,
}
# Statistics for more columns would bloat every catalog row of a wide table.
MAX_STAT_COLUMNS = 50
MAX_SCHEMA_FIELDS = 2000  # columns listed in an artifact's schema (each list of artifacts has it)


def _pyarrow() -> Any:
    return require("pyarrow", package="pyarrow", extra="data")


def _index_columns(table: Any) -> list[str]:
    metadata = table.schema.metadata or {}
    if b"pandas" not in metadata:
        return []
    document = json.loads(metadata[b"pandas"])
    return [c for c in document.get("index_columns", []) if isinstance(c, str)]


def _column_stats(column: Any) -> dict[str, Any]:
    import pyarrow.compute as pc

    extremes = pc.min_max(column).as_py() if len(column) else {"min": None, "max": None}
    return {
        "min": finite(extremes["min"]),
        "max": finite(extremes["max"]),
        "mean": finite(pc.mean(column).as_py()) if len(column) else None,
        "nulls": int(column.null_count),
    }


def _describe(table: Any, *, rows: int | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """Schema and statistics of an Arrow table (pandas index columns listed apart)."""
    pa = _pyarrow()
    index = set(_index_columns(table))
    fields = [{"name": f.name, "type": str(f.type)} for f in table.schema if f.name not in index]
    schema: dict[str, Any] = {"fields": fields[:MAX_SCHEMA_FIELDS]}
    if len(fields) > MAX_SCHEMA_FIELDS:  # a very wide table: its first columns, and how many
        schema["fields_total"] = len(fields)
    if index:
        schema["index"] = [
            {"name": f.name, "type": str(f.type)} for f in table.schema if f.name in index
        ]
    numeric: dict[str, dict[str, Any]] = {}
    for position, item in enumerate(table.schema):
        if item.name in index or not (
            pa.types.is_integer(item.type) or pa.types.is_floating(item.type)
        ):
            continue
        if len(numeric) == MAX_STAT_COLUMNS:
            break
        numeric[item.name] = _column_stats(table.column(position))
    stats: dict[str, Any] = {
        "rows": rows if rows is not None else table.num_rows,
        "columns": len(fields),
    }
    if numeric:
        stats["numeric"] = numeric
    return schema, stats


def _write(table: Any) -> bytes:
    import pyarrow.parquet as pq

    sink = io.BytesIO()
    pq.write_table(table, sink, **_WRITER_OPTIONS)
    return sink.getvalue()


def _read(stored: StoredRef, store: BlobStore) -> Any:
    pa = _pyarrow()
    import pyarrow.parquet as pq

    data = read_bytes(store, stored.digest)
    try:
        return pq.read_table(pa.BufferReader(data))
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise unreadable(stored, "Parquet file", exc) from exc


def _store_table(store: BlobStore, table: Any, name: str, *, rows: int | None = None) -> Stored:
    schema, stats = _describe(table, rows=rows)
    return put_bytes(
        store,
        _write(table),
        kind="table",
        format="parquet",
        materializer=name,
        schema=schema,
        stats=stats,
    )


def _normalised_index(pd: Any, frame: Any) -> Any:
    """The frame with an int64 index that is a regular progression turned into a RangeIndex.

    pandas builds either for equal frames (``set_index`` may give a RangeIndex, ``iloc`` an
    ``Index``) and treats them as equal; a RangeIndex is stored as metadata, an ``Index`` as a
    column, so without this, equal frames would give different bytes.
    """
    index = frame.index
    if isinstance(index, pd.RangeIndex | pd.MultiIndex) or str(index.dtype) != "int64":
        return frame
    size = len(index)
    start = int(index[0]) if size else 0
    step = int(index[1]) - start if size > 1 else 1
    if step == 0:
        return frame
    candidate = pd.RangeIndex(start, start + step * size, step, name=index.name)
    if not index.equals(candidate):
        return frame
    return frame.set_axis(candidate, axis=0)


class PandasMaterializer:
    """``pandas.DataFrame`` as Parquet; dtypes and the index come back on load."""

    name = "pandas"
    # pandas 3 names its classes by their public module; earlier versions did not.
    types: tuple[str, ...] = ("pandas.DataFrame", "pandas.core.frame.DataFrame")

    def save(self, value: Any, store: BlobStore) -> Stored:
        pd = require("pandas", package="pandas", extra="data")
        pa = _pyarrow()
        frame = _normalised_index(pd, value)
        try:
            table = pa.Table.from_pandas(frame, preserve_index=None)
        except (pa.ArrowException, TypeError, ValueError) as exc:
            raise UnsupportedValueError(
                f"cannot store this DataFrame as Parquet: {exc}",
                hint="give mixed-type object columns one type (e.g. .astype(str)) first",
            ) from exc
        return _store_table(store, table, self.name, rows=len(frame))

    def load(
        self,
        stored: StoredRef,
        store: BlobStore,
        *,
        trusted: bool = False,
        workdir: Path | None = None,
    ) -> Any:
        require("pandas", package="pandas", extra="data")
        return _read(stored, store).to_pandas()


class PolarsMaterializer:
    """``polars.DataFrame`` as Parquet (written through Arrow); active when polars is installed."""

    name = "polars"
    types: tuple[str, ...] = ("polars.DataFrame", "polars.dataframe.frame.DataFrame")

    def save(self, value: Any, store: BlobStore) -> Stored:
        _pyarrow()
        return _store_table(store, value.to_arrow(), self.name)

    def load(
        self,
        stored: StoredRef,
        store: BlobStore,
        *,
        trusted: bool = False,
        workdir: Path | None = None,
    ) -> Any:
        pl = require("polars", package="polars")
        return pl.from_arrow(_read(stored, store))


class ArrowMaterializer:
    """``pyarrow.Table`` as Parquet; loaded as a ``pyarrow.Table``."""

    name = "arrow"
    types: tuple[str, ...] = ("pyarrow.Table", "pyarrow.lib.Table")

    def save(self, value: Any, store: BlobStore) -> Stored:
        return _store_table(store, value, self.name)

    def load(
        self,
        stored: StoredRef,
        store: BlobStore,
        *,
        trusted: bool = False,
        workdir: Path | None = None,
    ) -> Any:
        return _read(stored, store)
