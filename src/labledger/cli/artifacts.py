"""``labledger artifacts``: list, show and export stored artifacts."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.text import Text

from labledger.cli.console import (
    command,
    console,
    format_bytes,
    format_time,
    print_json,
    print_table,
    short_ids,
)
from labledger.cli.options import JsonOption, LimitOption, WorkspaceOption, open_workspace

if TYPE_CHECKING:
    from labledger.tracking.types import Artifact

__all__ = ["app"]

app = typer.Typer(
    help=(
        "List, show and export stored artifacts.\n\n"
        "Example:\n\n"
        "    labledger artifacts get model.bin ./exported"
    ),
    no_args_is_help=True,
    add_completion=False,
)

RefArgument = Annotated[
    str, typer.Argument(metavar="REF", help="Artifact id, name (newest of that name) or digest.")
]


@app.command("list")
@command
def list_artifacts(
    run: Annotated[
        str | None,
        typer.Option(
            "--run",
            "-r",
            help="Only artifacts of this run (id or 8+ character prefix).",
            show_default=False,
        ),
    ] = None,
    kind: Annotated[
        str | None,
        typer.Option(
            "--kind",
            "-k",
            help="Only artifacts of this kind (file, tree, table...).",
            show_default=False,
        ),
    ] = None,
    limit: LimitOption = 100,
    as_json: JsonOption = False,
    workspace: WorkspaceOption = None,
) -> None:
    """List artifacts, newest first.

    Example:

        labledger artifacts list --run 0190a1b2 --kind file
    """
    from labledger.tracking import get_run, list_artifacts

    with open_workspace(workspace) as ws:
        run_id = get_run(run, workspace=ws).id if run is not None else None
        artifacts = list_artifacts(run_id=run_id, kind=kind, limit=limit, workspace=ws)
    if as_json:
        print_json(artifacts)
        return
    runs = short_ids([a.run_id for a in artifacts if a.run_id is not None], minimum=13)
    rows = [
        [
            a.id,
            a.name,
            a.kind,
            a.format,
            format_bytes(a.size),
            runs.get(a.run_id or "", ""),
            format_time(a.created_at),
        ]
        for a in artifacts
    ]
    columns = ["id", "name", "kind", "format", "size", "run", "created"]
    print_table(
        None, columns, rows, empty="no artifacts match", markup=False, no_wrap=("id", "run")
    )


def _print_artifact(artifact: Artifact) -> None:
    overview = [
        ("id", artifact.id),
        ("name", artifact.name),
        ("kind", artifact.kind),
        ("format", artifact.format),
        ("digest", artifact.digest),
        ("size", f"{format_bytes(artifact.size)} ({artifact.size} bytes)"),
        ("run", artifact.run_id or ""),
        ("created", f"{format_time(artifact.created_at)} by {artifact.created_by}"),
    ]
    print_table(f"artifact {artifact.name}", ["field", "value"], overview, markup=False)
    if artifact.stats:
        print_table("summary", ["statistic", "value"], sorted(artifact.stats.items()), markup=False)
    fields = artifact.schema.get("fields")
    if isinstance(fields, list) and fields:
        rows = [[f.get("name", ""), f.get("type", "")] for f in fields if isinstance(f, dict)]
        print_table("schema", ["field", "type"], rows, markup=False)


@app.command("show")
@command
def show(ref: RefArgument, as_json: JsonOption = False, workspace: WorkspaceOption = None) -> None:
    """Show one artifact: digest, size, producing run, summary statistics and schema.

    Example:

        labledger artifacts show model.pkl
    """
    from labledger.tracking import get_artifact

    with open_workspace(workspace) as ws:
        artifact = get_artifact(ref, workspace=ws)
    if as_json:
        print_json(artifact)
    else:
        _print_artifact(artifact)


@app.command("get")
@command
def get(
    ref: RefArgument,
    dest: Annotated[
        Path | None,
        typer.Argument(
            metavar="DEST",
            help="Folder to write into, or a file path; defaults to the current folder "
            "(a folder named after the artifact for file trees).",
            show_default=False,
        ),
    ] = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Export an artifact's bytes to DEST: a file, or a folder for file trees.

    Nothing is written outside DEST.

    Example:

        labledger artifacts get training-data ./data
    """
    from labledger.tracking import export_artifact, get_artifact

    with open_workspace(workspace) as ws:
        artifact = get_artifact(ref, workspace=ws)
        if dest is None:
            # A tree spills many files: give it its own folder rather than the current one.
            dest = (
                Path(Path(artifact.name).name or artifact.id) if artifact.kind == "tree" else Path()
            )
        written = export_artifact(artifact, dest, workspace=ws)
    console.print(Text(f"wrote {written}"), highlight=False)
