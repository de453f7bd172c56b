"""Plain values: JSON-able values as canonical JSON, bytes as they are, text as UTF-8.

These sit on the hot path of every pipeline step that returns a number or a small dict, so they do
no more than encode, hash and store.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from labledger._foundation.canonical import canonical_json
from labledger._foundation.errors import UnsupportedValueError
from labledger.materializers.base import Stored, put_bytes, read_bytes, unreadable

if TYPE_CHECKING:
    from pathlib import Path

    from labledger.materializers.base import StoredRef
    from labledger.workspace.blobstore import BlobStore

__all__ = ["BytesMaterializer", "JsonMaterializer", "TextMaterializer"]


class JsonMaterializer:
    """``None``, booleans, numbers, and dicts/lists/tuples of them, as canonical JSON.

    Canonical JSON sorts keys and writes non-finite floats as ``"NaN"``/``"Infinity"``, so equal
    values give equal bytes. Loading gives lists for tuples and those strings for non-finite floats.
    """

    name = "json"
    types: tuple[str, ...] = (
        "builtins.NoneType",
        "builtins.bool",
        "builtins.int",
        "builtins.float",
        "builtins.dict",
        "builtins.list",
        "builtins.tuple",
    )

    def save(self, value: Any, store: BlobStore) -> Stored:
        try:
            data = canonical_json(value)
        except (TypeError, ValueError) as exc:
            raise UnsupportedValueError(
                f"cannot store a {type(value).__name__} as JSON: {exc}",
                hint="make every key a str and every item a number, str, bool, None, list or "
                "dict; or store the odd parts as their own values",
            ) from exc
        stats = {"items": len(value)} if isinstance(value, dict | list | tuple) else {}
        return put_bytes(
            store,
            data,
            kind="json",
            format="json",
            materializer=self.name,
            schema={"type": type(value).__name__},
            stats=stats,
        )

    def load(
        self,
        stored: StoredRef,
        store: BlobStore,
        *,
        trusted: bool = False,
        workdir: Path | None = None,
    ) -> Any:
        try:
            return json.loads(read_bytes(store, stored.digest))
        except ValueError as exc:
            raise unreadable(stored, "JSON document", exc) from exc


class BytesMaterializer:
    """``bytes``, ``bytearray`` and ``memoryview`` stored as they are; loaded as ``bytes``."""

    name = "bytes"
    types: tuple[str, ...] = ("builtins.bytes", "builtins.bytearray", "builtins.memoryview")

    def save(self, value: Any, store: BlobStore) -> Stored:
        data = value if isinstance(value, bytes) else bytes(value)
        return put_bytes(
            store,
            data,
            kind="bytes",
            format="bin",
            materializer=self.name,
            stats={"size": len(data)},
        )

    def load(
        self,
        stored: StoredRef,
        store: BlobStore,
        *,
        trusted: bool = False,
        workdir: Path | None = None,
    ) -> Any:
        return read_bytes(store, stored.digest)


def _line_count(text: str) -> int:
    # A last line without a newline still counts; splitlines() would copy the whole text.
    return text.count("\n") + (1 if text and not text.endswith("\n") else 0)


class TextMaterializer:
    """``str`` stored as UTF-8 text; loaded as ``str``."""

    name = "text"
    types: tuple[str, ...] = ("builtins.str",)

    def save(self, value: Any, store: BlobStore) -> Stored:
        try:
            data = value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise UnsupportedValueError(
                f"cannot store this text as UTF-8: {exc}",
                hint="lone surrogates cannot be encoded; store the raw bytes instead",
            ) from exc
        return put_bytes(
            store,
            data,
            kind="text",
            format="txt",
            materializer=self.name,
            schema={"encoding": "utf-8"},
            stats={"characters": len(value), "lines": _line_count(value)},
        )

    def load(
        self,
        stored: StoredRef,
        store: BlobStore,
        *,
        trusted: bool = False,
        workdir: Path | None = None,
    ) -> Any:
        try:
            return read_bytes(store, stored.digest).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise unreadable(stored, "UTF-8 text", exc) from exc
