"""``labledger status``: which steps a run would take from the cache, and why the others would run."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.text import Text

from labledger.cli.console import command, console, print_json
from labledger.cli.options import JsonOption, WorkspaceOption, open_workspace

if TYPE_CHECKING:
    from labledger.pipelines.explain import PipelineStatus

__all__ = ["parse_param_pairs", "show_status", "status_command"]


def parse_param_pairs(pairs: list[str]) -> dict[str, str]:
    """``-p key=value`` options as a dict of texts."""
    params: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"-p {pair!r} is not key=value")
        params[key.strip()] = value
    return params


def show_status(found: PipelineStatus) -> None:
    """Print one line per step: cached, or will run with every reason."""
    width = max((len(step.node) for step in found.steps), default=4)
    for step in found.steps:
        if step.state == "cached":
            console.print(Text.assemble((f"  {step.node:<{width}}  ", "bold"), ("cached", "cyan")))
            continue
        console.print(Text.assemble((f"  {step.node:<{width}}  ", "bold"), ("will run", "yellow")))
        for reason in step.reasons:
            console.print(Text(f"  {'':<{width}}    {reason.message}"), soft_wrap=True)
    ran = sum(step.state == "run" for step in found.steps)
    if ran == 0:
        console.print(f"pipeline {found.pipeline}: up to date, all {len(found.steps)} steps cached")
    else:
        console.print(
            f"pipeline {found.pipeline}: {ran} of {len(found.steps)} steps would run, "
            f"{len(found.steps) - ran} cached"
        )


@command
def status_command(
    target: Annotated[
        str,
        typer.Argument(
            metavar="FILE.py:PIPELINE",
            help="The pipeline: path/to/file.py:name or package.module:name.",
        ),
    ],
    param: Annotated[
        list[str] | None,
        typer.Option("--param", "-p", metavar="KEY=VALUE", help="A pipeline parameter; repeat."),
    ] = None,
    seed: Annotated[int, typer.Option(help="The seed the run would use.")] = 0,
    workspace: WorkspaceOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show which steps a run would take from the cache, and why each other step would run.

    Nothing runs and nothing is stored. For each step that would run it names what changed since
    the last run of the pipeline: a function of its code, an input file, a param, a package of its
    environment, the seed, or cached outputs that are gone.

    Example:

        labledger status flow.py:assay_pipeline -p threshold=0.6
    """
    from labledger.pipelines.explain import status
    from labledger.pipelines.loader import load_pipeline

    pipeline = load_pipeline(target)
    params = pipeline.parse_params(parse_param_pairs(param or []))
    with open_workspace(workspace) as ws:
        found = status(pipeline, params, seed=seed, workspace=ws)
    if as_json:
        print_json(found.as_dict())
    else:
        show_status(found)
