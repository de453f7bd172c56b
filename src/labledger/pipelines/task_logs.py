"""Reading back what a run's steps printed and logged (captured per task, stored as blobs)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from labledger._foundation.errors import NotFoundError
from labledger.tracking.query import get_run
from labledger.workspace.current import get_workspace

if TYPE_CHECKING:
    from labledger.workspace.workspace import Workspace

__all__ = ["TaskLog", "get_task_logs"]


@dataclass(frozen=True, slots=True)
class TaskLog:
    """What one task of a run printed and logged.

    Attributes:
        node: The task's name in the run's graph (``train``, or ``train_2`` for a second call).
        step: The step's qualified name.
        status: ``finished``, ``cached``, ``failed`` or ``skipped``.
        task_id: The task's id.
        text: Everything it wrote to stdout and stderr and logged, in order; empty when nothing.
        cached_from: For a cached task, the task that ran and wrote ``text``; else ``None``.
        cached_from_run: The run of that task.
        missing: The log was recorded but its blob is no longer in the store.
    """

    node: str
    step: str
    status: str
    task_id: str
    text: str
    cached_from: str | None = None
    cached_from_run: str | None = None
    missing: bool = False


def _matches(step: str, node: str, qualname: str) -> bool:
    # Qualified names read ``module:function`` (or ``module.function``).
    return step in (node, qualname, qualname.rpartition(":")[2].rpartition(".")[2])


def get_task_logs(
    run_id: str, step: str | None = None, *, workspace: Workspace | None = None
) -> list[TaskLog]:
    """The captured log of every task of a run, in the order the tasks started.

    A cached task did not run: its log is the one of the task it reused (``cached_from``).

    Args:
        run_id: A run id or a unique prefix of one.
        step: Only this task (its node name, ``train_2``) or the tasks of this step (``train``).
        workspace: Defaults to the current workspace.

    Raises:
        NotFoundError: No such run, or the run has no task named ``step``.
    """
    ws = workspace or get_workspace()
    run = get_run(run_id, workspace=ws)
    store = ws.stores.tasks
    rows = store.run_tasks(run.id)
    if step is not None:
        chosen = [row for row in rows if _matches(step, row.node, row.step)]
        if not chosen:
            names = ", ".join(row.node for row in rows)
            unfinished = (
                ""
                if run.status in ("finished", "failed")
                else (f"; the run was {run.status}, and steps it stopped are not recorded")
            )
            raise NotFoundError(
                f"run {run.id} has no step {step!r}",
                hint=f"its steps: {names}{unfinished}" if names else "it is not a pipeline run",
            )
        rows = chosen
    origins = store.get_tasks([row.cached_from for row in rows if row.cached_from])
    logs = []
    for row in rows:
        origin = origins.get(row.cached_from) if row.cached_from else None
        digest = origin.log_digest if origin is not None else row.log_digest
        text, missing = "", False
        if digest is not None:
            try:
                with ws.store.open(digest) as handle:
                    text = handle.read().decode("utf-8", "replace")
            except NotFoundError:
                missing = True
        logs.append(
            TaskLog(
                node=row.node,
                step=row.step,
                status=row.status,
                task_id=row.id,
                text=text,
                cached_from=row.cached_from,
                cached_from_run=origin.run_id if origin is not None else None,
                missing=missing,
            )
        )
    return logs
