"""Running one task: load its inputs, seed the random generators, call the step, store its outputs.

``execute_task`` touches only the blob store, never the catalog, so it runs the same in-process,
in a thread pool or on a remote Dask worker; the runner records its result. Only digests and small
descriptions cross process boundaries.
"""

from __future__ import annotations

import random
import sys
import time
import traceback
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from labledger._foundation.digests import digest_bytes
from labledger._foundation.errors import LabledgerError
from labledger.pipelines.capture import capture_task
from labledger.tracking.run import active_run, run_depth
from labledger.tracking.step_log import step_log

if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path

    from labledger.materializers import Stored
    from labledger.pipelines.file_inputs import FileInput
    from labledger.pipelines.graph import Arg
    from labledger.pipelines.steps import Step
    from labledger.tracking.run import ActiveRun
    from labledger.tracking.step_log import StepLog
    from labledger.workspace.blobstore import BlobStore

__all__ = ["TaskResult", "TaskSpec", "execute_task", "task_seed"]

_SEED_MASK = 0xFFFF_FFFF


def task_seed(run_seed: int, node: str) -> int:
    """The seed of one task: derived from the run's seed and the task's name, so stable."""
    digest = digest_bytes(f"{run_seed}:{node}".encode())
    return int(digest[7:15], 16) & _SEED_MASK


@dataclass(slots=True)
class TaskSpec:
    """Everything needed to run one task, small enough to send to a worker."""

    task_id: str
    node: str
    step: Step
    args: dict[str, Arg]
    inputs: dict[str, Stored]
    seed: int
    files: tuple[FileInput, ...] = ()
    path_map: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class TaskResult:
    """What running a task gave: stored outputs (or an error), timings and the captured log."""

    node: str
    outputs: dict[str, Stored] = field(default_factory=dict)
    values: dict[str, Any] | None = None
    started_at: float = 0.0
    ended_at: float = 0.0
    attempts: int = 0
    log_digest: str | None = None
    log_size: int = 0
    error: str | None = None
    traceback: str = ""
    logged: StepLog | None = None  # metrics and tags the step logged, for the pipeline's run

    @property
    def ok(self) -> bool:
        return self.error is None


def _live_run() -> ActiveRun | None:
    """The pipeline's run, when this process has it: step metrics then reach it as they come."""
    return active_run() if run_depth() > 0 else None


def _seed_generators(seed: int) -> None:
    random.seed(seed)
    # Only libraries the process already uses: importing NumPy or torch here would cost more
    # than most steps.
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        numpy.random.seed(seed)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.manual_seed(seed)


def _arguments(
    spec: TaskSpec, values: Mapping[str, Any], store: BlobStore, workdir: Path | None
) -> dict[str, Any]:
    loaded: dict[str, Any] = {}

    def value_of(name: str) -> Any:
        if name in values:
            return values[name]
        if name not in loaded:
            from labledger.materializers import load

            loaded[name] = load(
                spec.inputs[name], store, trusted=spec.step.trusted, workdir=workdir
            )
        return loaded[name]

    arguments: dict[str, Any] = {}
    for name, arg in spec.args.items():
        if arg.shape == "literal":
            arguments[name] = arg.value
        elif arg.shape == "input":
            arguments[name] = value_of(arg.inputs[0])
        elif arg.shape == "dict":
            arguments[name] = {k: value_of(n) for k, n in zip(arg.keys, arg.inputs, strict=True)}
        else:
            items = [value_of(n) for n in arg.inputs]
            arguments[name] = items if arg.shape == "list" else tuple(items)
    if spec.files:
        from labledger.pipelines.file_inputs import place_paths

        arguments = place_paths(arguments, spec.files, spec.path_map)
    return arguments


def _split_outputs(step: Step, result: Any) -> dict[str, Any]:
    names = step.outputs
    if len(names) == 1:
        return {names[0]: result}
    if isinstance(result, dict) and set(result) == set(names):
        return {name: result[name] for name in names}
    if isinstance(result, tuple | list) and len(result) == len(names):
        return dict(zip(names, result, strict=True))
    raise LabledgerError(
        f"step {step.name!r} declares outputs {', '.join(names)} but returned "
        f"{type(result).__name__}",
        hint=f"return a tuple of {len(names)} values or a dict with keys {', '.join(names)}",
    )


def _format_error(exc: BaseException) -> str:
    return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))[-20_000:]


def execute_task(
    spec: TaskSpec,
    store: BlobStore,
    *,
    values: Mapping[str, Any] | None = None,
    keep_values: bool = False,
    defer_logging: bool = False,
    workdir: Path | None = None,
) -> TaskResult:
    """Run one task and store its outputs; errors come back in the result, never raised.

    Args:
        spec: The task.
        store: Where inputs are read and outputs written.
        values: Inputs already in memory, by input name (skips loading them).
        keep_values: Return the output values too (in-process executors pass them on).
        defer_logging: Leave the metrics and tags the step logs to the runner, instead of also
            logging them to the active run as they come: for processes where the pipeline's run
            is out of reach. Either way ``TaskResult.logged`` holds them (the last attempt's).
        workdir: Where file and folder inputs are materialised.
    """
    from labledger.materializers import save

    step = spec.step
    result = TaskResult(node=spec.node, started_at=time.time())
    with capture_task(spec.node) as log:
        try:
            arguments = _arguments(spec, values or {}, store, workdir)
        except Exception as exc:  # a missing or corrupt input is this task's failure
            result.error = f"cannot load the inputs of step {spec.node!r}: {exc}"
            result.traceback = _format_error(exc)
            arguments = None
        while arguments is not None:
            result.attempts += 1
            _seed_generators(spec.seed)
            with step_log(None if defer_logging else _live_run()) as logged:
                try:
                    outputs = _split_outputs(step, step.func(**arguments))
                except Exception as exc:
                    if result.attempts <= step.retries:
                        print(
                            f"attempt {result.attempts} failed: {exc!r}; retrying", file=sys.stderr
                        )
                        continue
                    result.error = f"step {spec.node!r} raised {type(exc).__name__}: {exc}"
                    result.traceback = _format_error(exc)
                    break
                finally:
                    result.logged = logged if logged.metrics or logged.tags else None
            try:
                result.outputs = {
                    name: save(value, store, allow_pickle=step.trusted)
                    for name, value in outputs.items()
                }
            except LabledgerError as exc:
                result.error = f"step {spec.node!r} returned a value labledger cannot store: {exc}"
                result.traceback = _format_error(exc)
            if keep_values and result.error is None:
                result.values = outputs
            break
    text = log.getvalue()
    if text:
        data = text.encode("utf-8", "replace")
        result.log_digest = store.put(data)
        result.log_size = len(data)
    result.ended_at = time.time()
    return result
