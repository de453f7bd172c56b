"""Materializers: how Python values become stored bytes, and come back.

``save(value, store)`` picks a materializer by the value's type (DataFrames and Arrow tables to
Parquet, NumPy arrays to ``.npy``, JSON-able values to canonical JSON, ``str`` to UTF-8 text, bytes
as they are, paths to files and trees, scikit-learn estimators to skops, matplotlib figures to PNG)
and returns a ``Stored`` describing what it wrote; ``load(stored, store)`` reads it back. Pickle is
used only when the caller opts in. More materializers plug in through the ``labledger.materializers``
entry-point group.
"""

from labledger.materializers.base import CatalogRef, Materializer, Stored, StoredRef
from labledger.materializers.registry import (
    MaterializerRegistry,
    get_materializer,
    load,
    materializer_for,
    ref_for,
    register_materializer,
    save,
)

__all__ = [
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
]
