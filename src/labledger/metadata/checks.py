"""Checking store inputs that arrive already prepared, as a server gets them from its clients.

The Python API checks values and conditions as it prepares them (``values.checked_value``,
``conditions.bind_conditions``) and hands the store the prepared form. A server cannot take a
client's word that this was done: its routes hold the prepared form to the same rules again here
before the store sees it.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from labledger._foundation import query_syntax as qs
from labledger._foundation.errors import ValidationError
from labledger.metadata.values import checked_value
from labledger.stores.metadata import StoredValue, unknown_field

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from labledger.stores.metadata import MetadataField, SearchQuery, TargetKind

__all__ = ["check_prepared_values", "check_search_query"]

_KINDS = ("run", "artifact")
_MAX_LIMIT = 1000
_MAX_TEXT = 10_000
_NUMERIC_OPS = frozenset({"=", "!=", "<", "<=", ">", ">=", "in", "not in"})
_TEXT_OPS = frozenset({"=", "!=", "in", "not in", "like", "ilike", "not like", "not ilike"})
_NULL_OPS = frozenset({"is null", "is not null"})


def check_prepared_values(
    fields: Mapping[str, MetadataField], kind: TargetKind, values: Sequence[StoredValue]
) -> list[StoredValue]:
    """The values as this side prepares them from what a client sent: each checked against its
    field (type, bounds, choices, length, kind), dates re-derived from their ISO text.

    Raises:
        NotFoundError: A field is not defined.
        ValidationError: A value does not fit its field.
    """
    checked = []
    for value in values:
        field = fields.get(value.field)
        if field is None:
            raise unknown_field(value.field)
        if not field.applies(kind):
            raise ValidationError(
                f"metadata field {field.name!r} applies to {field.applies_to}s only, not {kind}s",
                hint="attach it to the other kind, or widen it with update_field(applies_to='both')",
            )
        given: Any = value.number if field.type == "number" else value.text
        if given is None:
            raise ValidationError(
                f"metadata field {field.name!r} ({field.type}) got no value",
                hint="send numbers as number, text, choices and dates (ISO) as text",
            )
        checked.append(StoredValue(field.name, *checked_value(field, given)))
    return checked


def check_search_query(query: SearchQuery, fields: Mapping[str, MetadataField]) -> None:
    """Hold a prepared search to the rules ``metadata.search`` prepares it by.

    Raises:
        NotFoundError: A condition names a field that is not defined.
        ValidationError: Anything else does not fit: kinds, limit, text, an operator or value.
    """
    if not query.kinds or any(kind not in _KINDS for kind in query.kinds):
        raise ValidationError(
            f"cannot search kinds {list(query.kinds)!r}", hint="use run, artifact or both"
        )
    if isinstance(query.limit, bool) or not 1 <= query.limit <= _MAX_LIMIT:
        raise ValidationError(f"limit {query.limit!r} is invalid", hint=f"use 1-{_MAX_LIMIT}")
    if query.text is not None:
        _check_text(query.text, "search text")
    if query.where is not None:
        _check_node(query.where, fields)


def _check_text(text: object, what: str) -> str:
    if not isinstance(text, str) or "\x00" in text or len(text) > _MAX_TEXT:
        raise ValidationError(
            f"{what} must be text without NUL characters, at most {_MAX_TEXT} characters",
            hint="remove control characters from it",
        )
    return text


def _check_node(node: qs.QueryNode, fields: Mapping[str, MetadataField]) -> None:
    if isinstance(node, qs.And | qs.Or):
        if not node.operands:
            raise ValidationError("an and/or of no conditions", hint="give it at least one")
        for operand in node.operands:
            _check_node(operand, fields)
    elif isinstance(node, qs.Not):
        _check_node(node.operand, fields)
    elif isinstance(node, qs.TextTerm):
        if not _check_text(node.text, "a word to find").strip():
            raise ValidationError("a word to find is empty", hint="leave it out")
    else:
        _check_condition(node, fields)


def _check_condition(condition: qs.Condition, fields: Mapping[str, MetadataField]) -> None:
    field = fields.get(condition.name)
    if field is None:
        raise unknown_field(condition.name)
    if condition.op in _NULL_OPS:
        return
    numeric = field.type in ("number", "date")
    allowed = _NUMERIC_OPS if numeric else _TEXT_OPS
    if condition.op not in allowed:
        raise ValidationError(
            f"field {field.name!r} is {field.type}; it compares with {', '.join(sorted(allowed))}",
            hint="use an operator that suits the field",
        )
    listed = condition.op in ("in", "not in")
    values = condition.value if isinstance(condition.value, tuple) else (condition.value,)
    if listed != isinstance(condition.value, tuple) or not values:
        raise ValidationError(
            f"'{condition.op}' on {field.name!r} needs {'a list of values' if listed else 'one value'}"
        )
    for value in values:
        if numeric:
            if not _finite_number(value):
                raise ValidationError(
                    f"field {field.name!r} compares with finite numbers, not {str(value)[:40]}"
                )
            continue
        text = _check_text(value, f"a value of field {field.name!r}")
        choices = field.choices if field.type == "enum" and "like" not in condition.op else None
        if choices is not None and text not in choices:
            raise ValidationError(f"{text!r} is not a choice of field {field.name!r}")


def _finite_number(value: object) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    try:
        return math.isfinite(float(value))
    except OverflowError:  # an integer too large for a float
        return False
