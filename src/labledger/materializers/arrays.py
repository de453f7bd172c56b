"""NumPy arrays and scalars as ``.npy`` files, never pickled.

Arrays are written in C order, so a Fortran-ordered array and its C-ordered copy (equal values) give
the same bytes. Object arrays are refused: ``.npy`` can only hold them as pickles.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

from labledger._foundation.errors import UnsupportedValueError
from labledger.materializers.base import Stored, finite, put_bytes, read_bytes, require, unreadable

if TYPE_CHECKING:
    from pathlib import Path

    from labledger.materializers.base import StoredRef
    from labledger.workspace.blobstore import BlobStore

__all__ = ["NumpyMaterializer"]


def _stats(np: Any, array: Any) -> dict[str, Any]:
    stats: dict[str, Any] = {"size": int(array.size)}
    if not array.size:
        return stats
    if np.issubdtype(array.dtype, np.floating):
        # fmin/fmax skip NaN without the all-NaN warnings of nanmin/nanmax.
        valid = int(array.size - np.count_nonzero(np.isnan(array)))
        total = np.nansum(array, dtype=np.float64)
        stats.update(
            min=finite(np.fmin.reduce(array, axis=None)),
            max=finite(np.fmax.reduce(array, axis=None)),
            mean=finite(total / valid) if valid else None,
        )
    elif np.issubdtype(array.dtype, np.integer):
        stats.update(
            min=finite(array.min()),
            max=finite(array.max()),
            mean=finite(array.mean(dtype=np.float64)),
        )
    return stats


class NumpyMaterializer:
    """``numpy.ndarray`` (and NumPy scalars, as 0-d arrays) as ``.npy`` with ``allow_pickle=False``."""

    name = "numpy"
    types: tuple[str, ...] = ("numpy.ndarray", "numpy.generic")

    def save(self, value: Any, store: BlobStore) -> Stored:
        np = require("numpy", package="numpy", extra="data")
        scalar = isinstance(value, np.generic)
        array = np.asarray(value)
        if not array.flags.c_contiguous:
            array = np.ascontiguousarray(array)
        if array.dtype.hasobject:
            raise UnsupportedValueError(
                "object arrays cannot be stored safely: .npy holds them only as pickles",
                hint="convert to a numeric, bool or string dtype first (e.g. array.astype(str))",
            )
        sink = io.BytesIO()
        np.save(sink, array, allow_pickle=False)
        schema: dict[str, Any] = {"dtype": str(array.dtype), "shape": list(array.shape)}
        if scalar:
            schema["scalar"] = True
        return put_bytes(
            store,
            sink.getvalue(),
            kind="array",
            format="npy",
            materializer=self.name,
            schema=schema,
            stats=_stats(np, array),
        )

    def load(
        self,
        stored: StoredRef,
        store: BlobStore,
        *,
        trusted: bool = False,
        workdir: Path | None = None,
    ) -> Any:
        np = require("numpy", package="numpy", extra="data")
        data = read_bytes(store, stored.digest)
        try:
            array = np.load(io.BytesIO(data), allow_pickle=False)
        except (ValueError, OSError, EOFError) as exc:
            raise unreadable(stored, ".npy array", exc) from exc
        if stored.schema.get("scalar") and array.shape == ():
            return array[()]
        return array
