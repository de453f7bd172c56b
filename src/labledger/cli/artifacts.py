"""``labledger artifacts``: list, show and export stored artifacts."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.text import Text

from labledger.cli.console import (
    Column,
    catalog_short_ids,
    command,
    console,
    format_bytes,
    format_time,
    print_json,
    print_table,
)
from labledger.cli.options import (
    JsonOption,
    LimitOption,
    WideOption,
    WorkspaceOption,
    open_workspace,
)

if TYPE_CHECKING:
    from labledger.tracking.types import Artifact
    from labledger.workspace.workspace import Workspace

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
    str,
    typer.Argument(
        metavar="REF",
        help="Artifact id, name (newest of that name), digest or digest prefix (8+ characters).",
    ),
]


@app.command("list")
@command
def list_artifacts(
    run: Annotated[
        str | None,
        typer.Option(
            "--run",
            "-r",
            help="Only artifacts of this run (id, or a unique prefix as tables show it).",
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
    wide: WideOption = False,
    workspace: WorkspaceOption = None,
) -> None:
    """List artifacts, newest first; with --run, every output of that run, reused ones marked.

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
        ids = _short(ws, [a.id for a in artifacts], "artifact", wide)
        runs = _short(ws, [a.run_id for a in artifacts if a.run_id], "run", wide)
    rows = [
        [
            ids[a.id],
            a.name,
            a.kind,
            a.format,
            format_bytes(a.size),
            _made_by(a, runs, run_id),
            format_time(a.created_at),
        ]
        for a in artifacts
    ]
    columns = [
        Column("id"),
        Column("name"),
        Column("kind", drop=4),
        Column("format", drop=5),
        Column("size", drop=2, justify="right"),
        Column("run", drop=3),
        Column("created", drop=1),
    ]
    print_table(None, columns, rows, empty="no artifacts match", markup=False, wide=wide)


def _short(ws: Workspace, ids: list[str], kind: str, wide: bool) -> dict[str, str]:
    return {i: i for i in ids} if wide else catalog_short_ids(ws, ids, kind)


def _made_by(artifact: Artifact, runs: dict[str, str], listed_run: str | None) -> str:
    made = runs.get(artifact.run_id or "", "")
    if listed_run is not None and artifact.run_id != listed_run:
        return f"reused from {made}" if made else "reused"
    return made


_STAT_ORDER = ("count", "nulls", "distinct", "mean", "std", "min", "max")


def _column_stats(stats: dict[str, Any]) -> tuple[list[tuple[str, Any]], dict[str, dict[str, Any]]]:
    """Scalar statistics, and the per-column ones (a mapping of column to its statistics)."""
    scalars: list[tuple[str, Any]] = []
    per_column: dict[str, dict[str, Any]] = {}
    for key, value in sorted(stats.items()):
        if isinstance(value, dict) and value and all(isinstance(v, dict) for v in value.values()):
            for column, figures in value.items():
                per_column.setdefault(str(column), {}).update(figures)
        else:
            scalars.append((key, value))
    return scalars, per_column


def _print_artifact(artifact: Artifact, run: str, wide: bool) -> None:
    overview = [
        ("id", artifact.id),
        ("name", artifact.name),
        ("kind", artifact.kind),
        ("format", artifact.format),
        ("digest", artifact.digest),
        ("size", f"{format_bytes(artifact.size)} ({artifact.size} bytes)"),
        ("run", run),
        ("created", f"{format_time(artifact.created_at)} by {artifact.created_by}"),
    ]
    print_table(f"artifact {artifact.name}", ["field", "value"], overview, markup=False)
    scalars, per_column = _column_stats(artifact.stats)
    if scalars:
        print_table("summary", ["statistic", "value"], scalars, markup=False)
    fields = artifact.schema.get("fields")
    types: dict[str, str] = {}
    if isinstance(fields, list):
        types = {
            str(f.get("name", "")): str(f.get("type", "")) for f in fields if isinstance(f, dict)
        }
    if per_column:
        figures = [k for k in _STAT_ORDER if any(k in v for v in per_column.values())]
        figures += sorted({k for v in per_column.values() for k in v} - set(figures))
        # Schema order, every column (text ones have a type and no figures), then any others.
        names = [*types, *(name for name in per_column if name not in types)]
        rows = [
            [name, types.get(name, ""), *(per_column.get(name, {}).get(k) for k in figures)]
            for name in names
        ]
        columns = [
            Column("column", wrap=True),
            Column("type", drop=1),
            *(Column(k, drop=2 + i, justify="right") for i, k in enumerate(figures)),
        ]
        print_table("column statistics", columns, rows, markup=False, wide=wide)
    elif types:
        print_table("schema", ["field", "type"], list(types.items()), markup=False)


@app.command("show")
@command
def show(
    ref: RefArgument,
    as_json: JsonOption = False,
    wide: WideOption = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Show one artifact: digest, size, producing run, summary statistics per column and schema.

    Example:

        labledger artifacts show model.pkl
    """
    from labledger.tracking import get_artifact

    with open_workspace(workspace) as ws:
        artifact = get_artifact(ref, workspace=ws)
        run = _short(ws, [artifact.run_id], "run", wide) if artifact.run_id else {}
    if as_json:
        print_json(artifact)
    else:
        _print_artifact(artifact, run.get(artifact.run_id or "", ""), wide)


@app.command("get")
@command
def get(
    ref: RefArgument,
    dest: Annotated[
        str | None,
        typer.Argument(
            metavar="DEST",
            help="Where to write: a folder when it ends with / or exists (created when missing), "
            "else a file path; defaults to the current folder (a folder named after the "
            "artifact for file trees).",
            show_default=False,
        ),
    ] = None,
    force: Annotated[
        bool,
        typer.Option("--force", "-f", metavar="", help="Replace a file that is already there."),
    ] = False,
    workspace: WorkspaceOption = None,
) -> None:
    """Export an artifact's bytes to DEST: a file, or a folder for file trees.

    Nothing is written outside DEST, and no file is replaced without --force. Every byte is
    checked against the artifact's digest while it is copied: damaged bytes fail the command and
    leave nothing at DEST. A symbolic link at DEST, or inside a folder being filled, is refused.

    Example:

        labledger artifacts get training-data ./data/
    """
    from labledger.tracking import export_artifact

    with open_workspace(workspace) as ws:
        written = export_artifact(ref, dest, overwrite=force, workspace=ws)
    console.print(Text(f"wrote {written}"), highlight=False)
