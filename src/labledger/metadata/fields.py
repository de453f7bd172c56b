"""Metadata fields: admin-defined keys with a type, a unit, bounds, choices and a required flag.

A field is defined once per workspace. Defining it again with the same settings changes nothing;
other settings are refused, because values already stored were checked against the old ones.
``update_field`` changes what can change safely and refuses any change that stored values break.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import time
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

import sqlalchemy as sa

from labledger._foundation.errors import ConflictError, NotFoundError, ValidationError
from labledger._foundation.ids import new_id
from labledger.metadata.field_rules import check_definition, choices_argument
from labledger.stores.metadata import AppliesTo, FieldType, MetadataField
from labledger.workspace import schema
from labledger.workspace.current import get_workspace

if TYPE_CHECKING:
    from collections.abc import Sequence

    from sqlalchemy import Connection, Row

    from labledger.workspace.workspace import Workspace

__all__ = [
    "UNSET",
    "AppliesTo",
    "FieldType",
    "MetadataField",
    "define_field",
    "get_field",
    "list_fields",
    "load_fields",
    "update_field",
]


class _Unset(enum.Enum):
    UNSET = enum.auto()


UNSET = _Unset.UNSET
"""Marks an ``update_field`` argument as "leave unchanged" (``None`` clears a setting)."""

_Keep: TypeAlias = Literal[_Unset.UNSET]


def _settings(field: MetadataField) -> dict[str, Any]:
    return {
        "type": field.type,
        "unit": field.unit,
        "minimum": field.minimum,
        "maximum": field.maximum,
        "choices": list(field.choices) if field.choices is not None else None,
        "required": field.required,
        "applies_to": field.applies_to,
        "description": field.description,
    }


def field_from_row(row: Row[Any]) -> MetadataField:
    """A field from its ``metadata_fields`` row."""
    choices = json.loads(row.choices_json) if row.choices_json else None
    return MetadataField(
        name=row.name,
        type=row.type,
        unit=row.unit,
        minimum=row.minimum,
        maximum=row.maximum,
        choices=tuple(choices) if choices is not None else None,
        required=bool(row.required),
        applies_to=row.applies_to,
        description=row.description,
        id=row.id,
        created_at=row.created_at,
    )


def _row_values(field: MetadataField) -> dict[str, Any]:
    return {
        "name": field.name,
        "type": field.type,
        "unit": field.unit,
        "minimum": field.minimum,
        "maximum": field.maximum,
        "choices_json": json.dumps(list(field.choices)) if field.choices is not None else None,
        "required": field.required,
        "applies_to": field.applies_to,
        "description": field.description,
    }


def load_fields(conn: Connection, names: Sequence[str] | None = None) -> dict[str, MetadataField]:
    """Fields by name: all of them, or those among ``names`` that exist."""
    table = schema.metadata_fields
    query = sa.select(table).order_by(table.c.name)
    if names is not None:
        query = query.where(table.c.name.in_(list(names)))
    return {row.name: field_from_row(row) for row in conn.execute(query)}


def unknown_field(name: str) -> NotFoundError:
    """The error for a field name that is not defined."""
    return NotFoundError(
        f"no metadata field named {name!r}",
        hint=f"define it first with define_field({name!r}, 'number') or "
        f"`labledger metadata define {name} number`; list fields with `labledger metadata list`",
    )


def define_field(
    name: str,
    type: FieldType,
    *,
    unit: str | None = None,
    minimum: float | None = None,
    maximum: float | None = None,
    choices: Sequence[str] | None = None,
    required: bool = False,
    applies_to: AppliesTo = "both",
    description: str = "",
    workspace: Workspace | None = None,
) -> MetadataField:
    """Define a metadata field; defining it again with identical settings is a no-op.

    Args:
        name: Letters, digits, ``_ . -``, starting with a letter, at most 120 characters.
        type: ``number``, ``text``, ``date`` (ISO strings, ``date`` or ``datetime``) or ``enum``.
        unit: Unit of a number field.
        minimum: Smallest allowed value of a number field (inclusive).
        maximum: Largest allowed value of a number field (inclusive).
        choices: Allowed values of an enum field (required for enums).
        required: Whether runs and artifacts it applies to should carry a value.
        applies_to: ``run``, ``artifact`` or ``both``.
        description: What the field means.
        workspace: Defaults to the current workspace.

    Raises:
        ValidationError: The definition is invalid, or the field exists with other settings.
    """
    ws = workspace or get_workspace()
    wanted = check_definition(
        MetadataField(
            name=name,
            type=type,
            unit=unit,
            minimum=minimum,
            maximum=maximum,
            choices=choices_argument(name, choices),
            required=required,
            applies_to=applies_to,
            description=description,
        )
    )
    with ws.write() as conn:
        existing = load_fields(conn, [name]).get(name)
        if existing is not None:
            old, new = _settings(existing), _settings(wanted)
            changed = [key for key in new if old[key] != new[key]]
            if not changed:
                return existing
            raise ConflictError(
                f"metadata field {name!r} is already defined with other {', '.join(changed)}",
                hint="change it with update_field() (description, unit, bounds, choices, required, "
                "applies_to); a field's type cannot change",
            )
        field = dataclasses.replace(wanted, id=new_id(), created_at=time.time())
        conn.execute(
            schema.metadata_fields.insert(),
            {"id": field.id, "created_at": field.created_at, **_row_values(field)},
        )
        ws.record(
            conn,
            "metadata.field_defined",
            f"field:{field.id}",
            {"field_id": field.id, **_row_values(field)},
        )
    return field


def update_field(
    name: str,
    *,
    description: str | _Keep = UNSET,
    unit: str | _Keep | None = UNSET,
    minimum: float | _Keep | None = UNSET,
    maximum: float | _Keep | None = UNSET,
    choices: Sequence[str] | _Keep = UNSET,
    required: bool | _Keep = UNSET,
    applies_to: AppliesTo | _Keep = UNSET,
    workspace: Workspace | None = None,
) -> MetadataField:
    """Change a field without invalidating values already stored.

    Arguments left out stay as they are; ``None`` clears a unit or bound. New bounds must hold
    every stored value, new choices must include every stored value, and ``applies_to`` may not
    exclude a kind that already has values.

    Raises:
        NotFoundError: No field has this name.
        ValidationError: The new settings are invalid or would invalidate stored values.
    """
    ws = workspace or get_workspace()
    with ws.write() as conn:
        field = load_fields(conn, [name]).get(name)
        if field is None:
            raise unknown_field(name)
        changes: dict[str, Any] = {
            "description": description,
            "unit": unit,
            "minimum": minimum,
            "maximum": maximum,
            "choices": choices_argument(name, choices) if choices is not UNSET else UNSET,
            "required": required,
            "applies_to": applies_to,
        }
        updated = check_definition(
            dataclasses.replace(field, **{k: v for k, v in changes.items() if v is not UNSET})
        )
        if updated == field:
            return field
        _check_stored_values(conn, field, updated)
        conn.execute(
            sa.update(schema.metadata_fields)
            .where(schema.metadata_fields.c.id == field.id)
            .values(**_row_values(updated))
        )
        ws.record(
            conn,
            "metadata.field_updated",
            f"field:{field.id}",
            {"field_id": field.id, **_row_values(updated)},
        )
    return updated


def _check_stored_values(conn: Connection, old: MetadataField, new: MetadataField) -> None:
    values = schema.metadata_values
    of_field = values.c.field_id == old.id

    def count(*conditions: sa.ColumnElement[bool]) -> int:
        query = sa.select(sa.func.count()).select_from(values).where(of_field, *conditions)
        return int(conn.execute(query).scalar_one())

    outside = []
    if new.minimum is not None:
        outside.append(values.c.value_num < new.minimum)
    if new.maximum is not None:
        outside.append(values.c.value_num > new.maximum)
    if outside and (bad := count(sa.or_(*outside))):
        raise ValidationError(
            f"cannot set the bounds of field {old.name!r} to {new.bounds_text()}: "
            f"{bad} stored value(s) lie outside",
            hint="change or remove those values first, or choose bounds that hold them",
        )
    if new.choices is not None and (bad := count(values.c.value_text.not_in(new.choices))):
        raise ValidationError(
            f"cannot limit field {old.name!r} to choices {', '.join(new.choices)}: "
            f"{bad} stored value(s) use another choice",
            hint="keep every choice in use, or change those values first",
        )
    if new.applies_to != "both" and (bad := count(values.c.target_kind != new.applies_to)):
        raise ValidationError(
            f"cannot make field {old.name!r} apply to {new.applies_to} only: "
            f"{bad} stored value(s) belong to other kinds",
            hint="remove those values first with remove_metadata()",
        )


def get_field(name: str, *, workspace: Workspace | None = None) -> MetadataField:
    """One field by name.

    Raises:
        NotFoundError: No field has this name.
    """
    ws = workspace or get_workspace()
    with ws.read() as conn:
        field = load_fields(conn, [name]).get(name)
    if field is None:
        raise unknown_field(name)
    return field


def list_fields(*, workspace: Workspace | None = None) -> list[MetadataField]:
    """Every defined field, by name."""
    ws = workspace or get_workspace()
    with ws.read() as conn:
        return list(load_fields(conn).values())
