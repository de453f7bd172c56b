"""Pipelines whose steps print and log (module-level, so their source can be fingerprinted)."""

from __future__ import annotations

import logging
import sys

from labledger.pipelines import pipeline, step

log = logging.getLogger("chatty")


@step
def ingest(n: int) -> list[int]:
    print(f"loaded {n} rows")
    log.warning("%d rows have no label", 1)
    print("no newline at the end", end="", file=sys.stderr)
    return list(range(n))


@step
def count(values: list[int]) -> int:
    print(f"counted {len(values)}")
    return len(values)


@step
def talk(part: int, lines: int) -> int:
    for number in range(lines):
        # Two writes per line, so a line could tear if threads shared a buffer.
        print(f"part {part} line {number}", end="")
        print()
    return part


@step
def quiet(values: list[int]) -> int:
    return sum(values)


@pipeline
def chatty(n: int = 3) -> None:
    values = ingest(n)
    count(values)
    quiet(values)


@pipeline
def chorus(parts: int = 4, lines: int = 200) -> None:
    for part in range(parts):
        talk(part, lines)


@step
def interrupted(value: int) -> int:
    raise KeyboardInterrupt


@pipeline
def stopped(n: int = 3) -> None:
    values = ingest(n)
    interrupted(count(values))
