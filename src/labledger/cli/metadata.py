"""``labledger metadata``: define fields, set values on runs and artifacts, show them."""

from __future__ import annotations

from typing import Annotated

import typer

from labledger.cli.console import command, console, format_value, print_json, print_table
from labledger.cli.options import JsonOption, WorkspaceOption, open_workspace

__all__ = ["app"]

app = typer.Typer(
    help=(
        "Define metadata fields and attach checked values to runs and artifacts.\n\n"
        "Example:\n\n"
        "    labledger metadata set RUN_ID concentration_um=12.5 cell_line=HeLa"
    ),
    no_args_is_help=True,
    add_completion=False,
)

TargetArgument = Annotated[
    str,
    typer.Argument(
        help="A run or artifact id (or a unique prefix), or an artifact name or digest.",
    ),
]


@app.command("define")
@command
def define(
    name: Annotated[str, typer.Argument(help="Field name, e.g. concentration_um.")],
    field_type: Annotated[str, typer.Argument(metavar="TYPE", help="number, text, date or enum.")],
    unit: Annotated[str | None, typer.Option(help="Unit of a number field.")] = None,
    minimum: Annotated[
        float | None, typer.Option("--min", help="Smallest allowed number (inclusive).")
    ] = None,
    maximum: Annotated[
        float | None, typer.Option("--max", help="Largest allowed number (inclusive).")
    ] = None,
    choices: Annotated[
        list[str] | None,
        typer.Option("--choice", help="An allowed value of an enum field; repeat for each."),
    ] = None,
    required: Annotated[
        bool,
        typer.Option("--required", metavar="", help="Every run or artifact should have a value."),
    ] = False,
    applies_to: Annotated[
        str, typer.Option("--applies-to", help="run, artifact or both.")
    ] = "both",
    description: Annotated[str, typer.Option(help="What the field means.")] = "",
    workspace: WorkspaceOption = None,
) -> None:
    """Define a metadata field (running it again with the same settings changes nothing)."""
    from labledger.metadata import define_field

    with open_workspace(workspace) as ws:
        field = define_field(
            name,
            field_type,  # type: ignore[arg-type]  # checked by define_field
            unit=unit,
            minimum=minimum,
            maximum=maximum,
            choices=choices or None,
            required=required,
            applies_to=applies_to,  # type: ignore[arg-type]
            description=description,
            workspace=ws,
        )
    console.print(f"field [bold]{field.name}[/bold] ({field.type}) is defined", highlight=False)


@app.command("list")
@command
def list_(json_out: JsonOption = False, workspace: WorkspaceOption = None) -> None:
    """List the defined metadata fields."""
    from labledger.metadata import list_fields

    with open_workspace(workspace) as ws:
        fields = list_fields(workspace=ws)
    if json_out:
        print_json(fields)
        return
    rows = [
        (
            f.name,
            f.type,
            f.unit,
            f.bounds_text() if f.minimum is not None or f.maximum is not None else "",
            ", ".join(f.choices or ()),
            "yes" if f.required else "",
            f.applies_to,
            f.description,
        )
        for f in fields
    ]
    columns = ["name", "type", "unit", "bounds", "choices", "required", "applies to", "description"]
    print_table(
        None,
        columns,
        rows,
        empty="no metadata fields; define one with `labledger metadata define`",
        markup=False,
        no_wrap=["name"],
    )


def _pairs(assignments: list[str]) -> dict[str, str]:
    from labledger._foundation.errors import ValidationError

    values: dict[str, str] = {}
    for item in assignments:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValidationError(
                f"{item!r} is not key=value", hint="write concentration_um=12.5 cell_line=HeLa"
            )
        values[key] = value
    return values


@app.command("set")
@command
def set_(
    target: TargetArgument,
    assignments: Annotated[
        list[str], typer.Argument(metavar="KEY=VALUE...", help="Values, e.g. cell_line=HeLa.")
    ],
    workspace: WorkspaceOption = None,
) -> None:
    """Set metadata values on a run or artifact; all are stored, or none if one is invalid.

    Values are read through each field's type: 12.5 for a number, 2024-05-01 for a date.
    """
    from labledger.metadata import set_metadata

    values = _pairs(assignments)
    with open_workspace(workspace) as ws:
        result = set_metadata(target, values, workspace=ws)
    print_table(None, ["field", "value"], sorted(result.items()), markup=False)


@app.command("show")
@command
def show(
    target: TargetArgument, json_out: JsonOption = False, workspace: WorkspaceOption = None
) -> None:
    """Show the metadata of a run or artifact, and the required fields it lacks."""
    from labledger.metadata import get_metadata, list_fields, missing_required

    with open_workspace(workspace) as ws:
        values = get_metadata(target, workspace=ws)
        missing = missing_required(target, workspace=ws)
        units = {f.name: f.unit or "" for f in list_fields(workspace=ws)}
    if json_out:
        print_json(
            {
                "target": target,
                "metadata": values,
                "units": {k: units[k] for k in values if units.get(k)},
                "missing_required": missing,
            }
        )
        return
    rows = [(key, format_value(value), units.get(key, "")) for key, value in sorted(values.items())]
    print_table(None, ["field", "value", "unit"], rows, empty="no metadata", markup=False)
    if missing:
        console.print(f"[yellow]missing required:[/yellow] {', '.join(missing)}", highlight=False)


@app.command("remove")
@command
def remove(
    target: TargetArgument,
    name: Annotated[str, typer.Argument(help="The field whose value to remove.")],
    workspace: WorkspaceOption = None,
) -> None:
    """Remove one field's value from a run or artifact."""
    from labledger.metadata import remove_metadata

    with open_workspace(workspace) as ws:
        remove_metadata(target, name, workspace=ws)
    console.print(f"removed {name} from {target}", highlight=False, markup=False)
