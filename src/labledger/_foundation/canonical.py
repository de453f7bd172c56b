"""Canonical JSON: one byte string per value, so that digests of records are stable.

Keys are sorted, separators are minimal, text is UTF-8 (not escaped), floats use Python's shortest
round-trip repr, and non-finite floats, which JSON cannot hold, are written as the strings
``"NaN"``, ``"Infinity"`` and ``"-Infinity"``. Tuples are lists. Anything else is a ``TypeError``:
a record that cannot be canonicalised must not be silently hashed.
"""

from __future__ import annotations

import json
import math
from typing import Any

__all__ = ["canonical_json", "canonical_text"]


_SCALARS = frozenset({str, int, bool, type(None)})
# One encoder for every call: json.dumps builds a new one whenever options are given.
_encode = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
).encode


def _normalise(value: Any) -> Any:
    kind = type(value)
    if kind in _SCALARS:
        return value
    if kind is dict:
        out: dict[str, Any] = {}
        for key, item in value.items():
            if type(key) is not str and not isinstance(key, str):
                raise TypeError(f"canonical JSON keys must be str, got {type(key).__name__}")
            out[key] = item if type(item) in _SCALARS else _normalise(item)
        return out
    if kind is list or kind is tuple:
        return [item if type(item) in _SCALARS else _normalise(item) for item in value]
    return _normalise_other(value)


def _normalise_other(value: Any) -> Any:
    # Floats, and subclasses of the built-in types (enums, named tuples, ...).
    if value is None or isinstance(value, bool | str | int):
        return value
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return value
    if isinstance(value, dict):
        return _normalise(dict(value))
    if isinstance(value, list | tuple):
        return _normalise(list(value))
    raise TypeError(f"{type(value).__name__} is not JSON-able; convert it to a str, number or list")


def canonical_text(value: Any) -> str:
    """Return the canonical JSON text of ``value``."""
    if type(value) in _SCALARS:
        return _encode(value)
    return _encode(_normalise(value))


def canonical_json(value: Any) -> bytes:
    """Return the canonical JSON bytes of ``value`` (UTF-8)."""
    return canonical_text(value).encode("utf-8")
