"""The typed filter of a run search, as the services hand it to a ``RunStore``.

``labledger.tracking.filter_parser`` parses the filter language into these nodes and checks that
each comparison's types fit; a store compiles them into its own query language.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, TypeAlias

from labledger._foundation.query_syntax import TextTerm

__all__ = [
    "ATTRIBUTES",
    "NUMERIC_ATTRIBUTES",
    "And",
    "Comparison",
    "Node",
    "Not",
    "Operator",
    "Or",
    "OrderKey",
    "Target",
    "Text",
    "Value",
]

Target = Literal["metrics", "params", "tags", "meta", "attributes"]
Operator = Literal[
    "=", "!=", "<", "<=", ">", ">=", "in", "not in", "like", "not like", "ilike", "not ilike",
    "is null", "is not null",
]  # fmt: skip
Value: TypeAlias = int | float | str | bool

ATTRIBUTES = frozenset(
    {"id", "name", "status", "user", "host", "kind", "started_at", "ended_at", "git_commit",
     "project_id"}
)  # fmt: skip
NUMERIC_ATTRIBUTES = frozenset({"started_at", "ended_at"})


@dataclass(frozen=True, slots=True)
class Comparison:
    """One condition on a run: ``target.key op value``.

    ``value`` is a tuple for ``in``/``not in`` and ``None`` for ``is null``/``is not null``.
    """

    target: Target
    key: str
    op: Operator
    value: Value | tuple[Value, ...] | None


@dataclass(frozen=True, slots=True)
class And:
    """All operands hold."""

    operands: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Or:
    """At least one operand holds."""

    operands: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Not:
    """The operand does not hold."""

    operand: Node


Text = TextTerm
"""A word or quoted phrase that the run's search document must contain."""

Node: TypeAlias = Comparison | TextTerm | And | Or | Not


@dataclass(frozen=True, slots=True)
class OrderKey:
    """One sort key of a run search: ``metrics.auc desc`` is ``OrderKey("metrics", "auc", True)``.

    Runs without the key sort last in either direction.
    """

    target: Target
    key: str
    descending: bool = False
