"""``labledger runs reap``: seal as crashed the running runs whose process is gone."""

from __future__ import annotations

import typer
from rich.text import Text

from labledger.cli.console import command, console, print_json
from labledger.cli.options import JsonOption, WorkspaceOption, open_workspace

__all__ = ["reap_command"]


@command
def reap_command(as_json: JsonOption = False, workspace: WorkspaceOption = None) -> None:
    """Seal as crashed every running run that lost its lease, so lists and the cache see it.

    A run loses its lease when its process on this host is gone, or when it has sent no
    heartbeat for 15 minutes from another host. Reading never changes a run (lists show such a
    run as "running (lost: ...)"); starting a run or a pipeline seals them too. Safe to call from
    cron or a server at any time.

    Example:

        labledger runs reap
    """
    from labledger.tracking import reap_crashed_runs

    with open_workspace(workspace) as ws:
        sealed = reap_crashed_runs(workspace=ws)
    if as_json:
        print_json({"crashed": sealed})
        return
    for run_id in sealed:
        typer.echo(f"sealed {run_id} as crashed")
    if not sealed:
        console.print(Text("no lost runs: every running run holds its lease", style="green"))
