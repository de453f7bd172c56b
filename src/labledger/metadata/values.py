"""Metadata values on runs and artifacts, each checked against its field before it is stored.

A value is stored as a number (``value_num``), a text (``value_text``) or both: numbers as numbers,
text and enum choices as text, dates as Unix seconds (UTC) plus their ISO text. Setting several
values is one transaction with one ledger entry: all are stored, or none.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import TYPE_CHECKING, Any

from labledger._foundation.errors import ValidationError
from labledger.stores.metadata import MetadataField, StoredValue, unknown_field
from labledger.workspace.current import get_workspace

if TYPE_CHECKING:
    from collections.abc import Mapping

    from labledger.stores.metadata import TargetRef
    from labledger.workspace.workspace import Workspace

__all__ = [
    "get_metadata",
    "missing_required",
    "parse_date",
    "remove_metadata",
    "set_metadata",
    "stored_value",
]

_MAX_TEXT = 10_000
_DATE_HINT = "write an ISO date such as 2024-05-01 or 2024-05-01T14:30:00+02:00"


def parse_date(name: str, value: object) -> tuple[float, str]:
    """A date value as ``(Unix seconds UTC, ISO text)``; naive times are taken as UTC.

    Raises:
        ValidationError: The value is not a date, a datetime or an ISO date string.
    """
    if isinstance(value, str):
        text = value.strip()
        try:
            value = (
                dt.date.fromisoformat(text) if len(text) == 10 else dt.datetime.fromisoformat(text)
            )
        except ValueError:
            raise ValidationError(
                f"metadata field {name!r} is a date; {text!r} is not an ISO date", hint=_DATE_HINT
            ) from None
    if isinstance(value, dt.datetime):
        moment = value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)
        moment = moment.astimezone(dt.UTC)
        return moment.timestamp(), moment.isoformat()
    if isinstance(value, dt.date):
        midnight = dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC)
        return midnight.timestamp(), value.isoformat()
    raise ValidationError(
        f"metadata field {name!r} is a date, not {type(value).__name__} {value!r:.60}",
        hint=_DATE_HINT,
    )


def _as_number(field: MetadataField, value: object) -> float:
    number: float | None = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            number = None
    if number is None or not math.isfinite(number):
        unit = f" (in {field.unit})" if field.unit else ""
        raise ValidationError(
            f"metadata field {field.name!r} is a number{unit}, not {type(value).__name__} "
            f"{value!r:.60}",
            hint="pass a finite number such as 12.5",
        )
    return number


def stored_value(field: MetadataField, value: object) -> tuple[float | None, str | None]:
    """Check a value's type against ``field`` and return its ``(value_num, value_text)``.

    Bounds and choices are not checked here; see :func:`checked_value`.
    """
    if field.type == "number":
        return _as_number(field, value), None
    if field.type == "date":
        return parse_date(field.name, value)
    if not isinstance(value, str):
        raise ValidationError(
            f"metadata field {field.name!r} is {field.type}, so it takes text, "
            f"not {type(value).__name__} {value!r:.60}",
            hint=f"pass the value as a string, e.g. {str(value)!r}",
        )
    return None, value


def checked_value(field: MetadataField, value: object) -> tuple[float | None, str | None]:
    """Validate a value fully against ``field`` (type, bounds, choices, length).

    Raises:
        ValidationError: The value does not fit, with what would.
    """
    number, text = stored_value(field, value)
    if field.type == "number" and number is not None:
        low, high = field.minimum, field.maximum
        if (low is not None and number < low) or (high is not None and number > high):
            unit = f" {field.unit}" if field.unit else ""
            raise ValidationError(
                f"metadata field {field.name!r} got {number:g}{unit}, outside its bounds "
                f"{field.bounds_text()}",
                hint="check the value and its unit",
            )
    if field.type == "enum" and field.choices is not None and text not in field.choices:
        raise ValidationError(
            f"metadata field {field.name!r} got {text!r}, which is not one of its choices: "
            f"{', '.join(field.choices)}",
            hint="use one of the choices, or add the choice with update_field()",
        )
    if field.type == "text" and text is not None and len(text) > _MAX_TEXT:
        raise ValidationError(
            f"metadata field {field.name!r} got {len(text)} characters, more than {_MAX_TEXT}",
            hint="store long text as an artifact",
        )
    return number, text


def set_metadata(
    target: TargetRef, values: Mapping[str, Any], *, workspace: Workspace | None = None
) -> dict[str, Any]:
    """Attach metadata values to a run or an artifact, replacing earlier values of those fields.

    Every value is validated against its field first; if any fails, nothing is stored.

    Args:
        target: A run id, an artifact id, or ``("run", id)`` / ``("artifact", id)``.
        values: Field name to value. Numbers may be given as numeric strings, dates as ISO
            strings, ``date`` or ``datetime`` (naive times are UTC).
        workspace: Defaults to the current workspace.

    Returns:
        All metadata of the target after the change.

    Raises:
        NotFoundError: The target or a field does not exist.
        ValidationError: A value has the wrong type, is out of bounds, is not a choice, or its
            field does not apply to the target's kind.
    """
    ws = workspace or get_workspace()
    store = ws.stores.metadata
    kind, id_ = store.resolve_target(target)
    fields = store.get_fields(list(values))
    checked = []
    for name, value in values.items():
        field = fields.get(name)
        if field is None:
            raise unknown_field(name)
        if not field.applies(kind):
            raise ValidationError(
                f"metadata field {name!r} applies to {field.applies_to}s only, not to {kind} {id_}",
                hint="attach it to the other kind, or widen it with update_field(applies_to='both')",
            )
        checked.append(StoredValue(name, *checked_value(field, value)))
    return store.set_values(kind, id_, checked)


def get_metadata(target: TargetRef, *, workspace: Workspace | None = None) -> dict[str, Any]:
    """The metadata of a run or artifact: field name to value, by name.

    Numbers come back as floats, text and enum values as strings, dates as ISO strings.
    """
    ws = workspace or get_workspace()
    store = ws.stores.metadata
    return store.get_values(*store.resolve_target(target))


def remove_metadata(target: TargetRef, name: str, *, workspace: Workspace | None = None) -> None:
    """Remove one field's value from a run or artifact.

    Raises:
        NotFoundError: The target or field does not exist, or the target has no value for it.
    """
    ws = workspace or get_workspace()
    store = ws.stores.metadata
    kind, id_ = store.resolve_target(target)
    store.remove_value(kind, id_, name)


def missing_required(target: TargetRef, *, workspace: Workspace | None = None) -> list[str]:
    """Names of the required fields that apply to the target and have no value on it, by name."""
    ws = workspace or get_workspace()
    store = ws.stores.metadata
    kind, id_ = store.resolve_target(target)
    present = store.get_values(kind, id_)
    return [
        field.name
        for field in store.get_fields().values()
        if field.required and field.applies(kind) and field.name not in present
    ]
