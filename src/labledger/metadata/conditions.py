"""Field conditions for metadata search: ``concentration_um > 10 and cell_line = "HeLa"``.

Conditions come as a dict (``{"concentration_um": (">", 10), "cell_line": "HeLa"}``, every entry
must hold) or as text in the query dialect that run filters use too
(:mod:`labledger._foundation.query_syntax`)::

    concentration_um > 10 and (cell_line = HeLa or cell_line = 'U2OS')
    not cell_line in (HeLa, U2OS) and operator is not null
    viability and acquired >= 2024-02-01

Names are field names (the ``meta.`` prefix of run filters is accepted); values are numbers,
quoted strings, ``true``/``false`` or bare words. A word or quoted phrase that is not compared is
a text term: it must appear in the search document of the run or artifact. Each condition
compiles to an ``EXISTS`` over ``metadata_values`` with bound parameters; nothing is formatted
into SQL.
"""

from __future__ import annotations

import operator
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeAlias

import sqlalchemy as sa

from labledger._foundation import query_syntax as qs
from labledger._foundation.errors import ValidationError
from labledger.metadata.values import stored_value
from labledger.stores.metadata import unknown_field
from labledger.workspace import schema
from labledger.workspace.search_index import DocumentMatch
from labledger.workspace.sql.metadata import load_fields

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from sqlalchemy import Connection

    from labledger.metadata.fields import MetadataField

__all__ = ["FieldCondition", "WhereSpec", "compile_where", "parse_conditions"]

Scalar: TypeAlias = int | float | str
WhereSpec: TypeAlias = Mapping[str, Any] | str | None
FieldCondition = qs.Condition
"""One condition on a metadata field: ``FieldCondition("concentration_um", ">", 10)``."""

_ORDERING: dict[str, Callable[[Any, Any], Any]] = {
    "=": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le, ">": operator.gt,
    ">=": operator.ge,
}  # fmt: skip
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


def _compare(field: MetadataField, condition: qs.Condition) -> sa.ColumnElement[bool]:
    values = schema.metadata_values
    numeric = field.type in ("number", "date")
    column = values.c.value_num if numeric else values.c.value_text
    op, value = condition.op, condition.value
    if isinstance(value, tuple):
        items = [_bound(field, item) for item in value]
        return column.in_(items) if op == "in" else column.not_in(items)
    if op in ("in", "not in"):
        raise ValidationError(f"'{op}' on field {field.name!r} needs a list of values")
    if "like" in op:
        if numeric:
            raise ValidationError(
                f"field {field.name!r} is {field.type}; like and ilike match text fields only",
                hint=f"compare it with = != < <= > >=, e.g. {field.name} > 10",
            )
        pattern = str(value)
        matched = (column.ilike if "ilike" in op else column.like)(pattern, escape="\\")
        return sa.not_(matched) if op.startswith("not ") else matched
    if op not in ("=", "!=") and not numeric:
        raise ValidationError(
            f"field {field.name!r} is {field.type}; it compares with = != in, not {op}",
            hint="order comparisons work on number and date fields",
        )
    result: sa.ColumnElement[bool] = _ORDERING[op](column, _bound(field, value))
    return result


def _field_names(node: qs.QueryNode) -> Iterator[str]:
    if isinstance(node, qs.And | qs.Or):
        for operand in node.operands:
            yield from _field_names(operand)
    elif isinstance(node, qs.Not):
        yield from _field_names(node.operand)
    elif isinstance(node, qs.Condition):
        yield node.name
        yield node.name.removeprefix("meta.")


def compile_where(
    conn: Connection,
    node: qs.QueryNode | None,
    kind_column: sa.ColumnElement[str],
    id_column: sa.ColumnElement[str],
) -> sa.ColumnElement[bool] | None:
    """One condition for a query over ``search_documents``: each field condition an ``EXISTS``
    correlated with the target kind and id columns, each text term a match of the document.

    Raises:
        NotFoundError: A condition names a field that is not defined.
        ValidationError: A value does not fit its field's type or choices.
    """
    if node is None:
        return None
    fields = load_fields(conn, sorted(set(_field_names(node))))

    def build(item: qs.QueryNode) -> sa.ColumnElement[bool]:
        if isinstance(item, qs.And):
            return sa.and_(*map(build, item.operands))
        if isinstance(item, qs.Or):
            return sa.or_(*map(build, item.operands))
        if isinstance(item, qs.Not):
            return sa.not_(build(item.operand))
        if isinstance(item, qs.TextTerm):
            return DocumentMatch(item.text)
        field = _field_for(fields, item.name)
        values = schema.metadata_values
        exists = sa.exists().where(
            values.c.field_id == field.id,
            values.c.target_kind == kind_column,
            values.c.target_id == id_column,
        )
        if item.op == "is null":
            return sa.not_(exists)
        return exists if item.op == "is not null" else exists.where(_compare(field, item))

    return build(node)
