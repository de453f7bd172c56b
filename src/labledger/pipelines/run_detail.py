"""Everything about one run in one read: the run, its tasks and outputs, logs, metadata, collections.

What ``labledger runs show`` prints. For a pipeline run the outputs are every artifact its tasks
returned, those reused from the cache included (``produced`` is false for those); ``logged`` are the
artifacts a tracked run logged (``log_artifact(..., run_id=...)``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from labledger.pipelines.replay_inputs import RecordedInput, recorded_inputs
from labledger.tracking.artifacts import list_artifacts
from labledger.tracking.query import get_run
from labledger.workspace.current import get_workspace

if TYPE_CHECKING:
    from labledger.stores.artifacts import Artifact
    from labledger.tracking.types import Run
    from labledger.workspace.workspace import Workspace

__all__ = [
    "LOGGED_SHOWN",
    "MetadataEntry",
    "RunDetail",
    "RunOutput",
    "TaskSummary",
    "describe_run",
]

LOGGED_SHOWN = 1000  # the most artifacts a run logged itself that describe_run reads


@dataclass(frozen=True, slots=True)
class TaskSummary:
    """One task of a pipeline run.

    Attributes:
        node: Its name in the run's graph (``train``, or ``train_2`` for a second call).
        step: The step it ran, as ``module:function``.
        status: ``finished`` (it ran), ``cached``, ``failed``, ``skipped`` (or ``running``), as
            ``labledger run`` and ``runs logs`` say it.
        duration_s: Seconds it ran; ``None`` when it did not run or has not ended.
        has_log: Whether its printed output was captured.
        cached_from: For a cached task, the task whose outputs it reused.
    """

    node: str
    step: str
    status: str
    duration_s: float | None
    has_log: bool
    cached_from: str | None = None


@dataclass(frozen=True, slots=True)
class RunOutput:
    """An artifact a run's task returned.

    Attributes:
        node: The task that returned it.
        name: The output's name on that task (``out`` for a single return value).
        artifact_id: The artifact.
        artifact_name: Its name.
        produced: ``True`` when this run made it, ``False`` when reused from the cache.
        made_by_run: The run that made it.
    """

    node: str
    name: str
    artifact_id: str
    artifact_name: str
    produced: bool
    made_by_run: str | None


@dataclass(frozen=True, slots=True)
class MetadataEntry:
    """One metadata value of the run, with its field's unit (``None`` when it has none)."""

    field: str
    value: float | str | None
    unit: str | None


@dataclass(frozen=True, slots=True)
class RunDetail:
    """One run and what belongs to it."""

    run: Run
    tasks: tuple[TaskSummary, ...]
    outputs: tuple[RunOutput, ...]
    metadata: tuple[MetadataEntry, ...]
    collections: tuple[str, ...]
    inputs: tuple[RecordedInput, ...] = ()  # the files and folders its steps read
    logged: tuple[Artifact, ...] = ()  # a tracked run's artifacts, newest first

    @property
    def has_logs(self) -> bool:
        """Whether any task's output was captured."""
        return any(task.has_log for task in self.tasks)


def _tasks(ws: Workspace, run_id: str) -> tuple[TaskSummary, ...]:
    # In the order they ran (a cached task: when it was answered), as `labledger run` shows.
    rows = sorted(
        ws.stores.tasks.run_tasks(run_id),
        key=lambda row: (_when(row.started_at, row.ended_at), row.node),
    )
    return tuple(
        TaskSummary(
            node=row.node,
            step=row.step,
            status=row.status,
            duration_s=row.ended_at - row.started_at
            if row.status != "cached" and row.started_at is not None and row.ended_at is not None
            else None,
            has_log=row.log_digest is not None,
            cached_from=row.cached_from,
        )
        for row in rows
    )


def _when(*times: float | None) -> tuple[bool, float]:
    """The first time given, for sorting: unknown before known."""
    found = next((t for t in times if t is not None), None)
    return (found is not None, found or 0.0)


def _outputs(ws: Workspace, run_id: str) -> tuple[RunOutput, ...]:
    return tuple(
        RunOutput(
            ref.node,
            ref.name,
            ref.artifact_id,
            ref.artifact_name,
            ref.produced,
            ref.artifact_run_id,
        )
        for ref in ws.stores.tasks.run_outputs(run_id)
    )


def _metadata(ws: Workspace, run_id: str) -> tuple[MetadataEntry, ...]:
    values = ws.stores.metadata.get_values("run", run_id)
    fields = ws.stores.metadata.get_fields(list(values)) if values else {}
    return tuple(
        MetadataEntry(name, value, (field.unit or None) if (field := fields.get(name)) else None)
        for name, value in sorted(values.items())
    )


def describe_run(run_id: str, *, workspace: Workspace | None = None) -> RunDetail:
    """A run with its tasks, every output (reused ones too), the files its steps read, metadata
    and collections; for a tracked run, the artifacts it logged (the newest ``LOGGED_SHOWN``).

    Args:
        run_id: A run id or a unique prefix of it.
        workspace: Defaults to the current workspace.

    Raises:
        NotFoundError: No run has that id.
        ValidationError: The prefix matches several runs.
    """
    ws = workspace or get_workspace()
    run = get_run(run_id, workspace=ws)
    detail = RunDetail(
        run=run,
        tasks=_tasks(ws, run.id),
        outputs=_outputs(ws, run.id),
        metadata=_metadata(ws, run.id),
        collections=tuple(ws.stores.collections.containing("run", run.id)),
    )
    if not detail.tasks:  # a tracked run: what it logged (a pipeline's are its outputs)
        found = list_artifacts(run_id=run.id, limit=LOGGED_SHOWN, workspace=ws)
        return replace(detail, logged=tuple(a for a in found if a.run_id == run.id))
    return replace(detail, inputs=tuple(recorded_inputs(ws, run.id)))
