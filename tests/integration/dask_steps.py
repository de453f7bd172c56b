"""Steps the Dask tests run on workers (a module of its own: it travels to workers by value)."""

from __future__ import annotations

import os
import signal

import labledger
from labledger.pipelines import Resources, pipeline, step


@step
def numbers(n: int) -> list[int]:
    return list(range(n))


@step
def square(values: list[int]) -> list[int]:
    return [v * v for v in values]


@step
def total(values: list[int]) -> int:
    return sum(values)


@step
def worker_pid(value: int) -> int:
    return os.getpid() + 0 * value


@step
def die(value: int) -> int:
    os.kill(os.getpid(), signal.SIGKILL)
    return value


@step(resources=Resources(gpus=1))
def needs_gpu(value: int) -> int:
    return value


@pipeline
def squares(n: int = 6) -> None:
    values = numbers(n)
    total(square(values))
    worker_pid(total(values))


@pipeline
def killed(n: int = 3) -> None:
    values = numbers(n)
    die(total(values))


@pipeline
def gpu() -> None:
    needs_gpu(1)


@step
def logs(value: int) -> int:
    for i in range(3):
        labledger.log_metric("progress", float(i))
    labledger.set_tag("host", "worker")
    return value


@step
def stores_an_artifact(value: int) -> int:
    labledger.log_artifact(b"bytes", name="side-output")
    return value


@pipeline
def logging_steps() -> None:
    logs(1)


@pipeline
def artifact_on_worker() -> None:
    stores_an_artifact(1)
