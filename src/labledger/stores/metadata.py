"""Metadata as the stores return it: fields and their rules, search hits, collections."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeAlias, get_args

from labledger._foundation.errors import NotFoundError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from labledger._foundation.query_syntax import QueryNode
    from labledger.stores.pages import Page


__all__ = [
    "MEMBER_KINDS",
    "TARGET_KINDS",
    "AppliesTo",
    "Collection",
    "CollectionMember",
    "CollectionStore",
    "FieldType",
    "MemberRef",
    "MetadataField",
    "MetadataStore",
    "SearchHit",
    "SearchQuery",
    "StoredValue",
    "TargetKind",
    "TargetRef",
    "unknown_field",
]

FieldType = Literal["number", "text", "date", "enum"]
AppliesTo = Literal["run", "artifact", "both"]
TargetKind = Literal["run", "artifact"]
TargetRef: TypeAlias = str | tuple[str, str]
"""A run or artifact id, or ``("run", id)`` / ``("artifact", id)``."""
MemberRef: TypeAlias = str | tuple[str, str]
"""Like ``TargetRef``; a tuple may also name a ``pipeline`` or ``model``."""
TARGET_KINDS: tuple[str, ...] = get_args(TargetKind)
MEMBER_KINDS = ("run", "artifact", "pipeline", "model")


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
        name: Its name, unique within its project.
        description: What it gathers and why.
        owner: Who looks after it.
        created_at: Unix seconds.
        members: Its members, in the order they were added (those the reader may see).
        project_id: The project it belongs to; its name is unique there.
    """

    id: str
    name: str
    description: str
    owner: str
    created_at: float
    members: list[CollectionMember]
    project_id: str | None = None


def unknown_field(name: str) -> NotFoundError:
    """The error for a field name that is not defined."""
    return NotFoundError(
        f"no metadata field named {name!r}",
        hint=f"define it first with define_field({name!r}, 'number') or "
        f"`labledger metadata define {name} number`; list fields with `labledger metadata list`",
    )


@dataclass(frozen=True, slots=True)
class StoredValue:
    """A metadata value checked against its field, as the catalog stores it.

    Attributes:
        field: The field's name.
        number: The value as a number (numbers; dates as Unix seconds), else ``None``.
        text: The value as text (text, enum choices; dates as ISO text), else ``None``.
    """

    field: str
    number: float | None
    text: str | None


@dataclass(frozen=True, slots=True)
class SearchQuery:
    """A search, its conditions already bound to their fields by the service.

    Attributes:
        text: Words to find in the search documents; ``None`` or blank for conditions only.
        where: The condition tree: field names as defined, values as stored (numbers for number
            and date fields, text otherwise), operators that suit each field; text terms match
            the document. ``None`` for no conditions.
        kinds: ``run``, ``artifact`` or both.
        limit: At most this many hits.
        project_ids: Only runs and artifacts of these projects (``None``: of every project). The
            store applies it inside its query, so ``limit`` hits are found when there are.
    """

    text: str | None
    where: QueryNode | None
    kinds: tuple[str, ...]
    limit: int
    project_ids: tuple[str, ...] | None = None


class MetadataStore(Protocol):
    """Metadata fields and the values attached to runs and artifacts.

    The service checks definitions and values against their fields first (``field_rules``,
    ``values.checked_value``); each write here is one transaction with its ledger entry.
    """

    def get_fields(self, names: Sequence[str] | None = None) -> dict[str, MetadataField]:
        """Fields by name: all of them, or those among ``names`` that exist."""
        ...

    def define_field(self, field: MetadataField) -> MetadataField:
        """Store a new field (``field.id`` and ``created_at`` are assigned) and return it; the
        stored field when one with identical settings exists.

        Raises:
            ConflictError: A field of this name exists with other settings.
        """
        ...

    def update_field(self, field: MetadataField) -> MetadataField:
        """Replace the settings of the field named ``field.name``, unless values stored break
        them (a bound they lie outside, a choice in use dropped, a kind excluded).

        Raises:
            NotFoundError: No field has this name.
            ValidationError: Stored values do not fit the new settings.
        """
        ...

    def resolve_target(
        self, target: TargetRef, *, project_ids: Sequence[str] | None = None
    ) -> tuple[TargetKind, str]:
        """The kind and id of the run or artifact ``target`` names, looked for among runs and
        artifacts of ``project_ids`` only when given (an id prefix is then unique among those).

        Raises:
            NotFoundError: No run or artifact matches.
            ValidationError: The reference is malformed or ambiguous.
        """
        ...

    def get_values(self, kind: TargetKind, target_id: str) -> dict[str, Any]:
        """A target's metadata, field name to value, by name."""
        ...

    def set_values(
        self, kind: TargetKind, target_id: str, values: Sequence[StoredValue]
    ) -> dict[str, Any]:
        """Attach checked values (replacing earlier values of those fields), all or none, with
        one ledger entry; return the target's metadata after.

        Raises:
            NotFoundError: A field does not exist.
        """
        ...

    def remove_value(self, kind: TargetKind, target_id: str, field: str) -> None:
        """Remove one field's value from a target.

        Raises:
            NotFoundError: The field does not exist, or the target has no value for it.
        """
        ...

    def search(self, query: SearchQuery) -> list[SearchHit]:
        """Runs and artifacts that match, best first for text and newest first otherwise.

        Raises:
            NotFoundError: A condition names a field that is not defined.
        """
        ...

    def reindex(self) -> int:
        """Rebuild every search document; return how many were indexed."""
        ...


class CollectionStore(Protocol):
    """Curated, named sets of runs, artifacts, pipelines and models, each in a project.

    Members are ``MemberRef`` values: run and artifact references are resolved (and must exist);
    pipelines and models are stored as given. Each write is one transaction with its ledger entry.

    A collection is named by its name and ``project_id``; ``None`` there means the project
    ``default``. ``visible`` keeps a caller to the projects they may read (``None``: every
    project): a collection of another project is not found, and only run and artifact members of
    those projects are found, added or shown.
    """

    def create(
        self, name: str, *, description: str, owner: str, project_id: str | None = None
    ) -> Collection:
        """Create an empty collection in project ``project_id``.

        Raises:
            ConflictError: The name is taken in that project.
        """
        ...

    def add_members(
        self,
        name: str,
        members: Sequence[MemberRef],
        *,
        project_id: str | None = None,
        visible: Sequence[str] | None = None,
    ) -> Collection:
        """Add members (those already in it are skipped); return the collection after.

        Raises:
            NotFoundError: The collection, or a run or artifact, does not exist.
        """
        ...

    def remove_members(
        self,
        name: str,
        members: Sequence[MemberRef],
        *,
        project_id: str | None = None,
        visible: Sequence[str] | None = None,
    ) -> Collection:
        """Remove members (those not in it are ignored); return the collection after.

        Raises:
            NotFoundError: The collection, or a run or artifact, does not exist.
        """
        ...

    def get(
        self,
        name: str,
        *,
        project_id: str | None = None,
        visible: Sequence[str] | None = None,
    ) -> Collection:
        """One collection with its members.

        Raises:
            NotFoundError: No collection has this name.
        """
        ...

    def list_page(
        self,
        *,
        page_token: str | None = None,
        max_results: int = 100,
        project_id: str | None = None,
        visible: Sequence[str] | None = None,
    ) -> Page[Collection]:
        """Collections with their members, by name (then project), a page at a time: of
        ``project_id`` only when given, else of every project."""
        ...

    def containing(
        self, kind: str, member_id: str, *, visible: Sequence[str] | None = None
    ) -> list[str]:
        """The names of the collections holding a member (``kind`` as in ``MEMBER_KINDS``), by
        name."""
        ...

    def delete(self, name: str, *, project_id: str | None = None) -> None:
        """Delete a collection (its members themselves stay).

        Raises:
            NotFoundError: No collection has this name.
        """
        ...
