"""Parse the run search filter language into a small typed syntax tree.

The filter is the query dialect of :mod:`labledger._foundation.query_syntax` (comparisons,
``and``/``or``/``not``, parentheses, and words or quoted phrases as text terms), read for runs::

    name        := ("metrics" | "params" | "tags" | "meta" | "attributes" | "run") "." key
                 | attribute

A key is letters, digits and ``_ - / . : +``; any other key is quoted after the dot with backticks
or double quotes (metrics.`val loss`). Strings take single or double quotes and backslash escapes.
A word that is not followed by an operator (and is not a run attribute or prefixed name), or a
quoted phrase on its own, is a :class:`Text` term, matched against the run's search document (its
name, params, tags and metadata values). The tree's types live in ``labledger.stores.run_filters``,
where the stores that compile it find them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast, get_args

from labledger._foundation import query_syntax as qs
from labledger._foundation.query_syntax import QueryParser, TextTerm, syntax_error
from labledger.stores.run_filters import (
    ATTRIBUTES,
    NUMERIC_ATTRIBUTES,
    And,
    Comparison,
    Node,
    Not,
    Operator,
    Or,
    Target,
    Text,
    Value,
)

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = [
    "ATTRIBUTES",
    "NUMERIC_ATTRIBUTES",
    "And",
    "Comparison",
    "Node",
    "Not",
    "Operator",
    "Or",
    "Target",
    "Text",
    "Value",
    "comparison_problem",
    "parse_filter",
    "parse_order_item",
    "typed_filter",
    "typed_order_item",
]

FILTER_HINT = (
    'write comparisons such as metrics.auc > 0.8 and params.model = "gbm", '
    "tags.team in ('assay', 'core'), params.optimizer like 'ad%', not tags.note is null, "
    'or words to find such as gbm or "dose response"'
)
_EXPECTED = "a name such as metrics.auc, or a word to find"
ORDER_HINT = "write sort keys such as metrics.auc desc, params.lr, started_at asc"


_PREFIXES: dict[str, Target] = {
    "metrics": "metrics", "params": "params", "tags": "tags", "meta": "meta",
    "attributes": "attributes", "run": "attributes",
}  # fmt: skip
_KNOWN_PREFIXES = frozenset(f"{prefix}." for prefix in _PREFIXES)
_OPERATORS = frozenset(get_args(Operator))


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def comparison_problem(comparison: Comparison) -> tuple[str, str] | None:
    """Say what is wrong with a comparison's types as ``(detail, hint)``, or ``None``."""
    return next(_problems(comparison), None)


def _problems(comparison: Comparison) -> Iterator[tuple[str, str]]:
    # Checks run in order and the caller stops at the first problem, so later checks may rely on
    # the earlier ones having passed.
    target, key, op, value = comparison.target, comparison.key, comparison.op, comparison.value
    name = f"{target}.{key}" if target != "attributes" else key
    if target not in _PREFIXES.values():
        yield f"unknown target '{target}'", FILTER_HINT
    if target == "attributes" and key not in ATTRIBUTES:
        yield _unknown_attribute(key)
    if op in ("is null", "is not null"):
        if value is not None:
            yield f"'{op}' takes no value", FILTER_HINT
        return
    values = value if isinstance(value, tuple) else (value,)
    if op in ("in", "not in") and (not isinstance(value, tuple) or not value):
        yield f"'{op}' needs a list of values", "write tags.team in ('assay', 'core')"
    if not all(isinstance(item, int | float | str) for item in values):
        yield f"{name} needs a number, a string, true or false", FILTER_HINT
    numeric_only = target == "metrics" or (target == "attributes" and key in NUMERIC_ATTRIBUTES)
    if numeric_only and not all(_is_number(item) for item in values):
        what = (
            "a text pattern" if "like" in op else repr(next(v for v in values if not _is_number(v)))
        )
        hint = f"write a number without quotes, e.g. {name} > 0.8"
        yield f"{name} compares numerically, so it cannot be compared with {what}", hint
    if "like" in op and not isinstance(value, str):
        yield f"'{op}' needs a quoted pattern", "write params.optimizer like 'ad%'"
    if any(isinstance(item, bool) for item in values) and op not in ("=", "!="):
        yield "true and false only compare with = or !=", "write tags.flag = true"
    if len({_is_number(item) for item in values}) > 1:
        yield "a list mixes numbers and text", "write all numbers or all quoted strings"
    text_only = target == "tags" or (target == "attributes" and key not in NUMERIC_ATTRIBUTES)
    if text_only and op in ("<", "<=", ">", ">=") and _is_number(value):
        hint = f"quote the value to compare text, e.g. {name} {op} '{value}'"
        yield f"{name} compares as text, so ordering by a number would mislead", hint


def _unknown_attribute(key: str) -> tuple[str, str]:
    valid = ", ".join(sorted(ATTRIBUTES))
    hint = f"for a metric, param or tag write metrics.{key}, params.{key} or tags.{key}"
    return f"unknown run attribute '{key}'; valid attributes are {valid}", hint


def _must_compare(word: str) -> bool:
    prefix, dot, _ = word.partition(".")
    return word.lower() in ATTRIBUTES or (bool(dot) and f"{prefix.lower()}." in _KNOWN_PREFIXES)


def _name_at(subject: str, name: str, pos: int) -> tuple[Target, str]:
    """The ``(target, key)`` a name stands for; an unknown one fails at ``pos``."""
    prefix, dot, key = name.partition(".")
    if not dot:
        if name.lower() not in ATTRIBUTES:
            raise syntax_error(subject, pos, *_unknown_attribute(name))
        return "attributes", name.lower()
    target = _PREFIXES.get(prefix.lower())
    if target is None:
        valid = ", ".join(f"{p}." for p in _PREFIXES)
        detail = f"unknown prefix '{prefix}.'; use one of {valid}"
        raise syntax_error(subject, pos, detail, FILTER_HINT)
    if target == "attributes":
        if key.lower() not in ATTRIBUTES:
            raise syntax_error(subject, pos, *_unknown_attribute(key))
        key = key.lower()
    return target, key


def _typed(node: qs.QueryNode) -> Node:
    if isinstance(node, qs.And):
        return And(tuple(map(_typed, node.operands)))
    if isinstance(node, qs.Or):
        return Or(tuple(map(_typed, node.operands)))
    if isinstance(node, qs.Not):
        return Not(_typed(node.operand))
    if isinstance(node, TextTerm):
        return node
    target, key = _name_at("filter", node.name, node.name_pos)
    comparison = Comparison(target, key, cast("Operator", node.op), node.value)
    problem = comparison_problem(comparison)
    if problem is not None:
        raise syntax_error("filter", node.value_pos, *problem)
    return comparison


def parse_filter(text: str) -> Node | None:
    """Parse a run filter such as ``metrics.auc > 0.8 and params.model = "gbm"``.

    Returns:
        The syntax tree, or ``None`` for empty text, which matches every run.

    Raises:
        FilterSyntaxError: The text does not parse; the message gives the column.
    """
    node = qs.parse_query(
        text, subject="filter", hint=FILTER_HINT, expected=_EXPECTED, must_compare=_must_compare
    )
    return None if node is None else _typed(node)


def typed_filter(node: qs.QueryNode | None) -> Node | None:
    """Type a condition tree built elsewhere (one a client sent as JSON) as ``parse_filter`` types
    the trees it parses, with the same checks.

    Raises:
        FilterSyntaxError: A name is unknown, an operator is not one of the language's, or a
            comparison's types do not fit.
    """
    if node is None:
        return None
    for condition in qs.conditions_of(node):
        if condition.op not in _OPERATORS:
            raise syntax_error("filter", 0, f"unknown operator {condition.op!r}", FILTER_HINT)
    return _typed(node)


def typed_order_item(name: str, descending: bool) -> tuple[Target, str, bool]:
    """The sort key ``name`` (``metrics.auc``, unquoted) names, checked as ``parse_order_item``
    checks it."""
    target, key = _name_at(f"sort key {name!r}", name, 0)
    return target, key, descending


def parse_order_item(text: str) -> tuple[Target, str, bool]:
    """Parse one sort key such as ``metrics.auc desc`` into ``(target, key, descending)``."""
    subject = f"sort key {text!r}"
    parser = QueryParser(
        text, subject=subject, hint=ORDER_HINT, expected="a name such as metrics.auc"
    )
    name, token = parser.name()
    target, key = _name_at(subject, name, token.pos)
    direction = parser.peek().word
    if direction in ("asc", "desc"):
        parser.take()
    parser.expect_end("asc, desc or the end of the sort key")
    return target, key, direction == "desc"
