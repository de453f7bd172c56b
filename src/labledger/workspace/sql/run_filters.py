"""Compile a run search's typed filter (``labledger.stores.run_filters``) to SQLAlchemy Core.

The filter language is parsed, and each comparison's types checked, by
:mod:`labledger.tracking.filter_parser`. Each condition on a metric, param, tag or metadata value
becomes a correlated ``EXISTS`` over its table keyed on ``runs.id`` (served by the ``(key, value)``
indexes); ``is null`` becomes ``NOT EXISTS``. Values are always bound parameters. A text term (a
bare word or quoted phrase) matches the run's full-text search document.

Typing rules: metrics and ``started_at``/``ended_at`` compare numerically; params and ``meta.``
values compare their number with a numeric value (non-numeric rows do not match) and their text
with a quoted one; tags and the other attributes compare text. NaN metrics are stored as NULL and
match no comparison. ``like`` uses ``\\`` as its escape character; on SQLite it ignores ASCII case,
so write ``ilike`` where case must not matter on every database.
"""

from __future__ import annotations

import operator
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from labledger._foundation.query_syntax import require_few_terms
from labledger.stores.run_filters import (
    NUMERIC_ATTRIBUTES,
    And,
    Comparison,
    Node,
    Not,
    Or,
    OrderKey,
    Target,
    Text,
    Value,
)
from labledger.workspace.schema import (
    latest_metrics,
    metadata_fields,
    metadata_values,
    params,
    runs,
    search_documents,
    tags,
)
from labledger.workspace.search_index import DocumentMatch

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from labledger.stores.runs import RunQuery

__all__ = ["compile_filter", "query_conditions", "sort_columns"]

_ORDERING: dict[str, Callable[[Any, Any], Any]] = {
    "=": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le, ">": operator.gt,
    ">=": operator.ge,
}  # fmt: skip
_KEYED_TABLES = {"metrics": latest_metrics, "params": params, "tags": tags}
_META_JOIN = metadata_values.join(
    metadata_fields, metadata_values.c.field_id == metadata_fields.c.id
)


def compile_filter(node: Node | None) -> sa.ColumnElement[bool] | None:
    """Compile a filter into a condition for ``select(runs).where(...)``; ``None`` for no
    filter (every run matches).

    Raises:
        FilterSyntaxError: The filter has too many terms for a query (``require_few_terms``).
    """
    if node is None:
        return None
    require_few_terms(node)
    return _compile(node)


def query_conditions(query: RunQuery) -> list[sa.ColumnElement[bool]]:
    """The conditions on ``runs`` a search's filter and project make (none for every run)."""
    found = [c for c in (compile_filter(query.filter),) if c is not None]
    if query.project_id is not None:
        found.append(runs.c.project_id == query.project_id)
    return found


def sort_columns(keys: Sequence[OrderKey]) -> list[tuple[sa.ColumnElement[Any], bool]]:
    """The columns to sort by for ``keys``, each with whether it sorts descending.

    Params and ``meta.`` values sort by number first, then by text; runs without the key sort
    last in either direction.
    """
    return [
        (column, key.descending) for key in keys for column in _sort_columns(key.target, key.key)
    ]


def _compile(node: Node) -> sa.ColumnElement[bool]:
    if isinstance(node, And):
        return sa.and_(*(_compile(operand) for operand in node.operands))
    if isinstance(node, Or):
        return sa.or_(*(_compile(operand) for operand in node.operands))
    if isinstance(node, Not):
        return sa.not_(_compile(node.operand))
    if isinstance(node, Text):
        return _text_match(node.text)
    return _compile_comparison(node)


def _text_match(phrase: str) -> sa.ColumnElement[bool]:
    # A run's search document is written when it ends (and when its tags or metadata change
    # after that), so a text term matches ended runs only.
    documents = sa.select(search_documents.c.target_id).where(
        search_documents.c.target_kind == "run", DocumentMatch(phrase)
    )
    return runs.c.id.in_(documents)


def _compile_comparison(comparison: Comparison) -> sa.ColumnElement[bool]:
    target, key, op = comparison.target, comparison.key, comparison.op
    if target == "attributes":
        column = runs.c[key]
        if op in ("is null", "is not null"):
            return column.is_(None) if op == "is null" else column.is_not(None)
        return _condition(column, comparison, numeric=key in NUMERIC_ATTRIBUTES)
    if op == "is null":
        return sa.not_(_key_exists(target, key))
    if op == "is not null":
        return _key_exists(target, key)
    values = comparison.value if isinstance(comparison.value, tuple) else (comparison.value,)
    numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
    return _key_exists(target, key, _condition(_value_column(target, numeric), comparison, numeric))


def _value_column(target: Target, numeric: bool) -> sa.ColumnElement[Any]:
    if target == "meta":
        return metadata_values.c.value_num if numeric else metadata_values.c.value_text
    if target == "params":
        return params.c.value_num if numeric else params.c.value
    return _KEYED_TABLES[target].c.value


def _key_exists(
    target: Target, key: str, condition: sa.ColumnElement[bool] | None = None
) -> sa.ColumnElement[bool]:
    if target == "meta":
        query = sa.exists().select_from(_META_JOIN).where(*_meta_of_run(key))
    else:
        table = _KEYED_TABLES[target]
        query = sa.exists().where(table.c.run_id == runs.c.id, table.c.key == key)
    return query if condition is None else query.where(condition)


def _meta_of_run(key: str) -> tuple[sa.ColumnElement[bool], ...]:
    return (
        metadata_fields.c.name == key,
        metadata_values.c.target_kind == "run",
        metadata_values.c.target_id == runs.c.id,
    )


def _condition(
    column: sa.ColumnElement[Any], comparison: Comparison, numeric: bool
) -> sa.ColumnElement[bool]:
    op, value = comparison.op, comparison.value
    if isinstance(value, bool):
        # A flag may have been written as true, True or TRUE; compare the spelling, not the case.
        column, value = sa.func.lower(column), "true" if value else "false"
    elif not numeric:
        value = tuple(map(_as_text, value)) if isinstance(value, tuple) else _as_text(value)
    if isinstance(value, tuple):
        return column.in_(value) if op == "in" else column.not_in(value)
    if op in _ORDERING:
        result: sa.ColumnElement[bool] = _ORDERING[op](column, value)
        return result
    pattern = str(value)
    if op == "like":
        return column.like(pattern, escape="\\")
    if op == "not like":
        return column.not_like(pattern, escape="\\")
    if op == "ilike":
        return column.ilike(pattern, escape="\\")
    return column.not_ilike(pattern, escape="\\")


def _as_text(value: Value | None) -> str:
    return value if isinstance(value, str) else str(value)


def _sort_columns(target: Target, key: str) -> list[sa.ColumnElement[Any]]:
    if target == "attributes":
        return [runs.c[key]]
    if target == "meta":
        found = sa.select(metadata_values.c.value_num).select_from(_META_JOIN)
        found = found.where(*_meta_of_run(key))
        columns = [metadata_values.c.value_num, metadata_values.c.value_text]
    else:
        table = _KEYED_TABLES[target]
        found = sa.select(table.c.value).where(table.c.run_id == runs.c.id, table.c.key == key)
        columns = [params.c.value_num, params.c.value] if target == "params" else [table.c.value]
    return [found.with_only_columns(column).scalar_subquery() for column in columns]
