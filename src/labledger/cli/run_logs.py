"""``labledger runs logs``: what a pipeline run's steps printed and logged."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.rule import Rule
from rich.text import Text

from labledger.cli.console import command, console, print_json
from labledger.cli.options import JsonOption, WorkspaceOption, open_workspace

if TYPE_CHECKING:
    from labledger.pipelines.task_logs import TaskLog

__all__ = ["logs_command"]


def _header(log: TaskLog) -> str:
    if log.cached_from_run is not None:
        return f"{log.node} (cached: printed by run {log.cached_from_run})"
    return f"{log.node} ({log.status})"


def _body(log: TaskLog) -> Text:
    if log.missing:
        return Text("its log is no longer in the store", style="dim")
    if not log.text:
        return Text("printed nothing", style="dim")
    return Text(log.text.rstrip("\n"))


@command
def logs_command(
    run_id: Annotated[str, typer.Argument(metavar="RUN", help="Run id or unique id prefix.")],
    step: Annotated[
        str | None,
        typer.Argument(
            metavar="STEP", help="Only this step (its name, or train_2 for a second call)."
        ),
    ] = None,
    as_json: JsonOption = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Print what each step of a pipeline run printed and logged, under a header per step.

    A cached step shows the log of the run that computed it.

    Example:

        labledger runs logs 0190a1b2 ingest
    """
    from labledger.pipelines.task_logs import get_task_logs

    with open_workspace(workspace) as ws:
        logs = get_task_logs(run_id, step, workspace=ws)
    if as_json:
        print_json(logs)
        return
    if not logs:
        console.print(f"[dim]run {run_id} has no steps: it is not a pipeline run[/dim]")
        return
    for log in logs:
        console.print(Rule(Text(_header(log), style="bold"), align="left"))
        console.print(_body(log), highlight=False, soft_wrap=True)
