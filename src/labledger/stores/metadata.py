"""Metadata as the stores return it: fields and their rules, search hits, collections."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, TypeAlias

__all__ = [
    "AppliesTo",
    "Collection",
    "CollectionMember",
    "FieldType",
    "MemberRef",
    "MetadataField",
    "SearchHit",
    "TargetKind",
    "TargetRef",
]

FieldType = Literal["number", "text", "date", "enum"]
AppliesTo = Literal["run", "artifact", "both"]
TargetKind = Literal["run", "artifact"]
TargetRef: TypeAlias = str | tuple[str, str]
"""A run or artifact id, or ``("run", id)`` / ``("artifact", id)``."""
MemberRef: TypeAlias = str | tuple[str, str]
"""Like ``TargetRef``; a tuple may also name a ``pipeline`` or ``model``."""


@dataclass(frozen=True, slots=True)
class MetadataField:
    """A metadata key and the rules its values follow.

    Attributes:
        name: The key, e.g. ``concentration_um``.
        type: ``number``, ``text``, ``date`` or ``enum``.
        unit: Unit of a number field, shown with values and in errors.
        minimum: Smallest allowed number (inclusive), or ``None``.
        maximum: Largest allowed number (inclusive), or ``None``.
        choices: The allowed values of an enum field.
        required: Whether every run or artifact it applies to should have a value.
        applies_to: ``run``, ``artifact`` or ``both``.
        description: What the field means, for people.
        id: Catalog id.
        created_at: Unix seconds.
    """

    name: str
    type: FieldType
    unit: str | None = None
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] | None = None
    required: bool = False
    applies_to: AppliesTo = "both"
    description: str = ""
    id: str = ""
    created_at: float = 0.0

    def applies(self, kind: str) -> bool:
        """Whether values of this field may be attached to a target of ``kind``."""
        return self.applies_to in ("both", kind)

    def bounds_text(self) -> str:
        """The allowed range in words, e.g. ``0 to 100 uM``."""
        unit = f" {self.unit}" if self.unit else ""
        low = "-inf" if self.minimum is None else f"{self.minimum:g}"
        high = "inf" if self.maximum is None else f"{self.maximum:g}"
        return f"{low} to {high}{unit}"


@dataclass(frozen=True, slots=True)
class SearchHit:
    """One run or artifact that matched.

    Attributes:
        kind: ``run`` or ``artifact``.
        id: Its id.
        title: Its name.
        snippet: Matching text with hits in ``[brackets]``; empty for field-only searches.
        score: Relevance, higher is better; ``0.0`` for field-only searches.
    """

    kind: str
    id: str
    title: str
    snippet: str
    score: float


@dataclass(frozen=True, slots=True)
class CollectionMember:
    """One member of a collection.

    Attributes:
        kind: ``run``, ``artifact``, ``pipeline`` or ``model``.
        id: Its id.
        name: The run's or artifact's name; ``None`` for other kinds.
        added_at: Unix seconds.
    """

    kind: str
    id: str
    name: str | None
    added_at: float


@dataclass(frozen=True, slots=True)
class Collection:
    """A named set of runs, artifacts, pipelines and models.

    Attributes:
        id: Catalog id.
        name: Unique name.
        description: What it gathers and why.
        owner: Who looks after it.
        created_at: Unix seconds.
        members: Its members, in the order they were added.
    """

    id: str
    name: str
    description: str
    owner: str
    created_at: float
    members: list[CollectionMember]
