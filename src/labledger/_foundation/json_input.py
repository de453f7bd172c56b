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

__all__ = [
    "MAX_DOCUMENT_BYTES",
    "MAX_JSON_DEPTH",
    "finite_number",
    "hex_string",
    "json_depth",
    "parse_json",
    "require_shallow",
    "require_small_document",
]

# How deeply a JSON document labledger keeps may nest: far more than any schema or payload needs,
# and far below what serialising it back (in Python or in a server's answer) can take.
MAX_JSON_DEPTH = 64

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


def json_depth(value: object, *, stop: int = MAX_JSON_DEPTH + 1) -> int:
    """How deeply ``value`` (JSON-like: dicts, lists, tuples, scalars) nests, counted up to
    ``stop`` (past which the walk ends); a scalar is 0, ``{}`` or ``[]`` is 1."""
    deepest = 0
    pending: list[tuple[object, int]] = [(value, 0)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list | tuple):
            children = item
        else:
            continue
        depth += 1
        if depth > deepest:
            deepest = depth
            if deepest >= stop:
                return deepest
        pending.extend(
            (child, depth) for child in children if isinstance(child, dict | list | tuple)
        )
    return deepest


MAX_DOCUMENT_BYTES = 256 * 1024
"""The most a JSON document kept beside an artifact (its schema, its stats) may take, as text:
every list of artifacts carries them."""


def require_small_document(value: object, what: str) -> None:
    """Refuse ``value`` when it nests deeper than ``MAX_JSON_DEPTH`` or its JSON text is longer
    than ``MAX_DOCUMENT_BYTES``.

    Raises:
        ValidationError: It does; the message names ``what``.
    """
    require_shallow(value, what)
    size = len(json.dumps(value, separators=(",", ":"), default=str))
    if size > MAX_DOCUMENT_BYTES:
        raise ValidationError(
            f"{what} takes {size:,} bytes as JSON, more than {MAX_DOCUMENT_BYTES:,}",
            hint="keep a summary there; store the full document as an artifact of its own",
        )


def require_shallow(value: object, what: str) -> None:
    """Refuse ``value`` when it nests deeper than ``MAX_JSON_DEPTH``.

    Raises:
        ValidationError: It does; the message names ``what``.
    """
    if json_depth(value) > MAX_JSON_DEPTH:
        raise ValidationError(
            f"{what} nests more than {MAX_JSON_DEPTH} levels deep",
            hint="flatten it: keep at most a few levels of objects and lists",
        )
