"""What a materializer is, and what it reports about a value it stored.

A materializer turns values of some Python types into blobs and back. ``save`` returns a
``Stored``: the digest and size of the blob that holds the value, its kind and format, a schema and
summary statistics for the catalog, and every blob it wrote. ``load`` takes anything shaped like a
``StoredRef`` (a ``Stored``, or a ``CatalogRef`` built from a catalog row) and returns the value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from labledger._foundation.errors import ConfigurationError, IntegrityError
from labledger._foundation.extras import install_hint

if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path
    from types import ModuleType

    from labledger.workspace.blobstore import BlobStore

__all__ = [
    "CatalogRef",
    "Materializer",
    "Stored",
    "StoredRef",
    "finite",
    "put_bytes",
    "read_bytes",
    "require",
    "type_name",
    "unreadable",
]


@dataclass(frozen=True, slots=True)
class Stored:
    """A value as stored: its blob, what it is, and what the catalog records about it.

    Attributes:
        digest: The blob holding the value (for trees, the manifest blob).
        size: Bytes of that blob.
        kind: ``table``, ``array``, ``json``, ``bytes``, ``text``, ``file``, ``tree``, ``model``,
            ``figure`` or ``object`` (plugins may add kinds).
        format: ``parquet``, ``npy``, ``json``, ``bin``, ``txt``, ``tree``, ``skops``, ``pickle``,
            ``png``, or a file's suffix.
        materializer: The registry name of the materializer that wrote it, used to load it back.
        schema: Field names and types, dtype and shape, or the type stored.
        stats: Summary statistics (rows and per-column min/max/mean/nulls, sizes, item counts).
        blobs: Every ``(digest, size)`` written, so the catalog can register them all.
    """

    digest: str
    size: int
    kind: str
    format: str
    materializer: str
    schema: dict[str, Any] = field(default_factory=dict)
    stats: dict[str, Any] = field(default_factory=dict)
    blobs: tuple[tuple[str, int], ...] = ()


class StoredRef(Protocol):
    """Enough to load a stored value back: satisfied by ``Stored`` and ``CatalogRef``."""

    @property
    def digest(self) -> str: ...

    @property
    def kind(self) -> str: ...

    @property
    def format(self) -> str: ...

    @property
    def materializer(self) -> str: ...

    @property
    def schema(self) -> Mapping[str, Any]: ...


@dataclass(frozen=True, slots=True)
class CatalogRef:
    """A stored value named by what a catalog row records (see ``registry.ref_for``)."""

    digest: str
    kind: str
    format: str
    materializer: str
    schema: Mapping[str, Any] = field(default_factory=dict)


@runtime_checkable
class Materializer(Protocol):
    """Turns values of some types into blobs and back.

    Attributes:
        name: The registry name, recorded with every value it stores.
        types: Fully qualified type names it handles (``"pandas.core.frame.DataFrame"``), matched
            along the value's MRO, so a subclass is handled unless something claims it directly.
    """

    name: str
    types: tuple[str, ...]

    def save(self, value: Any, store: BlobStore) -> Stored:
        """Write ``value`` into ``store`` and describe what was written."""
        ...

    def load(
        self,
        stored: StoredRef,
        store: BlobStore,
        *,
        trusted: bool = False,
        workdir: Path | None = None,
    ) -> Any:
        """Read a value this materializer saved.

        Args:
            stored: Where the value is and how it was written.
            store: The blob store holding it.
            trusted: The caller vouches for whoever wrote the blob; formats that can run code
                when read (pickle, non-standard types in skops) refuse to load without it.
            workdir: Where files and folders are written back (a fresh temporary folder when
                ``None``); values that live in memory ignore it.
        """
        ...


def type_name(kind: type) -> str:
    """A type's fully qualified name, as materializers list them in ``types``."""
    return f"{kind.__module__}.{kind.__qualname__}"


def finite(value: Any) -> float | str | None:
    """A statistic as JSON can hold it: a finite float, ``None`` for NaN/inf/missing, else text."""
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    return number if math.isfinite(number) else None


def put_bytes(
    store: BlobStore,
    data: bytes,
    *,
    kind: str,
    format: str,
    materializer: str,
    schema: dict[str, Any] | None = None,
    stats: dict[str, Any] | None = None,
) -> Stored:
    """Store one blob and describe it: the common case of a value that fits in one blob."""
    digest = store.put(data)
    size = len(data)
    return Stored(
        digest=digest,
        size=size,
        kind=kind,
        format=format,
        materializer=materializer,
        schema=schema if schema is not None else {},
        stats=stats if stats is not None else {},
        blobs=((digest, size),),
    )


def read_bytes(store: BlobStore, digest: str) -> bytes:
    """A blob's bytes."""
    with store.open(digest) as handle:
        return handle.read()


def unreadable(stored: StoredRef, what: str, cause: BaseException) -> IntegrityError:
    """The error for a blob whose bytes do not parse as the format it was recorded with."""
    return IntegrityError(
        f"blob {stored.digest} is not a readable {what}: {type(cause).__name__}: {cause}",
        hint="run `labledger verify` to check the store; if the blob is intact, it was not "
        f"written as {stored.format!r} by the {stored.materializer!r} materializer",
    )


def require(module: str, *, package: str, extra: str | None = None) -> ModuleType:
    """Import an optional library, or say which package (or labledger extra) provides it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        how = install_hint(extra) if extra else f"pip install {package}"
        raise ConfigurationError(
            f"{package} is needed to read or write this value but is not installed ({exc})",
            hint=how,
        ) from exc
