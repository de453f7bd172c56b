"""Field conditions for metadata search: ``concentration_um > 10 and cell_line = "HeLa"``.

Conditions come as a dict (``{"concentration_um": (">", 10), "cell_line": "HeLa"}``, every entry
must hold) or as text in the query dialect that run filters use too
(:mod:`labledger._foundation.query_syntax`)::

    concentration_um > 10 and (cell_line = HeLa or cell_line = 'U2OS')
    not cell_line in (HeLa, U2OS) and operator is not null
    viability and acquired >= 2024-02-01

Names are field names (the ``meta.`` prefix of run filters is accepted); values are numbers,
quoted strings, ``true``/``false`` or bare words. A word or quoted phrase that is not compared is
a text term: it must appear in the search document of the run or artifact. ``bind_conditions``
checks each condition against its field and converts its values as the field stores them; the
store compiles the bound tree (never formatting anything into a query).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeAlias

from labledger._foundation import query_syntax as qs
from labledger._foundation.errors import ValidationError
from labledger.metadata.values import stored_value
from labledger.stores.metadata import unknown_field

if TYPE_CHECKING:
    from labledger.metadata.fields import MetadataField

__all__ = ["FieldCondition", "WhereSpec", "bind_conditions", "field_names", "parse_conditions"]

Scalar: TypeAlias = int | float | str
WhereSpec: TypeAlias = Mapping[str, Any] | str | None
FieldCondition = qs.Condition
"""One condition on a metadata field: ``FieldCondition("concentration_um", ">", 10)``."""

_ORDERING = frozenset({"=", "!=", "<", "<=", ">", ">="})
_ALIASES = {"==": "="}
_HINT = (
    "write conditions such as concentration_um > 10 and (cell_line = HeLa or cell_line = U2OS), "
    "or words to find such as viability"
)


def _words_for_flags(node: qs.QueryNode) -> qs.QueryNode:
    # In field conditions true and false are words like any other: the field's type reads them.
    if isinstance(node, qs.And | qs.Or):
        return type(node)(tuple(map(_words_for_flags, node.operands)))
    if isinstance(node, qs.Not):
        return qs.Not(_words_for_flags(node.operand))
    if isinstance(node, qs.TextTerm):
        return node

    def word(value: Any) -> Any:
        return str(value).lower() if isinstance(value, bool) else value

    value = node.value
    value = tuple(map(word, value)) if isinstance(value, tuple) else word(value)
    return qs.Condition(node.name, node.op, value, node.name_pos, node.value_pos)


def _from_item(name: object, spec: object) -> FieldCondition:
    if not isinstance(name, str):
        raise ValidationError(f"field condition key {name!r} is not a field name")
    if isinstance(spec, tuple):
        if len(spec) != 2 or not isinstance(spec[0], str):
            raise ValidationError(
                f"condition on {name!r} must be a value or an (operator, value) pair, not {spec!r}",
                hint="write {'concentration_um': ('>', 10)}",
            )
        op, value = _ALIASES.get(spec[0], spec[0]), spec[1]
    elif isinstance(spec, list | set | frozenset):
        op, value = "in", spec
    else:
        op, value = "=", spec
    if op in ("in", "not in"):
        if isinstance(value, str) or not hasattr(value, "__iter__") or not value:
            raise ValidationError(f"'{op}' on {name!r} needs a non-empty list of values")
        return qs.Condition(name, op, tuple(value))
    if op not in _ORDERING:
        raise ValidationError(
            f"unknown operator {op!r} on field {name!r}",
            hint="use =, !=, <, <=, >, >=, in or not in",
        )
    return qs.Condition(name, op, value)


def parse_conditions(where: WhereSpec) -> qs.QueryNode | None:
    """The condition tree of a dict or text (see the module docstring); ``None`` when empty.

    Raises:
        FilterSyntaxError: The text does not parse; the message gives the column.
        ValidationError: A dict entry is malformed.
    """
    if where is None:
        return None
    if isinstance(where, str):
        node = qs.parse_query(
            where,
            subject="field condition",
            hint=_HINT,
            expected="a field name or a word to find",
            must_compare=lambda word: word.lower().startswith("meta."),
        )
        return None if node is None else _words_for_flags(node)
    conditions = tuple(_from_item(name, spec) for name, spec in where.items())
    if not conditions:
        return None
    return conditions[0] if len(conditions) == 1 else qs.And(conditions)


def _field_for(fields: Mapping[str, MetadataField], name: str) -> MetadataField:
    field = fields.get(name)
    if field is None and name.startswith("meta."):
        field = fields.get(name.removeprefix("meta."))
    if field is None:
        raise unknown_field(name)
    return field


def _bound(field: MetadataField, value: object) -> float | str:
    number, text = stored_value(field, value)
    if field.type in ("number", "date"):
        assert number is not None
        return number
    assert text is not None
    if field.type == "enum" and field.choices is not None and text not in field.choices:
        raise ValidationError(
            f"{text!r} is not a choice of field {field.name!r}; its choices are "
            f"{', '.join(field.choices)}"
        )
    return text


def _bind(field: MetadataField, condition: qs.Condition) -> qs.Condition:
    """The condition on ``field``'s own name, its values as the field stores them."""
    numeric = field.type in ("number", "date")
    op, value = condition.op, condition.value
    bound: Any
    if op in ("is null", "is not null"):
        bound = value
    elif isinstance(value, tuple):
        bound = tuple(_bound(field, item) for item in value)
    elif op in ("in", "not in"):
        raise ValidationError(f"'{op}' on field {field.name!r} needs a list of values")
    elif "like" in op:
        if numeric:
            raise ValidationError(
                f"field {field.name!r} is {field.type}; like and ilike match text fields only",
                hint=f"compare it with = != < <= > >=, e.g. {field.name} > 10",
            )
        bound = str(value)
    else:
        if op not in ("=", "!=") and not numeric:
            raise ValidationError(
                f"field {field.name!r} is {field.type}; it compares with = != in, not {op}",
                hint="order comparisons work on number and date fields",
            )
        bound = _bound(field, value)
    return qs.Condition(field.name, op, bound, condition.name_pos, condition.value_pos)


def field_names(node: qs.QueryNode | None) -> list[str]:
    """The field names a condition tree may refer to (with and without ``meta.``), sorted."""
    if node is None:
        return []
    names = {c.name for c in qs.conditions_of(node)}
    return sorted(names | {name.removeprefix("meta.") for name in names})


def bind_conditions(
    node: qs.QueryNode | None, fields: Mapping[str, MetadataField]
) -> qs.QueryNode | None:
    """``node`` with every condition checked against its field and its values as stored.

    Args:
        node: A tree from ``parse_conditions``.
        fields: The defined fields among ``field_names(node)``.

    Raises:
        NotFoundError: A condition names a field that is not defined.
        ValidationError: A value does not fit its field's type or choices, or an operator does
            not suit the field.
    """
    return None if node is None else _bind_node(node, fields)


def _bind_node(node: qs.QueryNode, fields: Mapping[str, MetadataField]) -> qs.QueryNode:
    if isinstance(node, qs.And | qs.Or):
        operands = tuple(_bind_node(operand, fields) for operand in node.operands)
        return qs.And(operands) if isinstance(node, qs.And) else qs.Or(operands)
    if isinstance(node, qs.Not):
        return qs.Not(_bind_node(node.operand, fields))
    if isinstance(node, qs.TextTerm):
        return node
    return _bind(_field_for(fields, node.name), node)
