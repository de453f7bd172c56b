"""Field conditions for metadata search: ``concentration_um > 10 and cell_line = "HeLa"``.

Conditions come as a dict (``{"concentration_um": (">", 10), "cell_line": "HeLa"}``) or as text.
The text form is comparisons joined by ``and``::

    condition  := comparison ("and" comparison)*
    comparison := field op value | field ["not"] "in" "(" value ("," value)* ")"
    op         := "=" | "==" | "!=" | "<" | "<=" | ">" | ">="
    value      := number | 'text' | "text" | bare-word

A field may be written with the ``meta.`` prefix of run filters. Each condition compiles to an
``EXISTS`` over ``metadata_values`` with bound parameters; nothing is formatted into SQL.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeAlias

import sqlalchemy as sa

from labledger._foundation.errors import FilterSyntaxError, ValidationError
from labledger.metadata.fields import load_fields, unknown_field
from labledger.metadata.values import stored_value
from labledger.workspace import schema

if TYPE_CHECKING:
    from collections.abc import Callable

    from sqlalchemy import Connection

    from labledger.metadata.fields import MetadataField

__all__ = ["FieldCondition", "WhereSpec", "compile_conditions", "parse_conditions"]

Scalar: TypeAlias = int | float | str
WhereSpec: TypeAlias = Mapping[str, Any] | str | None

_ORDERING: dict[str, Callable[[Any, Any], Any]] = {
    "=": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le, ">": operator.gt,
    ">=": operator.ge,
}  # fmt: skip
_ALIASES = {"==": "="}
_HINT = "write conditions such as concentration_um > 10 and cell_line = 'HeLa'"
_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
    | (?P<string>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
    | (?P<number>[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?(?![A-Za-z0-9_.:-]))
    | (?P<word>[A-Za-z0-9_][A-Za-z0-9_.:+-]*)
    | (?P<op><=|>=|==|!=|=|<|>)
    | (?P<punct>[(),])
    """,
    re.VERBOSE | re.DOTALL,
)


@dataclass(frozen=True, slots=True)
class FieldCondition:
    """One condition on a metadata field; ``value`` is a tuple for ``in`` and ``not in``."""

    field: str
    op: str
    value: Scalar | tuple[Scalar, ...]


def _syntax(pos: int, detail: str) -> FilterSyntaxError:
    return FilterSyntaxError(f"Invalid field condition at column {pos + 1}: {detail}", hint=_HINT)


def _tokens(text: str) -> list[tuple[str, str, int]]:
    found: list[tuple[str, str, int]] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            if text[pos] in "'\"":
                raise _syntax(pos, f"unterminated string; close it with {text[pos]}")
            raise _syntax(pos, f"unexpected character '{text[pos]}'")
        if match.lastgroup != "space":
            found.append((match.lastgroup or "", match.group(), pos))
        pos = match.end()
    found.append(("end", "", len(text)))
    return found


def _literal(kind: str, text: str) -> Scalar:
    if kind == "string":
        return re.sub(r"\\(.)", r"\1", text[1:-1], flags=re.DOTALL)
    if kind == "number":
        return int(text) if text.lstrip("+-").isdigit() else float(text)
    return text


def _parse_text(text: str) -> list[FieldCondition]:
    tokens = _tokens(text)
    index = 0

    def take() -> tuple[str, str, int]:
        nonlocal index
        token = tokens[index]
        index = min(index + 1, len(tokens) - 1)
        return token

    def value(after: str) -> Scalar:
        kind, raw, pos = take()
        if kind not in ("string", "number", "word") or raw.lower() == "and":
            shown = "the end" if kind == "end" else f"'{raw}'"
            raise _syntax(pos, f"expected a value after '{after}', found {shown}")
        return _literal(kind, raw)

    conditions = []
    while True:
        kind, name, pos = take()
        if kind != "word":
            shown = "the end" if kind == "end" else f"'{name}'"
            raise _syntax(pos, f"expected a field name, found {shown}")
        kind, raw, pos = take()
        negated = kind == "word" and raw.lower() == "not"
        if negated:
            kind, raw, pos = take()
        if kind == "op" and not negated:
            conditions.append(FieldCondition(name, _ALIASES.get(raw, raw), value(raw)))
        elif kind == "word" and raw.lower() == "in":
            if take()[1] != "(":
                raise _syntax(pos, "expected '(' after 'in'")
            items = [value("(")]
            while (separator := take())[1] == ",":
                items.append(value(","))
            if separator[1] != ")":
                raise _syntax(separator[2], "expected ',' or ')'")
            conditions.append(FieldCondition(name, "not in" if negated else "in", tuple(items)))
        else:
            shown = "the end" if kind == "end" else f"'{raw}'"
            raise _syntax(pos, f"expected an operator after '{name}', found {shown}")
        kind, raw, pos = take()
        if kind == "end":
            return conditions
        if raw.lower() != "and":
            raise _syntax(
                pos, f"expected 'and' or the end, found '{raw}' (only 'and' joins conditions)"
            )


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
        return FieldCondition(name, op, tuple(value))
    if op not in _ORDERING:
        raise ValidationError(
            f"unknown operator {op!r} on field {name!r}",
            hint="use =, !=, <, <=, >, >=, in or not in",
        )
    return FieldCondition(name, op, value)


def parse_conditions(where: WhereSpec) -> list[FieldCondition]:
    """Field conditions from a dict or text (see the module docstring); empty for ``None``.

    Raises:
        FilterSyntaxError: The text does not parse.
        ValidationError: A dict entry is malformed.
    """
    if where is None:
        return []
    if isinstance(where, str):
        return _parse_text(where) if where.strip() else []
    return [_from_item(name, spec) for name, spec in where.items()]


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


def _compare(field: MetadataField, condition: FieldCondition) -> sa.ColumnElement[bool]:
    values = schema.metadata_values
    numeric = field.type in ("number", "date")
    column = values.c.value_num if numeric else values.c.value_text
    if isinstance(condition.value, tuple):
        items = [_bound(field, item) for item in condition.value]
        return column.in_(items) if condition.op == "in" else column.not_in(items)
    if condition.op not in ("=", "!=") and not numeric:
        raise ValidationError(
            f"field {field.name!r} is {field.type}; it compares with = != in, not {condition.op}",
            hint="order comparisons work on number and date fields",
        )
    result: sa.ColumnElement[bool] = _ORDERING[condition.op](column, _bound(field, condition.value))
    return result


def compile_conditions(
    conn: Connection,
    conditions: list[FieldCondition],
    kind_column: sa.ColumnElement[str],
    id_column: sa.ColumnElement[str],
) -> list[sa.ColumnElement[bool]]:
    """One ``EXISTS`` per condition, correlated with the given target kind and id columns.

    Raises:
        NotFoundError: A condition names a field that is not defined.
        ValidationError: A value does not fit its field's type or choices.
    """
    if not conditions:
        return []
    names = {c.field for c in conditions} | {c.field.removeprefix("meta.") for c in conditions}
    fields = load_fields(conn, sorted(names))
    values = schema.metadata_values
    compiled: list[sa.ColumnElement[bool]] = []
    for condition in conditions:
        field = _field_for(fields, condition.field)
        compiled.append(
            sa.exists().where(
                values.c.field_id == field.id,
                values.c.target_kind == kind_column,
                values.c.target_id == id_column,
                _compare(field, condition),
            )
        )
    return compiled
