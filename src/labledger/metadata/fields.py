"""Metadata fields: admin-defined keys with a type, a unit, bounds, choices and a required flag.

A field is defined once per workspace. Defining it again with the same settings changes nothing;
other settings are refused, because values already stored were checked against the old ones.
``update_field`` changes what can change safely and refuses any change that stored values break.
"""

from __future__ import annotations

import dataclasses
import enum
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

from labledger.metadata.field_rules import check_definition, choices_argument
from labledger.stores.metadata import AppliesTo, FieldType, MetadataField, unknown_field
from labledger.workspace.current import get_workspace

if TYPE_CHECKING:
    from collections.abc import Sequence

    from labledger.workspace.workspace import Workspace

__all__ = [
    "UNSET",
    "AppliesTo",
    "FieldType",
    "MetadataField",
    "define_field",
    "get_field",
    "list_fields",
    "unknown_field",
    "update_field",
]


class _Unset(enum.Enum):
    UNSET = enum.auto()


UNSET = _Unset.UNSET
"""Marks an ``update_field`` argument as "leave unchanged" (``None`` clears a setting)."""

_Keep: TypeAlias = Literal[_Unset.UNSET]


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
    return ws.stores.metadata.define_field(wanted)


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
    store = ws.stores.metadata
    field = store.get_fields([name]).get(name)
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
    return store.update_field(updated)


def get_field(name: str, *, workspace: Workspace | None = None) -> MetadataField:
    """One field by name.

    Raises:
        NotFoundError: No field has this name.
    """
    ws = workspace or get_workspace()
    field = ws.stores.metadata.get_fields([name]).get(name)
    if field is None:
        raise unknown_field(name)
    return field


def list_fields(*, workspace: Workspace | None = None) -> list[MetadataField]:
    """Every defined field, by name."""
    ws = workspace or get_workspace()
    return list(ws.stores.metadata.get_fields().values())
