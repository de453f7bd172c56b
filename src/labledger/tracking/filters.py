"""Run searches as a store takes them: a filter parsed and checked, sort keys parsed.

A filter reads ``metrics.auc > 0.8 and params.model = "gbm" and tags.team = 'assay'``; see
:mod:`labledger.tracking.filter_parser` for the grammar and the typing rules, which are checked
here, before a store compiles the tree into its own query language.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from labledger._foundation.errors import FilterSyntaxError
from labledger.stores.run_filters import OrderKey
from labledger.tracking.filter_parser import (
    And,
    Comparison,
    Node,
    Not,
    Or,
    Text,
    comparison_problem,
    parse_filter,
    parse_order_item,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = [
    "And",
    "Comparison",
    "Node",
    "Not",
    "Or",
    "Text",
    "check_filter",
    "parse_filter",
    "parse_order_by",
]


def check_filter(expression: str | Node | None) -> Node | None:
    """Parse a filter (or check a tree built by hand) for a store to compile.

    Args:
        expression: Filter text, or a tree from :func:`parse_filter`.

    Returns:
        The tree, or ``None`` when the filter is empty (every run matches).

    Raises:
        FilterSyntaxError: The text does not parse, or a comparison's types do not fit.
    """
    node = parse_filter(expression) if isinstance(expression, str) else expression
    if node is not None:
        _check(node)
    return node


def parse_order_by(items: Sequence[str]) -> tuple[OrderKey, ...]:
    """Parse sort keys such as ``metrics.auc desc``, ``params.lr``, ``started_at asc``.

    Runs without the key sort last in either direction. Params and ``meta.`` values sort by number
    first, then by text.

    Raises:
        FilterSyntaxError: A sort key does not parse.
    """
    return tuple(OrderKey(*parse_order_item(item)) for item in items)


def _check(node: Node) -> None:
    if isinstance(node, And | Or):
        for operand in node.operands:
            _check(operand)
    elif isinstance(node, Not):
        _check(node.operand)
    elif isinstance(node, Comparison):
        problem = comparison_problem(node)
        if problem is not None:
            detail, hint = problem
            raise FilterSyntaxError(f"Invalid filter `{_describe(node)}`: {detail}", hint=hint)


def _describe(comparison: Comparison) -> str:
    name = comparison.key
    if comparison.target != "attributes":
        name = f"{comparison.target}.{comparison.key}"
    value = comparison.value
    shown = "" if value is None else f" {value!r}"
    if isinstance(value, tuple):
        shown = f" ({', '.join(map(repr, value))})"
    return f"{name} {comparison.op}{shown}"
