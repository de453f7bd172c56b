"""What running a pipeline returns: the run and the outcome of each task, or how Ctrl-C left it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from labledger._foundation.errors import NotFoundError

if TYPE_CHECKING:
    from labledger.materializers import Stored
    from labledger.workspace.workspace import Workspace

__all__ = ["PipelineRun", "RunInterrupted", "TaskOutcome"]


@dataclass(frozen=True, slots=True)
class TaskOutcome:
    """One task of a pipeline run.

    Attributes:
        node: The task's name in the graph.
        step: The step's qualified name.
        status: ``finished`` (ran), ``cached`` (reused), ``failed`` or ``skipped`` (an input failed).
        task_id: The task's id in the catalog.
        cache_key: Its cache key.
        outputs: Artifact id of each output.
        digests: Digest of each output.
        duration: Seconds spent running (0 when cached).
        error: The error, when it failed.
    """

    node: str
    step: str
    status: str
    task_id: str
    cache_key: str
    outputs: dict[str, str] = field(default_factory=dict)
    digests: dict[str, str] = field(default_factory=dict)
    duration: float = 0.0
    error: str | None = None


@dataclass(frozen=True, slots=True)
class PipelineRun:
    """A finished (or failed) pipeline run.

    Attributes:
        run_id: The run's id.
        pipeline: The pipeline's name.
        status: ``finished`` or ``failed``.
        params: The parameters it ran with.
        seed: The run's seed.
        tasks: Outcome per task name, in the order they were defined.
        duration: Wall-clock seconds.
    """

    run_id: str
    pipeline: str
    status: str
    params: dict[str, Any]
    seed: int
    tasks: dict[str, TaskOutcome]
    duration: float
    workspace: Workspace = field(repr=False, compare=False)
    stored: dict[str, Stored] = field(default_factory=dict, repr=False, compare=False)

    @property
    def executed(self) -> list[str]:
        """Tasks that ran."""
        return [t.node for t in self.tasks.values() if t.status == "finished"]

    @property
    def cached(self) -> list[str]:
        """Tasks answered from the cache."""
        return [t.node for t in self.tasks.values() if t.status == "cached"]

    def _ref(self, ref: str) -> tuple[TaskOutcome, str]:
        node, _, output = ref.partition(".")
        task = self.tasks.get(node)
        if task is None or not task.outputs:
            raise NotFoundError(
                f"run {self.run_id} has no output {ref!r}",
                hint=f"outputs: {', '.join(self.output_refs()) or '(none)'}",
            )
        if not output:
            if len(task.outputs) != 1:
                raise NotFoundError(
                    f"step {node!r} has several outputs", hint=f"name one: {node}.<output>"
                )
            output = next(iter(task.outputs))
        if output not in task.outputs:
            raise NotFoundError(f"step {node!r} has no output {output!r}")
        return task, output

    def output_refs(self) -> list[str]:
        """Every output as ``node`` or ``node.output``."""
        refs: list[str] = []
        for task in self.tasks.values():
            if len(task.outputs) == 1:
                refs.append(task.node)
            else:
                refs.extend(f"{task.node}.{name}" for name in task.outputs)
        return refs

    def artifact_id(self, ref: str) -> str:
        """The artifact holding output ``ref`` (``node`` or ``node.output``)."""
        task, output = self._ref(ref)
        return task.outputs[output]

    def load(self, ref: str, *, trusted: bool = False) -> Any:
        """Load output ``ref`` back from the store as a Python value."""
        from labledger.materializers import load

        task, output = self._ref(ref)
        return load(self.stored[f"{task.node}.{output}"], self.workspace.store, trusted=trusted)


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped a pipeline run, which was marked ``killed``; what finished stays cached.

    Not a ``LabledgerError`` but a ``KeyboardInterrupt``, so code that stops on Ctrl-C still
    stops.

    Args:
        run_id: The run, now ``killed``.
        finished: Steps that ran to the end before the interrupt (recorded, so cached).
        cached: Steps answered from the cache before the interrupt.
    """

    def __init__(self, run_id: str, *, finished: int, cached: int) -> None:
        self.run_id = run_id
        self.finished = finished
        self.cached = cached
        super().__init__(
            f"run {run_id} was marked killed; {finished} finished and {cached} cached steps are "
            "kept in the cache, so running the pipeline again resumes from them"
        )
