"""Checks on what is logged to a run: keys, param and tag values, metric values, steps and times.

Shared by ``ActiveRun`` and ``StepLog``, so a metric logged inside a pipeline step is refused for the
same reasons, with the same message, as one logged on a run. Metrics are written later, in batches:
a value the catalog could not store would fail every write of the run, so everything is checked
here, at the call that passes it, against what both catalogs (SQLite and PostgreSQL) can hold.

Limits: keys ``MAX_KEY`` characters, param and tag values ``MAX_VALUE`` characters, run and
artifact names ``MAX_NAME`` characters, timestamps between ``TIMESTAMP_MIN`` and
``TIMESTAMP_MAX``. No text may hold a NUL character (PostgreSQL refuses it) or a lone surrogate
(not valid Unicode, so neither catalog can encode it).

Params and tags are stored as text: ``str`` as is, ``bool``/``None`` as ``True``/``None``, numbers
with ``repr`` (NumPy and other subclasses as the plain ``int``/``float``), dicts, lists and tuples
as canonical JSON, anything else with ``str``. A value whose text would hold a memory address
(``<object object at 0x7f...>``) is refused: it differs on every run, so it records nothing.

A metric value is a real number: ``int``, ``float``, ``bool``, a NumPy scalar, or any object of one
element (a 0-d or 1-element array or tensor), which is taken as that element's float.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Iterable, Mapping
from typing import Any

from labledger._foundation.canonical import canonical_json
from labledger._foundation.errors import ValidationError

__all__ = [
    "MAX_KEY",
    "MAX_NAME",
    "MAX_VALUE",
    "STEP_BITS",
    "TIMESTAMP_MAX",
    "TIMESTAMP_MIN",
    "check_key",
    "check_mapping",
    "check_name",
    "metric_items",
    "metric_step",
    "metric_timestamp",
    "metric_value",
    "param_conflict",
    "storable_text",
    "value_text",
]

MAX_KEY = 250  # the catalog's key columns are VARCHAR(250)
MAX_NAME = 300  # run and artifact names: VARCHAR(300)
MAX_VALUE = 65_536  # param and tag values; larger data belongs in an artifact
# Unix seconds from 1970-01-01 to the end of 9999 (UTC): what a date can show.
TIMESTAMP_MIN, TIMESTAMP_MAX = 0.0, 253_402_300_799.0
# Bits of a metric step per catalog dialect: 64 on both (BIGINT on PostgreSQL since revision 0004).
STEP_BITS = {"sqlite": 64, "postgresql": 64}
_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")
_METRICS_HINT = "pass a dict such as {'loss': 0.12, 'auc': 0.93}, or a list of (key, value) pairs"


def _text_problem(text: str) -> str | None:
    """Why ``text`` cannot be stored in the catalog, or ``None`` when it can."""
    if "\x00" in text:
        return "holds a NUL character (\\x00), which PostgreSQL cannot store"
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            return (
                f"holds a lone surrogate ({text[exc.start]!r} at position {exc.start}), "
                "which is not valid Unicode text"
            )
    return None


def _short(value: object) -> str:
    """``value``'s repr for a message, cut short; never fails."""
    try:
        text = repr(value)
    except Exception:  # a huge int, or a broken __repr__
        return f"<{type(value).__name__}>"
    return text if len(text) <= 60 else f"{text[:57]}..."


def _shown(text: str) -> str:
    """``text`` for a message: its repr, cut short."""
    return repr(text) if len(text) <= 60 else f"{text[:40]!r}..."


def storable_text(text: str) -> str:
    """``text`` with NUL characters and lone surrogates escaped, so the catalog can store it."""
    if _text_problem(text) is None:
        return text
    return text.replace("\x00", "\\x00").encode("utf-8", "backslashreplace").decode("utf-8")


def check_key(key: object, what: str) -> str:
    """``key`` when it is a usable param, metric or tag name (``what`` says which)."""
    if type(key) is str and 0 < len(key) <= MAX_KEY and key.isascii() and "\x00" not in key:
        return key
    hint = f"use a non-empty string of at most {MAX_KEY} characters, e.g. 'val_loss'"
    if not isinstance(key, str):
        raise ValidationError(
            f"{what} key {_short(key)} is invalid: a {type(key).__name__}, not a string", hint=hint
        )
    if not key:
        raise ValidationError(f"{what} key {key!r} is invalid: empty", hint=hint)
    if len(key) > MAX_KEY:
        raise ValidationError(
            f"{what} key {_shown(key)} is invalid: {len(key):,} characters long, over the limit "
            f"of {MAX_KEY}",
            hint=f"use a non-empty string of at most {MAX_KEY} characters; long text belongs "
            "in a param or tag value",
        )
    problem = _text_problem(key)
    if problem is not None:
        raise ValidationError(f"{what} key {_shown(key)} is invalid: it {problem}", hint=hint)
    return key


def check_name(name: object, what: str, limit: int = MAX_NAME) -> str:
    """``name`` when it is a usable run, artifact or project name (``what`` says which)."""
    hint = f"use a non-empty string of at most {limit} characters"
    if not isinstance(name, str):
        raise ValidationError(
            f"{what} name {_short(name)} is {type(name).__name__}, not a string", hint=hint
        )
    if not name:
        raise ValidationError(f"{what} name is empty", hint=hint)
    if len(name) > limit:
        raise ValidationError(
            f"{what} name {_shown(name)} is {len(name):,} characters long, over the limit of "
            f"{limit}",
            hint=hint,
        )
    problem = _text_problem(name)
    if problem is not None:
        raise ValidationError(f"{what} name {_shown(name)} {problem}", hint=hint)
    return name


def check_mapping(values: object, call: str) -> Mapping[Any, Any]:
    """``values`` when it is a mapping of keys to values (``call`` names the function)."""
    if not isinstance(values, Mapping):
        raise ValidationError(
            f"{call} got {type(values).__name__} {_short(values)}, not a dict",
            hint=f"pass a dict of names to values, e.g. {call}({{'lr': 0.1}})",
        )
    return values


def value_text(key: str, value: object, what: str) -> str:
    """The text a param or tag (``what``) value is stored as (see the module docstring)."""
    if type(value) is str and len(value) <= MAX_VALUE and value.isascii() and "\x00" not in value:
        return value
    text = _as_text(key, value, what)
    if len(text) > MAX_VALUE:
        raise ValidationError(
            f"{what} {key!r} is {len(text):,} characters long as text, over the limit of "
            f"{MAX_VALUE:,}",
            hint="store large values as an artifact instead: "
            f"labledger.log_artifact(value, name={key!r})",
        )
    problem = _text_problem(text)
    if problem is not None:
        raise ValidationError(
            f"{what} {key!r} is {_shown(text)}, which {problem}",
            hint="remove the character, or log the value as an artifact (bytes are kept as is)",
        )
    if _ADDRESS.search(text):
        raise ValidationError(
            f"{what} {key!r} is {text:.80}, which names a memory address and would differ on "
            "every run",
            hint=f"log what identifies the value instead, e.g. its class name or its settings "
            f"({what} {key!r} = type(value).__name__)",
        )
    return text


def _as_text(key: str, value: object, what: str) -> str:
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, bool) or value is None:
        return str(value)
    try:
        if isinstance(value, int):
            return repr(int(value))
        if isinstance(value, float):
            return repr(float(value))
        if isinstance(value, dict | list | tuple):
            return canonical_json(value).decode()
        return str(value)
    except Exception as exc:
        # Not JSON-able, nested too deep, an int with more digits than Python writes as text, or
        # an object whose __str__ fails.
        raise ValidationError(
            f"{what} {key!r} holds a {type(value).__name__} that cannot be written as text: "
            f"{exc or type(exc).__name__}",
            hint="use strings, numbers, booleans, None, lists and dicts with string keys; store "
            "anything larger with labledger.log_artifact()",
        ) from None


def param_conflict(key: str, run_id: str, known: str, known_type: str | None, value: object) -> str:
    """The message for a param logged again with another value."""
    new = value_text(key, value, "param")
    if known_type is not None and known_type != type(value).__name__:
        return (
            f"param {key!r} is already {_shown(known)} ({known_type}) in run {run_id}, not {_shown(new)} "
            f"({type(value).__name__}); params are immutable"
        )
    return f"param {key!r} is already {_shown(known)} in run {run_id}, not {_shown(new)}; params are immutable"


def _not_a_number(key: str, value: object) -> ValidationError:
    return ValidationError(
        f"metric {key!r} got {type(value).__name__} {_short(value)}, not a number",
        hint="log a number (int, float, a NumPy scalar or a one-element array); record text as "
        "a tag or param",
    )


def metric_value(key: str, value: object) -> float:
    """A metric's value as a float (NaN allowed); text and non-numbers are refused.

    A NumPy scalar, or an array or tensor of exactly one element, counts as that element.
    """
    if isinstance(value, str | bytes | bytearray):
        raise _not_a_number(key, value)
    shape = getattr(value, "shape", None)
    if isinstance(shape, tuple):
        if math.prod(shape) != 1:
            raise ValidationError(
                f"metric {key!r} got {type(value).__name__} of shape {tuple(shape)}, not one "
                "number",
                hint="log one value per key, e.g. float(values.mean()), or one key per element",
            )
        item = getattr(value, "item", None)
        if callable(item):
            value = item()
    if not hasattr(value, "__float__"):
        raise _not_a_number(key, value)
    try:
        return float(value)
    except OverflowError:
        raise ValidationError(
            f"metric {key!r} got {type(value).__name__} {_short(value)}, too large for a float",
            hint="a metric is stored as a 64-bit float (at most about 1.8e308); log a param or "
            "tag for an exact large number",
        ) from None
    except (TypeError, ValueError):
        raise _not_a_number(key, value) from None


def metric_items(metrics: object) -> list[tuple[str, object]]:
    """The ``(key, value)`` pairs of a ``log_metrics`` argument: a dict or a list of pairs."""
    if isinstance(metrics, Mapping):
        return list(metrics.items())
    if isinstance(metrics, str | bytes) or not isinstance(metrics, Iterable):
        raise ValidationError(
            f"log_metrics got {type(metrics).__name__} {_short(metrics)}, not metric values",
            hint=_METRICS_HINT,
        )
    items: list[tuple[str, object]] = []
    for item in metrics:
        if not isinstance(item, tuple | list) or len(item) != 2:
            raise ValidationError(
                f"log_metrics got {_short(item)} where a (key, value) pair belongs",
                hint=_METRICS_HINT,
            )
        items.append((item[0], item[1]))
    return items


def metric_step(key: str, step: object, bits: int = 64) -> int:
    """A metric's explicit step: an int (or NumPy integer) that fits ``bits`` signed bits."""
    try:
        if isinstance(step, bool | float):
            raise TypeError
        number = operator.index(step)  # type: ignore[arg-type]
    except TypeError:
        raise ValidationError(
            f"step {_short(step)} of metric {key!r} is {type(step).__name__}, not an int",
            hint="steps are whole numbers: pass an int, e.g. step=int(step)",
        ) from None
    low, high = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    if not low <= number <= high:
        # The catalog keeps steps as integers of this size: a larger one could never be written.
        raise ValidationError(
            f"step {_short(number)} of metric {key!r} is out of range: this catalog keeps steps "
            f"between -2**{bits - 1} and 2**{bits - 1} - 1",
            hint="count steps from 0 (epochs, batches); pass times as timestamp=",
        )
    return number


def metric_timestamp(key: str, value: object) -> float:
    """A metric's explicit timestamp, in Unix seconds between 1970 and the end of 9999."""
    if isinstance(value, bool) or not hasattr(value, "__float__"):
        raise ValidationError(
            f"timestamp {_short(value)} of metric {key!r} is {type(value).__name__}, not a number",
            hint="pass Unix seconds as a float, e.g. time.time()",
        )
    try:
        number = float(value)
    except (OverflowError, TypeError, ValueError):
        number = math.inf
    if not TIMESTAMP_MIN <= number <= TIMESTAMP_MAX:
        problem = "out of range" if math.isfinite(number) else "not finite, so out of range"
        raise ValidationError(
            f"timestamp {_short(value)} of metric {key!r} is {problem}: timestamps are Unix "
            f"seconds from {TIMESTAMP_MIN:.0f} (1970) to {TIMESTAMP_MAX:.0f} (the end of 9999)",
            hint="pass seconds, e.g. time.time() (not milliseconds), or leave timestamp out",
        )
    return number
