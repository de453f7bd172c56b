"""Reading JSON a user hands in (a checkpoint, a proof, a trusted-keys file) without tracebacks.

Python's ``json`` raises more than ``JSONDecodeError`` on hostile input: ``ValueError`` for an
integer of more than 4,300 digits, ``RecursionError`` for deeply nested arrays. Each becomes a
``ValidationError`` that names the document.
"""

from __future__ import annotations

import json
import math
from typing import Any

from labledger._foundation.errors import ValidationError

__all__ = ["finite_number", "hex_string", "parse_json"]

_HEX = frozenset("0123456789abcdefABCDEF")


def parse_json(text: str, what: str, *, hint: str = "") -> Any:
    """``json.loads(text)``, or a ``ValidationError`` saying ``what`` is not valid JSON."""
    try:
        return json.loads(text)
    except RecursionError:
        raise ValidationError(f"{what} is nested too deeply to be read", hint=hint) from None
    except ValueError as exc:  # JSONDecodeError, and too many digits
        raise ValidationError(f"{what} is not valid JSON: {exc}", hint=hint) from None


def hex_string(value: object, length: int) -> bool:
    """Whether ``value`` is a string of exactly ``length`` hexadecimal digits."""
    return isinstance(value, str) and len(value) == length and _HEX.issuperset(value)


def finite_number(value: object) -> float | None:
    """``value`` as a finite float, or ``None`` when it is not a (finite, float-sized) number."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None
