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


def _normalise(value: Any) -> Any:
    if value is None or isinstance(value, bool | str | int):
        return value
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return value
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"canonical JSON keys must be str, got {type(key).__name__}")
            out[key] = _normalise(item)
        return out
    if isinstance(value, list | tuple):
        return [_normalise(item) for item in value]
    raise TypeError(f"{type(value).__name__} is not JSON-able; convert it to a str, number or list")


def canonical_text(value: Any) -> str:
    """Return the canonical JSON text of ``value``."""
    return json.dumps(
        _normalise(value),
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
    )


def canonical_json(value: Any) -> bytes:
    """Return the canonical JSON bytes of ``value`` (UTF-8)."""
    return canonical_text(value).encode("utf-8")
