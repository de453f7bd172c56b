"""Small pipelines the pipeline tests run (module-level, so their source can be fingerprinted)."""

from __future__ import annotations

import random
from pathlib import Path

import labledger
from labledger.pipelines import pipeline, step

SCALE = 2


def double(value: int) -> int:
    return value * SCALE


@step
def numbers(n: int) -> list[int]:
    return list(range(n))


@step
def total(values: list[int]) -> int:
    return sum(values)


@step
def scaled(value: int, factor: int = 1) -> int:
    return double(value) * factor


@step(outputs=("low", "high"))
def split(values: list[int]) -> tuple[list[int], list[int]]:
    middle = len(values) // 2
    return values[:middle], values[middle:]


@step
def combine(parts: list[int]) -> int:
    return sum(parts)


@step
def noisy() -> float:
    print("drawing a number")
    labledger.log_metric("draw", 1.0)
    return random.random()


@step
def explode(value: int) -> int:
    raise RuntimeError(f"cannot handle {value}")


@step(retries=2)
def flaky(value: int, marker: str) -> int:
    # Fails until the marker file has been touched twice: the third attempt succeeds.
    path = Path(marker)
    count = int(path.read_text() or 0) if path.exists() else 0
    path.write_text(str(count + 1))
    if count < 2:
        raise ConnectionError("flaky service")
    return value


@step
def unstorable() -> object:
    return object()


@step(cache=False)
def uncached(value: int) -> int:
    return value + 1


@pipeline
def arithmetic(n: int = 5, factor: int = 3) -> None:
    values = numbers(n)
    low, high = split(values)
    summed = total(values)
    scaled(summed, factor=factor)
    combine([total(low), total(high)])


@pipeline
def failing(n: int = 3) -> None:
    values = numbers(n)
    summed = total(values)
    broken = explode(summed)
    scaled(broken)
    scaled(summed, factor=10)


@pipeline
def retrying(marker: str) -> None:
    flaky(1, marker)


@pipeline
def random_draw() -> None:
    noisy()


@pipeline
def bad_output() -> None:
    unstorable()


@pipeline
def partly_cached(n: int = 3) -> None:
    uncached(total(numbers(n)))


@step(cache_expiry=2.0)
def short_lived(value: int) -> int:
    return value


@pipeline
def expiring() -> None:
    short_lived(1)


@step
def trains(epochs: int) -> int:
    for epoch in range(epochs):
        labledger.log_metric("loss", 1.0 / (epoch + 1))
    labledger.set_tag("model", "toy")
    return epochs


@pipeline
def training(epochs: int = 3) -> None:
    trains(epochs)


@step(retries=1)
def logs_then_fails_once(marker: str) -> int:
    path = Path(marker)
    first = not path.exists()
    path.write_text("tried")
    labledger.log_metric("attempt", 1.0 if first else 2.0)
    if first:
        raise ConnectionError("the first attempt fails")
    return 1


@pipeline
def retried_logging(marker: str) -> None:
    logs_then_fails_once(marker)


@step
def text_metric() -> int:
    labledger.log_metric("accuracy", "high")  # type: ignore[arg-type]
    return 1


@pipeline
def bad_metric() -> None:
    text_metric()


@step(cache=False)
def nested_run() -> str:
    outer = labledger.active_run()
    with labledger.start_run("inner", workspace=outer.workspace) as inner:
        labledger.log_metric("inner_metric", 1.0)
    labledger.log_metric("outer_metric", 2.0)
    return inner.id


@pipeline
def nested() -> None:
    nested_run()
