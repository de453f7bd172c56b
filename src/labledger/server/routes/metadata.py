"""``/api/v1/metadata``: the ``MetadataStore`` over HTTP (fields, values, search, reindex).

The checks of definitions and values are the service's (``labledger.metadata``), which runs on the
client: these routes take values as the service stored them, as the SQL store does.

Who sees what: values belong to their target (a run or an artifact), and so to its project: a
viewer there reads them, an editor sets and removes them, and a run or artifact of a project the
user is no member of is not found (404), as one that does not exist. A search finds only runs
and artifacts of projects the user reads (filtered in the store's query). Fields are the
workspace's shared vocabulary: any member of some project reads them; defining and changing
them, and rebuilding every search document, is for workspace administrators.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from labledger._foundation.errors import ValidationError
from labledger._foundation.query_syntax import conditions_of
from labledger.metadata.checks import check_prepared_values, check_search_query
from labledger.metadata.field_rules import check_definition
from labledger.server.pagination import Page, PageQuery, page_query, paginate
from labledger.server.permissions import ProjectScope, admin_only, in_projects
from labledger.server.routes.readable import find_in_projects, narrowed, readable_projects
from labledger.stores.identity import Role, User
from labledger.stores.metadata import (
    MetadataField,
    SearchHit,
    SearchQuery,
    StoredValue,
    TargetKind,
)
from labledger.stores.wire import QueryNodeIn, node_from_wire
from labledger.workspace.attribution import acting_for

if TYPE_CHECKING:
    from labledger.stores.metadata import MetadataStore

__all__ = [
    "IndexedOut",
    "SearchIn",
    "SearchOut",
    "TargetOut",
    "ValuesIn",
    "ValuesOut",
    "router",
]

router = APIRouter(prefix="/api/v1/metadata", tags=["metadata"])
Reader = Annotated[ProjectScope, in_projects(Role.VIEWER)]
Writer = Annotated[ProjectScope, in_projects(Role.EDITOR)]
# Fields are the workspace's shared vocabulary: defining or changing one is for its admins.
Admin = Annotated[User, admin_only()]
Pages = Annotated[PageQuery, Depends(page_query)]


def _store(request: Request) -> MetadataStore:
    return request.app.state.workspace.stores.metadata  # type: ignore[no-any-return]


class TargetOut(BaseModel):
    """The run or artifact a reference names."""

    kind: TargetKind
    id: str


class ValuesIn(BaseModel):
    """Checked values to attach (each replaces the field's earlier value)."""

    model_config = ConfigDict(extra="forbid")

    values: list[StoredValue] = Field(max_length=10_000)


class ValuesOut(BaseModel):
    """A target's metadata: field name to value."""

    values: dict[str, Any]


def _every_kind() -> list[TargetKind]:
    return ["run", "artifact"]


class SearchIn(BaseModel):
    """A search whose conditions the client's service already bound to their fields."""

    model_config = ConfigDict(extra="forbid")

    text: str | None = Field(default=None, max_length=10_000)
    where: QueryNodeIn | None = None
    kinds: list[TargetKind] = Field(default_factory=_every_kind, min_length=1)
    limit: int = Field(default=50, ge=1, le=1000, strict=True)
    project_ids: list[Annotated[str, Field(min_length=1, max_length=64)]] | None = Field(
        default=None,
        max_length=10_000,
        description="Only runs and artifacts of these projects (always of those you read).",
    )


class SearchOut(BaseModel):
    """The hits, best first for text and newest first otherwise (at most ``limit``)."""

    items: list[SearchHit]


class IndexedOut(BaseModel):
    """How many search documents were rebuilt."""

    indexed: int


@router.get("/fields", response_model=Page[MetadataField])
def get_fields(
    request: Request,
    scope: Reader,
    page: Pages,
    name: Annotated[list[str] | None, Query(description="Only these fields.")] = None,
) -> Page[MetadataField]:
    """Fields by name: all of them, or those among ``name`` that exist (for members of any
    project)."""
    readable_projects(scope)
    fields = _store(request).get_fields(name)
    ordered = [fields[key] for key in sorted(fields)]
    items, token = paginate(ordered, key=lambda f: f.name, page=page)
    return Page[MetadataField](items=items, next_page_token=token)


@router.post("/fields", response_model=MetadataField, status_code=201)
def define_field(request: Request, user: Admin, body: MetadataField) -> MetadataField:
    """Store a new field; the stored one when one with identical settings exists."""
    field = check_definition(body)
    with acting_for(user.name):
        return _store(request).define_field(field)


@router.put("/fields/{name}", response_model=MetadataField)
def update_field(request: Request, user: Admin, name: str, body: MetadataField) -> MetadataField:
    """Replace a field's settings, unless stored values break them."""
    if body.name != name:
        raise ValidationError(
            f"the body names field {body.name!r}, the path {name!r}",
            hint="send the field under its own name",
        )
    field = check_definition(body)
    with acting_for(user.name):
        return _store(request).update_field(field)


@router.get("/targets", response_model=TargetOut)
def resolve_target(
    request: Request,
    scope: Reader,
    ref: Annotated[str, Query(min_length=1, max_length=1000)],
    kind: Annotated[str | None, Query(max_length=100, description="run or artifact")] = None,
    project_id: Annotated[
        list[str] | None, Query(max_length=10_000, description="Only of these projects.")
    ] = None,
) -> TargetOut:
    """The kind and id of the run or artifact ``ref`` names (of ``kind`` when given), among
    those of projects the user reads."""
    # The store judges the kind, so a wrong one gets its own error and hint.
    target = ref if kind is None else (kind, ref)
    found_kind, found_id = find_in_projects(
        scope,
        lambda ids: _store(request).resolve_target(target, project_ids=narrowed(ids, project_id)),
        what=f"{kind or 'run or artifact'} {ref!r}",
    )
    return TargetOut(kind=found_kind, id=found_id)


def _target(
    request: Request, scope: ProjectScope, kind: TargetKind, target_id: str
) -> tuple[TargetKind, str]:
    """The run or artifact, found among the projects where the user holds the route's role."""
    # It must exist, and be of its kind, as the Python API resolves it first.
    return find_in_projects(
        scope,
        lambda ids: _store(request).resolve_target((kind, target_id), project_ids=ids),
        what=f"{kind} {target_id!r}",
    )


@router.get("/values/{kind}/{target_id}", response_model=ValuesOut)
def get_values(request: Request, scope: Reader, kind: TargetKind, target_id: str) -> ValuesOut:
    """A target's metadata (404 for a run or artifact of a project the user is no member of)."""
    kind, target_id = _target(request, scope, kind, target_id)
    return ValuesOut(values=_store(request).get_values(kind, target_id))


@router.put("/values/{kind}/{target_id}", response_model=ValuesOut)
def set_values(
    request: Request, scope: Writer, kind: TargetKind, target_id: str, body: ValuesIn
) -> ValuesOut:
    """Attach checked values, all or none; the target's metadata after (editors of its
    project)."""
    store = _store(request)
    kind, target_id = _target(request, scope, kind, target_id)
    fields = store.get_fields([value.field for value in body.values])
    values = check_prepared_values(fields, kind, body.values)
    with acting_for(scope.user.name):
        return ValuesOut(values=store.set_values(kind, target_id, values))


@router.delete("/values/{kind}/{target_id}/{field}", status_code=204)
def remove_value(
    request: Request, scope: Writer, kind: TargetKind, target_id: str, field: str
) -> Response:
    """Remove one field's value from a target (editors of its project)."""
    store = _store(request)
    kind, target_id = _target(request, scope, kind, target_id)
    with acting_for(scope.user.name):
        store.remove_value(kind, target_id, field)
    return Response(status_code=204)


@router.post("/search", response_model=SearchOut)
def search(request: Request, scope: Reader, body: SearchIn) -> SearchOut:
    """Runs and artifacts that match, of projects the user reads (a read: the condition tree
    travels in the body)."""
    where = None if body.where is None else node_from_wire(body.where)
    projects = narrowed(readable_projects(scope), body.project_ids)
    query = SearchQuery(
        body.text, where, tuple(dict.fromkeys(body.kinds)), body.limit, project_ids=projects
    )
    store = _store(request)
    names = [] if where is None else sorted({c.name for c in conditions_of(where)})
    check_search_query(query, store.get_fields(names))
    return SearchOut(items=store.search(query))


@router.post("/reindex", response_model=IndexedOut)
def reindex(request: Request, user: Admin) -> IndexedOut:
    """Rebuild every search document (every project's: workspace administrators)."""
    with acting_for(user.name):
        return IndexedOut(indexed=_store(request).reindex())
