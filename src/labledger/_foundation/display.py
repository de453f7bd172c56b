"""Text for people: short ids that stay unique, and one-line charts of a series."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

__all__ = ["short_ids", "sparkline"]

_BARS = "▁▂▃▄▅▆▇█"
_ASCII_BARS = "_.-=+*#"


def _common_prefix(a: str, b: str) -> int:
    length = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        length += 1
    return length


def short_ids(
    identifiers: Sequence[str], minimum: int = 8, *, among: Iterable[str] = ()
) -> dict[str, str]:
    """The shortest prefix (at least ``minimum`` characters) that tells each id from the others.

    Time-ordered ids (UUIDv7) made in the same minute share their first 8 characters, so a fixed
    length is not enough to pass a shown id back to a command. ``among`` holds more ids the
    prefixes must not match (those next to the shown ones in the catalog, say), so a shown prefix
    names one id wherever it is typed back.
    """
    shown = set(identifiers)
    every = sorted(shown.union(among))
    result: dict[str, str] = {}
    for index, identifier in enumerate(every):
        if identifier not in shown:
            continue
        neighbours = every[max(index - 1, 0) : index] + every[index + 1 : index + 2]
        length = max([minimum, *(_common_prefix(identifier, n) + 1 for n in neighbours)])
        if identifier[length - 1 : length] == "-":
            length += 1
        result[identifier] = identifier[:length]
    return result


def sparkline(values: Sequence[float], width: int = 30, *, ascii_only: bool = False) -> str:
    """A one-line chart of ``values`` (NaN as a gap), averaged down to at most ``width`` cells."""
    bars = _ASCII_BARS if ascii_only else _BARS
    if not values:
        return ""
    buckets: list[list[float]] = [[] for _ in range(min(width, len(values)))]
    for index, value in enumerate(values):
        buckets[index * len(buckets) // len(values)].append(value)
    points = [
        math.fsum(finite) / len(finite)
        if (finite := [v for v in b if math.isfinite(v)])
        else math.nan
        for b in buckets
    ]
    finite_points = [p for p in points if math.isfinite(p)]
    if not finite_points:
        return " " * len(points)
    low, high = min(finite_points), max(finite_points)
    top = len(bars) - 1
    return "".join(
        " "
        if not math.isfinite(p)
        else bars[round((p - low) / (high - low) * top) if high > low else top // 2]
        for p in points
    )
