"""``labledger collections``: curated, named sets of runs, artifacts, pipelines and models."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.text import Text

from labledger.cli.console import (
    Column,
    catalog_short_ids,
    command,
    console,
    format_time,
    print_json,
    print_table,
)
from labledger.cli.options import JsonOption, WideOption, WorkspaceOption, open_workspace

if TYPE_CHECKING:
    from labledger.metadata import Collection
    from labledger.workspace.workspace import Workspace

__all__ = ["app"]

app = typer.Typer(
    help=(
        "Gather runs, artifacts, pipelines and models into named collections.\n\n"
        "Example:\n\n"
        "    labledger collections add hit-validation RUN_ID model:classifier"
    ),
    no_args_is_help=True,
    add_completion=False,
)

NameArgument = Annotated[str, typer.Argument(help="The collection's name.")]
MembersArgument = Annotated[
    list[str],
    typer.Argument(
        metavar="MEMBER...",
        help="Run or artifact ids (or unique prefixes), artifact names or digests, or KIND:ID, "
        "e.g. model:classifier.",
    ),
]
ProjectOption = Annotated[
    str,
    typer.Option("--project", metavar="NAME", help="The collection's project."),
]
_KINDS = ("run", "artifact", "pipeline", "model")


def _members(items: list[str]) -> list[Any]:
    members: list[Any] = []
    for item in items:
        kind, sep, id_ = item.partition(":")
        members.append((kind, id_) if sep and kind in _KINDS else item)
    return members


def _print_collection(collection: Collection, shown: dict[str, str], wide: bool = False) -> None:
    title = Text(collection.name, style="bold")
    title.append(f"  owner {collection.owner}", style="")
    console.print(title, highlight=False)
    if collection.description:
        console.print(collection.description, highlight=False, markup=False)
    rows = [
        (m.kind, shown.get(m.id, m.id), m.name, format_time(m.added_at)) for m in collection.members
    ]
    columns = [Column("kind"), Column("id"), Column("name"), Column("added", drop=1)]
    print_table(None, columns, rows, empty="no members", markup=False, wide=wide)


def _shown_ids(ws: Workspace, collection: Collection, wide: bool = False) -> dict[str, str]:
    """Run and artifact ids as their shortest prefixes that name one run or artifact."""
    ids = [m.id for m in collection.members if m.kind in ("run", "artifact")]
    return {i: i for i in ids} if wide else catalog_short_ids(ws, ids, "run", "artifact")


@app.command("create")
@command
def create(
    name: NameArgument,
    description: Annotated[str, typer.Option(help="What it gathers and why.")] = "",
    owner: Annotated[str | None, typer.Option(help="Who looks after it; defaults to you.")] = None,
    project: ProjectOption = "default",
    workspace: WorkspaceOption = None,
) -> None:
    """Create an empty collection (its name is unique within its project)."""
    from labledger.metadata import create_collection

    with open_workspace(workspace) as ws:
        collection = create_collection(name, description, owner, project=project, workspace=ws)
    console.print(f"created collection {collection.name}", highlight=False, markup=False)


@app.command("add")
@command
def add(
    name: NameArgument,
    members: MembersArgument,
    project: ProjectOption = "default",
    workspace: WorkspaceOption = None,
) -> None:
    """Add members to a collection (members already in it are skipped)."""
    from labledger.metadata import add_to_collection

    with open_workspace(workspace) as ws:
        collection = add_to_collection(name, *_members(members), project=project, workspace=ws)
        shown = _shown_ids(ws, collection)
    _print_collection(collection, shown)


@app.command("remove")
@command
def remove(
    name: NameArgument,
    members: MembersArgument,
    project: ProjectOption = "default",
    workspace: WorkspaceOption = None,
) -> None:
    """Remove members from a collection."""
    from labledger.metadata import remove_from_collection

    with open_workspace(workspace) as ws:
        collection = remove_from_collection(name, *_members(members), project=project, workspace=ws)
        shown = _shown_ids(ws, collection)
    _print_collection(collection, shown)


@app.command("show")
@command
def show(
    name: NameArgument,
    json_out: JsonOption = False,
    wide: WideOption = False,
    project: ProjectOption = "default",
    workspace: WorkspaceOption = None,
) -> None:
    """Show a collection and its members."""
    from labledger.metadata import get_collection

    with open_workspace(workspace) as ws:
        collection = get_collection(name, project=project, workspace=ws)
        shown = _shown_ids(ws, collection, wide)
    if json_out:
        print_json(collection)
        return
    _print_collection(collection, shown, wide)


@app.command("list")
@command
def list_(
    json_out: JsonOption = False,
    project: Annotated[
        str | None,
        typer.Option(
            "--project", metavar="NAME", help="Only this project's collections.", show_default=False
        ),
    ] = None,
    workspace: WorkspaceOption = None,
) -> None:
    """List collections (of every project you read, or of --project)."""
    from labledger.metadata import list_collections

    with open_workspace(workspace) as ws:
        collections = list_collections(project=project, workspace=ws)
    if json_out:
        print_json(collections)
        return
    rows = [
        (c.name, len(c.members), c.owner, format_time(c.created_at), c.description)
        for c in collections
    ]
    print_table(
        None,
        ["name", "members", "owner", "created", "description"],
        rows,
        empty="no collections; create one with `labledger collections create`",
        markup=False,
        no_wrap=["created"],
    )


@app.command("delete")
@command
def delete(
    name: NameArgument,
    yes: Annotated[
        bool, typer.Option("--yes", "-y", metavar="", help="Do not ask for confirmation.")
    ] = False,
    project: ProjectOption = "default",
    workspace: WorkspaceOption = None,
) -> None:
    """Delete a collection; its runs, artifacts, pipelines and models stay."""
    from labledger.metadata import delete_collection

    if not yes:
        typer.confirm(f"Delete collection {name!r}?", abort=True)
    with open_workspace(workspace) as ws:
        delete_collection(name, project=project, workspace=ws)
    console.print(f"deleted collection {name}", highlight=False, markup=False)
