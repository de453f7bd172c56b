"""Checks on what is logged to a run: keys, metric values, steps and timestamps.

Shared by ``ActiveRun`` and ``StepLog``, so a metric logged inside a pipeline step is refused for the
same reasons, with the same message, as one logged on a run.
"""

from __future__ import annotations

import math

from labledger._foundation.errors import ValidationError

__all__ = ["MAX_KEY", "check_key", "metric_step", "metric_timestamp", "metric_value"]

MAX_KEY = 250


def check_key(key: object, what: str) -> str:
    """``key`` when it is a usable param, metric or tag name (``what`` says which)."""
    if not isinstance(key, str) or not key or len(key) > MAX_KEY:
        raise ValidationError(
            f"{what} key {key!r} is invalid",
            hint=f"use a non-empty string of at most {MAX_KEY} characters",
        )
    return key


def metric_value(key: str, value: object) -> float:
    """A metric's value as a float (NaN allowed); text and non-numbers are refused."""
    if isinstance(value, str | bytes) or not hasattr(value, "__float__"):
        raise ValidationError(
            f"metric {key!r} got {type(value).__name__} {value!r:.60}, not a number",
            hint="log numbers only; record text as a tag or param",
        )
    return float(value)


def metric_step(key: str, step: object) -> int:
    """A metric's explicit step."""
    if type(step) is not int:
        raise ValidationError(f"step {step!r} of metric {key!r} is not an int")
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
