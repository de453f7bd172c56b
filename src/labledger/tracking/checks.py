"""Checks on what is logged to a run: keys, param and tag values, metric values, steps and times.

Shared by ``ActiveRun`` and ``StepLog``, so a metric logged inside a pipeline step is refused for the
same reasons, with the same message, as one logged on a run.

Params and tags are stored as text: ``str`` as is, ``bool``/``None`` as ``True``/``None``, numbers
with ``repr`` (NumPy and other subclasses as the plain ``int``/``float``), dicts, lists and tuples
as canonical JSON, anything else with ``str``. A value whose text would hold a memory address
(``<object object at 0x7f...>``) is refused: it differs on every run, so it records nothing.

A metric value is a real number: ``int``, ``float``, ``bool``, a NumPy scalar, or any object of one
element (a 0-d or 1-element array or tensor), which is taken as that element's float.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping

from labledger._foundation.canonical import canonical_json
from labledger._foundation.errors import ValidationError

__all__ = [
    "MAX_KEY",
    "check_key",
    "metric_items",
    "metric_step",
    "metric_timestamp",
    "metric_value",
    "param_conflict",
    "value_text",
]

MAX_KEY = 250
_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")
_METRICS_HINT = "pass a dict such as {'loss': 0.12, 'auc': 0.93}, or a list of (key, value) pairs"


def check_key(key: object, what: str) -> str:
    """``key`` when it is a usable param, metric or tag name (``what`` says which)."""
    if not isinstance(key, str) or not key or len(key) > MAX_KEY:
        raise ValidationError(
            f"{what} key {key!r} is invalid",
            hint=f"use a non-empty string of at most {MAX_KEY} characters",
        )
    return key


def value_text(key: str, value: object, what: str) -> str:
    """The text a param or tag (``what``) value is stored as (see the module docstring)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, int):
        return repr(int(value))
    if isinstance(value, float):
        return repr(float(value))
    if isinstance(value, dict | list | tuple):
        try:
            text = canonical_json(value).decode()
        except TypeError as exc:
            raise ValidationError(
                f"{what} {key!r} holds a value that is not JSON-able: {exc}",
                hint="use strings, numbers, booleans, None, lists and dicts with string keys",
            ) from None
    else:
        text = str(value)
    if _ADDRESS.search(text):
        raise ValidationError(
            f"{what} {key!r} is {text:.80}, which names a memory address and would differ on "
            "every run",
            hint=f"log what identifies the value instead, e.g. its class name or its settings "
            f"({what} {key!r} = type(value).__name__)",
        )
    return text


def param_conflict(key: str, run_id: str, known: str, known_type: str | None, value: object) -> str:
    """The message for a param logged again with another value."""
    new = value_text(key, value, "param")
    if known_type is not None and known_type != type(value).__name__:
        return (
            f"param {key!r} is already {known!r} ({known_type}) in run {run_id}, not {new!r} "
            f"({type(value).__name__}); params are immutable"
        )
    return f"param {key!r} is already {known!r} in run {run_id}, not {new!r}; params are immutable"


def _not_a_number(key: str, value: object) -> ValidationError:
    return ValidationError(
        f"metric {key!r} got {type(value).__name__} {value!r:.60}, not a number",
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
    except (TypeError, ValueError, OverflowError):
        raise _not_a_number(key, value) from None


def metric_items(metrics: object) -> list[tuple[str, object]]:
    """The ``(key, value)`` pairs of a ``log_metrics`` argument: a dict or a list of pairs."""
    if isinstance(metrics, Mapping):
        return list(metrics.items())
    if isinstance(metrics, str | bytes) or not isinstance(metrics, Iterable):
        raise ValidationError(
            f"log_metrics got {type(metrics).__name__} {metrics!r:.60}, not metric values",
            hint=_METRICS_HINT,
        )
    items: list[tuple[str, object]] = []
    for item in metrics:
        if not isinstance(item, tuple | list) or len(item) != 2:
            raise ValidationError(
                f"log_metrics got {item!r:.60} where a (key, value) pair belongs",
                hint=_METRICS_HINT,
            )
        items.append((item[0], item[1]))
    return items


def metric_step(key: str, step: object) -> int:
    """A metric's explicit step."""
    if type(step) is not int:
        raise ValidationError(f"step {step!r} of metric {key!r} is not an int")
    if not -(2**63) <= step < 2**63:
        # The catalog keeps steps as 64-bit integers: a larger one could never be written.
        raise ValidationError(
            f"step {step} of metric {key!r} is out of range",
            hint="steps are whole numbers between -2**63 and 2**63 - 1",
        )
    return step


def metric_timestamp(key: str, value: object) -> float:
    """A metric's explicit timestamp, in finite Unix seconds."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValidationError(
            f"timestamp {value!r:.60} of metric {key!r} is not a number",
            hint="pass Unix seconds as a float, e.g. time.time()",
        )
    number = float(value)
    if not math.isfinite(number):
        raise ValidationError(f"timestamp {value!r} of metric {key!r} is not finite")
    return number
