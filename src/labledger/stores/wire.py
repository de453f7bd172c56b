"""How store arguments that are not plain frozen types travel as JSON between a server and its
clients: search condition trees and member references.

The frozen types themselves (``LineageGraph``, ``MetadataField``, ``Collection``...) travel as
pydantic reads and writes dataclasses, so the server's OpenAPI document describes them as they are.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from labledger._foundation import query_syntax as qs
from labledger._foundation.errors import ValidationError

__all__ = [
    "ATTEMPT_HEADER",
    "AndNode",
    "ConditionNode",
    "MemberRefIn",
    "NotNode",
    "OrNode",
    "QueryNodeIn",
    "TextNode",
    "member_ref",
    "node_from_wire",
    "node_to_wire",
]

ATTEMPT_HEADER = "Labledger-Attempt"
"""The header a client sends with a request it sends again: which try it is (2, 3...)."""

Scalar = int | float | str | bool
_MAX_NODES = 10_000


class ConditionNode(BaseModel):
    """``name op value``: ``value`` is a list for ``in``/``not in``, ``null`` for ``is null``."""

    model_config = ConfigDict(extra="forbid")

    node: Literal["condition"] = "condition"
    name: str
    op: str
    value: Scalar | list[Scalar] | None = None


class TextNode(BaseModel):
    """A word or phrase to find in the searched text."""

    model_config = ConfigDict(extra="forbid")

    node: Literal["text"] = "text"
    text: str


class AndNode(BaseModel):
    """All operands hold."""

    model_config = ConfigDict(extra="forbid")

    node: Literal["and"] = "and"
    operands: list[QueryNodeIn]


class OrNode(BaseModel):
    """At least one operand holds."""

    model_config = ConfigDict(extra="forbid")

    node: Literal["or"] = "or"
    operands: list[QueryNodeIn]


class NotNode(BaseModel):
    """The operand does not hold."""

    model_config = ConfigDict(extra="forbid")

    node: Literal["not"] = "not"
    operand: QueryNodeIn


QueryNodeIn = Annotated[
    ConditionNode | TextNode | AndNode | OrNode | NotNode, Field(discriminator="node")
]
"""A condition tree (``labledger._foundation.query_syntax.QueryNode``) as JSON."""

for _model in (AndNode, OrNode, NotNode):
    _model.model_rebuild()


def node_to_wire(node: qs.QueryNode) -> ConditionNode | TextNode | AndNode | OrNode | NotNode:
    """The JSON model of a condition tree."""
    if isinstance(node, qs.Condition):
        value = list(node.value) if isinstance(node.value, tuple) else node.value
        return ConditionNode(name=node.name, op=node.op, value=value)
    if isinstance(node, qs.TextTerm):
        return TextNode(text=node.text)
    if isinstance(node, qs.And):
        return AndNode(operands=[node_to_wire(o) for o in node.operands])
    if isinstance(node, qs.Or):
        return OrNode(operands=[node_to_wire(o) for o in node.operands])
    return NotNode(operand=node_to_wire(node.operand))


def node_from_wire(
    wire: ConditionNode | TextNode | AndNode | OrNode | NotNode, _count: list[int] | None = None
) -> qs.QueryNode:
    """The condition tree a JSON model describes.

    Raises:
        ValidationError: The tree is too large, or an and/or has no operands.
    """
    count = _count if _count is not None else [0]
    count[0] += 1
    if count[0] > _MAX_NODES:
        raise ValidationError("the condition tree is too large", hint="use fewer conditions")
    if isinstance(wire, ConditionNode):
        value = tuple(wire.value) if isinstance(wire.value, list) else wire.value
        return qs.Condition(wire.name, wire.op, value)
    if isinstance(wire, TextNode):
        return qs.TextTerm(wire.text)
    if isinstance(wire, AndNode | OrNode) and not wire.operands:
        # Nothing the query parser makes; the stores would build a condition of nothing.
        raise ValidationError("an and/or of no conditions", hint="give it at least one")
    if isinstance(wire, AndNode):
        return qs.And(tuple(node_from_wire(o, count) for o in wire.operands))
    if isinstance(wire, OrNode):
        return qs.Or(tuple(node_from_wire(o, count) for o in wire.operands))
    return qs.Not(node_from_wire(wire.operand, count))


class MemberRefIn(BaseModel):
    """A run or artifact reference (``kind`` null: either), or a kind and an id."""

    model_config = ConfigDict(extra="forbid")

    kind: str | None = None
    ref: str

    @classmethod
    def of(cls, member: str | tuple[str, str]) -> MemberRefIn:
        """The JSON model of a ``MemberRef`` (or ``TargetRef``)."""
        if isinstance(member, str):
            return cls(ref=member)
        if (
            isinstance(member, tuple)
            and len(member) == 2
            and all(isinstance(part, str) for part in member)
        ):
            return cls(kind=member[0], ref=member[1])
        raise ValidationError(
            f"collection member {member!r} is not a (kind, id) pair",
            hint="kinds are run, artifact, pipeline, model",
        )


def member_ref(wire: MemberRefIn) -> str | tuple[str, str]:
    """The ``MemberRef`` (or ``TargetRef``) a JSON model describes."""
    return wire.ref if wire.kind is None else (wire.kind, wire.ref)
