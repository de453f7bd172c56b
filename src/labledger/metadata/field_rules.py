"""The rules a metadata field definition follows, checked before anything is stored.

- The name starts with a letter, then letters, digits, ``_ . -``; at most 120 characters.
- The type is ``number``, ``text``, ``date`` or ``enum``; ``applies_to`` is ``run``, ``artifact`` or
  ``both``.
- Only number fields take a unit (1-40 characters) and bounds (finite, minimum <= maximum).
- Only enum fields take choices, and they need at least one: distinct texts of 1-200 characters.
"""

from __future__ import annotations

import dataclasses
import math
import re
from typing import TYPE_CHECKING

from labledger._foundation.errors import ValidationError

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from labledger.metadata.fields import MetadataField

__all__ = ["APPLIES_TO", "FIELD_TYPES", "check_definition", "choices_argument"]

FIELD_TYPES = ("number", "text", "date", "enum")
APPLIES_TO = ("run", "artifact", "both")
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,119}")
_MAX_UNIT = 40
_MAX_CHOICE = 200


def _number(name: str, what: str, value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValidationError(f"{what} of field {name!r} must be a finite number, not {value!r}")
    return float(value)


def check_definition(field: MetadataField) -> MetadataField:
    """Validate a field definition and return it with bounds as floats and choices as a tuple.

    Raises:
        ValidationError: The definition breaks a rule; the message says which.
    """
    name = field.name
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ValidationError(
            f"metadata field name {name!r} is invalid",
            hint="start with a letter, then letters, digits, _ . or -, at most 120 characters",
        )
    if field.type not in FIELD_TYPES:
        raise ValidationError(
            f"metadata field {name!r} has unknown type {field.type!r}",
            hint=f"use one of {', '.join(FIELD_TYPES)}",
        )
    if field.applies_to not in APPLIES_TO:
        raise ValidationError(
            f"metadata field {name!r} cannot apply to {field.applies_to!r}",
            hint=f"use one of {', '.join(APPLIES_TO)}",
        )
    if not isinstance(field.required, bool):
        raise ValidationError(f"required of field {name!r} must be True or False")
    if not isinstance(field.description, str):
        raise ValidationError(f"description of field {name!r} must be text")
    if field.type != "number" and (
        field.unit is not None or field.minimum is not None or field.maximum is not None
    ):
        raise ValidationError(
            f"metadata field {name!r} is of type {field.type}; only number fields take a unit or bounds",
            hint="drop unit, minimum and maximum, or make it a number field",
        )
    if field.unit is not None and (
        not isinstance(field.unit, str) or not field.unit.strip() or len(field.unit) > _MAX_UNIT
    ):
        raise ValidationError(
            f"unit {field.unit!r} of field {name!r} is invalid",
            hint=f"use 1-{_MAX_UNIT} characters",
        )
    minimum = _number(name, "minimum", field.minimum)
    maximum = _number(name, "maximum", field.maximum)
    if minimum is not None and maximum is not None and minimum > maximum:
        raise ValidationError(
            f"minimum {minimum:g} of field {name!r} is above its maximum {maximum:g}",
            hint="swap them",
        )
    choices = _checked_choices(name, field.type, field.choices)
    return dataclasses.replace(field, minimum=minimum, maximum=maximum, choices=choices)


def choices_argument(name: str, choices: Sequence[str] | None) -> tuple[str, ...] | None:
    """``choices`` as a tuple; a single string is refused (it would read as one choice per letter)."""
    if isinstance(choices, str):
        raise ValidationError(
            f"enum field {name!r} needs a list of choices, not one string",
            hint=f"pass choices=[{choices!r}]",
        )
    return tuple(choices) if choices is not None else None


def _checked_choices(
    name: str, type_: str, choices: Iterable[str] | None
) -> tuple[str, ...] | None:
    if type_ != "enum":
        if choices is not None:
            raise ValidationError(
                f"metadata field {name!r} is of type {type_}; only enum fields take choices",
                hint="drop choices, or make it an enum field",
            )
        return None
    if choices is None:
        raise ValidationError(
            f"enum field {name!r} needs a list of choices", hint="pass choices=['HeLa', 'U2OS']"
        )
    result = tuple(choices)
    if not result:
        raise ValidationError(f"enum field {name!r} needs at least one choice")
    for choice in result:
        if not isinstance(choice, str) or not choice or len(choice) > _MAX_CHOICE:
            raise ValidationError(
                f"choice {choice!r} of field {name!r} is invalid",
                hint=f"choices are text of 1-{_MAX_CHOICE} characters",
            )
    if len(set(result)) != len(result):
        raise ValidationError(f"enum field {name!r} lists a choice twice")
    return result
