"""Pipeline commands: ``run`` and ``reproduce``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.text import Text

from labledger.cli.console import (
    command,
    console,
    err_console,
    fail,
    format_duration,
    print_json,
    print_table,
)
from labledger.cli.options import JsonOption, WorkspaceOption, open_workspace

if TYPE_CHECKING:
    from labledger.pipelines.reproduction import Reproduction
    from labledger.pipelines.types import PipelineRun, RunInterrupted

__all__ = ["reproduce_command", "run_command"]

_STATUS = {"finished": "green", "cached": "cyan", "failed": "red", "skipped": "yellow"}


def _params(pairs: list[str]) -> dict[str, str]:
    params: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            fail(f"-p {pair!r} is not key=value", code=2)
        params[key.strip()] = value
    return params


def _show_run(result: PipelineRun) -> None:
    rows = [
        (
            task.node,
            Text(task.status, style=_STATUS.get(task.status, "")),
            format_duration(task.duration) if task.status == "finished" else "",
            ", ".join(f"{name} {digest[7:19]}" for name, digest in task.digests.items()),
        )
        for task in result.tasks.values()
    ]
    print_table(None, ["step", "status", "took", "outputs"], rows, no_wrap=["step"])
    console.print(
        Text.assemble(
            (f"run {result.run_id} {result.status}: ", "bold"),
            f"{len(result.executed)} ran, {len(result.cached)} cached, "
            f"{format_duration(result.duration)}",
        )
    )


def _say_interrupted(exc: RunInterrupted) -> None:
    def steps(count: int) -> str:
        return f"{count} step{'' if count == 1 else 's'}"

    err_console.print(
        Text.assemble(
            ("interrupted: ", "bold yellow"),
            f"run {exc.run_id} was marked killed.\n",
            f"{steps(exc.finished)} finished and {steps(exc.cached)} came from the cache before "
            "the interrupt; they are kept in the cache.\n",
            "Run the same command again to resume from there.",
        ),
        soft_wrap=True,
    )


def _print_traceback(text: str) -> None:
    if text:
        err_console.print(Text(text.rstrip()), style="dim")


@command
def run_command(
    target: Annotated[
        str,
        typer.Argument(
            metavar="FILE.py:PIPELINE",
            help=(
                "The pipeline: path/to/file.py:name, or package.module:name imported from the "
                "current folder as python -m does."
            ),
        ),
    ],
    param: Annotated[
        list[str] | None,
        typer.Option("--param", "-p", metavar="KEY=VALUE", help="A pipeline parameter; repeat."),
    ] = None,
    no_cache: Annotated[
        bool, typer.Option("--no-cache", help="Recompute every step instead of reusing results.")
    ] = False,
    seed: Annotated[int, typer.Option(help="Seed for random, NumPy and torch in each step.")] = 0,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers", min=1, help="Run steps on this many threads (default: one by one)."
        ),
    ] = None,
    dask: Annotated[
        str | None,
        typer.Option(
            "--dask",
            metavar="ADDRESS",
            help="Run steps on Dask: a scheduler address (tcp://host:8786) or 'local' for a LocalCluster.",
        ),
    ] = None,
    name: Annotated[str | None, typer.Option(help="Name of the run.")] = None,
    project: Annotated[
        str,
        typer.Option(
            "--project", help="Project the run belongs to (on a server: one you may write to)."
        ),
    ] = "default",
    quiet: Annotated[
        bool,
        typer.Option(
            "--quiet",
            "-q",
            help="Do not show what steps print or log (it is still kept: labledger runs logs).",
        ),
    ] = False,
    explain: Annotated[
        bool,
        typer.Option(
            "--explain", help="First say which steps are cached and why the others will run."
        ),
    ] = False,
    workspace: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """Run a pipeline, reusing cached steps, and record every output with its lineage.

    What steps print or log is shown as they run, each line prefixed with the step's name (on
    stderr with --json), and kept with the run: labledger runs logs RUN. Ctrl-C marks the run
    killed; what finished stays cached, so the same command resumes.

    Example:

        labledger run examples/pipeline_quickstart.py:plate_summary -p threshold=0.6
    """
    from labledger._foundation.errors import PipelineImportError, StepFailedError
    from labledger.pipelines.executor import Executor, LocalExecutor
    from labledger.pipelines.loader import load_pipeline
    from labledger.pipelines.types import RunInterrupted

    try:
        pipeline = load_pipeline(target)
    except PipelineImportError as exc:
        _print_traceback(exc.traceback)
        raise
    params = pipeline.parse_params(_params(param or []))
    executor: Executor = LocalExecutor(max_workers=workers)
    if dask is not None:
        from labledger.pipelines.dask_executor import DaskExecutor

        executor = DaskExecutor(None if dask == "local" else dask)
    with open_workspace(workspace) as ws:
        if explain and not as_json:
            from labledger.cli.status import show_status
            from labledger.pipelines.explain import status

            show_status(status(pipeline, params, seed=seed, workspace=ws))
        try:
            result = pipeline.run(
                workspace=ws,
                executor=executor,
                cache=not no_cache,
                seed=seed,
                run_name=name,
                progress=not as_json,
                echo=not quiet,
                project=project,
                **params,
            )
        except StepFailedError as exc:
            _print_traceback(exc.traceback)
            raise
        except RunInterrupted as exc:
            _say_interrupted(exc)
            raise typer.Exit(130) from None
    if as_json:
        print_json(
            {
                "run_id": result.run_id,
                "status": result.status,
                "duration": result.duration,
                "tasks": [
                    {
                        "node": t.node,
                        "status": t.status,
                        "outputs": t.outputs,
                        "digests": t.digests,
                        "duration": t.duration,
                    }
                    for t in result.tasks.values()
                ],
            }
        )
    else:
        _show_run(result)


def _show_reproduction(result: Reproduction) -> None:
    rows = [
        (
            check.node if check.output == "out" else f"{check.node}.{check.output}",
            Text("match", style="green")
            if check.matched
            else Text("differs" if check.actual else "missing", style="red"),
            check.expected[7:19],
            (check.actual or "")[7:19],
        )
        for check in result.checks
    ]
    print_table(None, ["output", "result", "original", "re-run"], rows)
    matched = sum(check.matched for check in result.checks)
    style = "bold green" if result.matched else "bold red"
    console.print(
        Text.assemble(
            (f"{matched}/{len(result.checks)} outputs reproduced bit for bit", style),
            f" (re-run {result.rerun_id})" if result.rerun_id else "",
        )
    )


@command
def reproduce_command(
    run: Annotated[str, typer.Argument(metavar="RUN", help="Run id or unique id prefix.")],
    workspace: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """Re-execute a pipeline run from its code snapshot and compare every output's digest.

    The re-run reads the file inputs the run recorded, placed in a scratch folder, so it gives the same result from any folder. Outputs that match become verified. Exits with 1 when any output differs.

    Example:

        labledger reproduce 01a24373-178a
    """
    from labledger.pipelines.reproduction import reproduce

    with open_workspace(workspace) as ws, console.status("re-running from the code snapshot"):
        result = reproduce(run, workspace=ws)
    if as_json:
        print_json(
            {
                "run_id": result.run_id,
                "rerun_id": result.rerun_id,
                "matched": result.matched,
                "error": result.error,
                "hint": result.hint,
                "outputs": [
                    {
                        "node": c.node,
                        "output": c.output,
                        "artifact_id": c.artifact_id,
                        "expected": c.expected,
                        "actual": c.actual,
                        "matched": c.matched,
                    }
                    for c in result.checks
                ],
            }
        )
    else:
        _show_reproduction(result)
        if result.error:
            err_console.print(
                Text.assemble(("the re-run failed: ", "red"), result.error), soft_wrap=True
            )
            if result.hint:
                err_console.print(Text(result.hint, style="dim"), soft_wrap=True)
    if not result.matched:
        raise typer.Exit(1)
