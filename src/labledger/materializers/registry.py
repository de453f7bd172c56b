"""The registry: which materializer stores a value, found by the value's type.

Materializers come from the entry-point group ``labledger.materializers`` (labledger's own are
declared there too) and from ``register_materializer``. They are loaded on first use, so importing
labledger imports no data library. The choice for a type is cached: after the first value of a
type, finding its materializer is one dict lookup.

When several materializers claim a type, the most specific class along the value's MRO wins; at
the same class, one registered with ``register_materializer`` beats a third-party entry point,
which beats a built-in one; remaining ties go to the first name in alphabetical order. Names are
unique: a plugin claiming a built-in's name is left out with a warning.
"""

from __future__ import annotations

import importlib.metadata
import threading
import warnings
from typing import TYPE_CHECKING, Any

from labledger._foundation.errors import (
    ConfigurationError,
    UnsupportedValueError,
    ValidationError,
)
from labledger.materializers.base import CatalogRef, Materializer, type_name

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping
    from pathlib import Path

    from labledger.materializers.base import Stored, StoredRef
    from labledger.workspace.blobstore import BlobStore

__all__ = [
    "GROUP",
    "MaterializerRegistry",
    "get_materializer",
    "load",
    "materializer_for",
    "ref_for",
    "register_materializer",
    "save",
]

GROUP = "labledger.materializers"
PICKLE = "pickle"
_BUILTIN_MODULE = "labledger.materializers."
# Lower wins among materializers claiming the same class.
_EXPLICIT, _PLUGIN, _BUILTIN = 0, 1, 2
_SUPPORTED = (
    "JSON-able values, str, bytes, pathlib.Path, pandas or polars DataFrames, pyarrow Tables, "
    "NumPy arrays, scikit-learn estimators, matplotlib figures"
)
# For catalog rows that do not say which materializer wrote them.
_DEFAULT_FOR_FORMAT = {
    "parquet": "pandas",
    "npy": "numpy",
    "json": "json",
    "bin": "bytes",
    "txt": "text",
    "skops": "sklearn",
    "pickle": PICKLE,
    "png": "matplotlib",
}


def _rank(entry: importlib.metadata.EntryPoint) -> int:
    return _BUILTIN if entry.value.startswith(_BUILTIN_MODULE) else _PLUGIN


class MaterializerRegistry:
    """Materializers by name and by the types they handle.

    Args:
        entry_points: Where to find materializers; the installed ``labledger.materializers``
            entry points when ``None``.
    """

    def __init__(self, entry_points: Iterable[importlib.metadata.EntryPoint] | None = None) -> None:
        self._entry_points = entry_points
        self._lock = threading.Lock()
        self._loaded = False
        self._by_name: dict[str, tuple[int, Materializer]] = {}
        self._broken: dict[str, str] = {}
        self._by_type_name: dict[str, list[tuple[int, str]]] = {}
        self._by_type: dict[type, Materializer | None] = {}

    def _ensure_loaded(self) -> None:
        if self._loaded:
            return
        with self._lock:
            if self._loaded:
                return
            found = self._entry_points
            if found is None:
                found = importlib.metadata.entry_points(group=GROUP)
            # Built-ins first: a plugin cannot take a built-in's name, or it would be asked to
            # load every value stored under that name before it was installed.
            for entry in sorted(found, key=lambda e: (_rank(e) != _BUILTIN, e.name)):
                materializer = self._load_entry(entry)
                if materializer is None:
                    continue
                if materializer.name in self._by_name:
                    warnings.warn(
                        f"materializer {materializer.name!r} from {entry.value} is left out: "
                        "another one already has that name",
                        RuntimeWarning,
                        stacklevel=4,
                    )
                    continue
                self._by_name[materializer.name] = (_rank(entry), materializer)
            self._index()
            self._loaded = True

    def _load_entry(self, entry: importlib.metadata.EntryPoint) -> Materializer | None:
        try:
            loaded = entry.load()
            materializer = loaded() if isinstance(loaded, type) else loaded
        except Exception as exc:  # one broken plugin must not stop every save
            reason = f"{type(exc).__name__}: {exc}"
        else:
            if isinstance(materializer, Materializer):
                return materializer
            reason = "it has no name, types, save and load"
        self._broken[entry.name] = reason
        warnings.warn(
            f"materializer {entry.name!r} ({entry.value}) cannot be used: {reason}",
            RuntimeWarning,
            stacklevel=4,
        )
        return None

    def _index(self) -> None:
        by_type_name: dict[str, list[tuple[int, str]]] = {}
        for name, (rank, materializer) in self._by_name.items():
            for handled in materializer.types:
                by_type_name.setdefault(handled, []).append((rank, name))
        for claims in by_type_name.values():
            claims.sort()
        self._by_type_name = by_type_name
        self._by_type = {}

    def register(self, materializer: Materializer) -> None:
        """Add ``materializer``, replacing any of the same name; it wins ties with installed ones."""
        if not isinstance(materializer, Materializer):
            raise ValidationError(
                f"{materializer!r} is not a materializer",
                hint="give it a name, a tuple of type names, and save and load methods",
            )
        self._ensure_loaded()
        with self._lock:
            self._by_name[materializer.name] = (_EXPLICIT, materializer)
            self._index()

    def get(self, name: str) -> Materializer:
        """The materializer registered as ``name``.

        Raises:
            ConfigurationError: None has that name, or its plugin failed to load.
        """
        self._ensure_loaded()
        found = self._by_name.get(name)
        if found is not None:
            return found[1]
        if name in self._broken:
            raise ConfigurationError(
                f"materializer {name!r} failed to load: {self._broken[name]}",
                hint="fix or reinstall the package that provides it",
            )
        raise ConfigurationError(
            f"no materializer named {name!r} (known: {', '.join(sorted(self._by_name))})",
            hint="install the package that provides it, or add it with register_materializer",
        )

    def for_value(self, value: Any) -> Materializer:
        """The materializer for ``value``'s type (see the module docstring for precedence).

        Raises:
            UnsupportedValueError: No materializer handles the type.
        """
        kind = type(value)
        try:
            found = self._by_type[kind]
        except KeyError:
            found = self._by_type[kind] = self._resolve(kind)
        if found is None:
            raise UnsupportedValueError(
                f"cannot store a {type_name(kind)} value: no materializer handles this type",
                hint=f"return a supported type ({_SUPPORTED}); or register a materializer for it "
                f"(register_materializer, or the {GROUP!r} entry-point group); or, if you trust "
                "it, allow pickle (allow_pickle=True, or trusted=True on the step)",
            )
        return found

    def _resolve(self, kind: type) -> Materializer | None:
        self._ensure_loaded()
        for klass in kind.__mro__:
            claims = self._by_type_name.get(type_name(klass))
            if claims:
                return self._by_name[claims[0][1]][1]
        return None

    def save(
        self,
        value: Any,
        store: BlobStore,
        *,
        materializer: str | None = None,
        allow_pickle: bool = False,
    ) -> Stored:
        """Store ``value`` with the materializer for its type, or the one named.

        Args:
            value: What to store.
            store: Where its blobs go.
            materializer: Use this one instead of choosing by type.
            allow_pickle: The caller trusts ``value``: store what nothing else can as a pickle.

        Raises:
            UnsupportedValueError: Nothing can store the value and pickle is not allowed.
            ValidationError: A materializer that needs trust was named without ``allow_pickle``.
        """
        if materializer is not None:
            chosen = self.get(materializer)
            if getattr(chosen, "needs_trust", False) and not allow_pickle:
                raise ValidationError(
                    f"the {materializer!r} materializer writes values that run code when loaded",
                    hint="pass allow_pickle=True (trusted=True on a step) if you mean it",
                )
            return chosen.save(value, store)
        try:
            return self.for_value(value).save(value, store)
        except UnsupportedValueError:
            if not allow_pickle:
                raise
        return self.get(PICKLE).save(value, store)

    def load(
        self,
        stored: StoredRef,
        store: BlobStore,
        *,
        trusted: bool = False,
        workdir: Path | None = None,
    ) -> Any:
        """Load a stored value back with the materializer that wrote it."""
        return self.get(stored.materializer).load(stored, store, trusted=trusted, workdir=workdir)


def ref_for(
    *,
    digest: str,
    kind: str,
    format: str,
    schema: Mapping[str, Any] | None = None,
    materializer: str | None = None,
) -> CatalogRef:
    """A loadable reference from what a catalog row records.

    When the row does not name its materializer, files and trees go to ``path`` and other values
    to the default for their format (``parquet`` loads as a pandas DataFrame).
    """
    if materializer is None:
        materializer = "path" if kind in {"file", "tree"} else _DEFAULT_FOR_FORMAT.get(format)
    if materializer is None:
        raise ConfigurationError(
            f"no default materializer reads format {format!r}",
            hint="name the materializer that wrote it",
        )
    return CatalogRef(digest, kind, format, materializer, dict(schema or {}))


_default = MaterializerRegistry()


def materializer_for(value: Any) -> Materializer:
    """The materializer that ``save`` would use for ``value`` (cached per type)."""
    return _default.for_value(value)


def get_materializer(name: str) -> Materializer:
    """The materializer registered as ``name`` (``"pandas"``, ``"numpy"``, ``"path"``...)."""
    return _default.get(name)


def register_materializer(materializer: Materializer) -> None:
    """Add a materializer for this process (notebooks, tests); packages use the entry point."""
    _default.register(materializer)


def save(
    value: Any,
    store: BlobStore,
    *,
    materializer: str | None = None,
    allow_pickle: bool = False,
) -> Stored:
    """Store ``value`` in ``store`` by its type; see ``MaterializerRegistry.save``."""
    return _default.save(value, store, materializer=materializer, allow_pickle=allow_pickle)


def load(
    stored: StoredRef,
    store: BlobStore,
    *,
    trusted: bool = False,
    workdir: Path | None = None,
) -> Any:
    """Load a stored value; pickles, and skops models with unknown types, need ``trusted=True``."""
    return _default.load(stored, store, trusted=trusted, workdir=workdir)
