"""``/api/v1/lineage``: the ``LineageStore`` over HTTP (walks, reproducibility facts, provenance).

Kept to the projects the user reads: a start (an artifact, a run) of another project is not
found, exactly as if it did not exist, and nodes of other projects are left out of a walk's
graph, of reproducibility facts and of a run's provenance (a walk still goes through them, so a
node beyond one may appear with no edge to it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from labledger.server.permissions import ProjectScope, in_projects
from labledger.server.routes.project_reads import readable_projects
from labledger.stores.identity import Role
from labledger.stores.lineage import Direction, LineageGraph, ReproFacts, RunProvenance

if TYPE_CHECKING:
    from labledger.stores.lineage import LineageStore

__all__ = ["ArtifactIdOut", "ReproFactsIn", "router"]

router = APIRouter(prefix="/api/v1/lineage", tags=["lineage"])
Reader = Annotated[ProjectScope, in_projects(Role.VIEWER)]
Ref = Annotated[str, Query(min_length=1, max_length=1000, description="What users type.")]
_MAX_PROJECTS = 1000
Projects = Annotated[
    list[Annotated[str, Field(max_length=64)]] | None,
    Query(max_length=_MAX_PROJECTS, description="Only these project ids (of those read)."),
]


def _store(request: Request) -> LineageStore:
    return request.app.state.workspace.stores.lineage  # type: ignore[no-any-return]


class ArtifactIdOut(BaseModel):
    """The id of the artifact a reference names."""

    id: str


class ReproFactsIn(BaseModel):
    """The nodes whose reproducibility facts to read."""

    model_config = ConfigDict(extra="forbid")

    artifact_ids: list[str] = Field(default_factory=list, max_length=100_000)
    task_ids: list[str] = Field(default_factory=list, max_length=100_000)
    projects: list[Annotated[str, Field(max_length=64)]] | None = Field(
        default=None, max_length=_MAX_PROJECTS, description="Only these project ids."
    )


@router.get("/walk", response_model=LineageGraph)
def walk(
    request: Request,
    scope: Reader,
    ref: Ref,
    direction: Direction,
    depth: Annotated[int | None, Query(ge=0, le=1_000_000)] = None,
    project: Projects = None,
) -> LineageGraph:
    """Ancestors (``up``) or descendants (``down``) of an artifact, or a run's graph (``run``),
    with the nodes of projects the user reads."""
    projects = readable_projects(scope, project)
    return _store(request).walk(ref, direction, depth, projects=projects)


@router.get("/artifact-id", response_model=ArtifactIdOut)
def artifact_id(
    request: Request, scope: Reader, ref: Ref, project: Projects = None
) -> ArtifactIdOut:
    """The id of the artifact ``ref`` names (an id, unique prefix, name or digest), among those
    of projects the user reads."""
    projects = readable_projects(scope, project)
    return ArtifactIdOut(id=_store(request).artifact_id(ref, projects=projects))


@router.post("/repro-facts", response_model=ReproFacts)
def repro_facts(request: Request, scope: Reader, body: ReproFactsIn) -> ReproFacts:
    """The facts behind these nodes' reproducibility statuses, of nodes of projects the user
    reads (a read: the ids travel in the body)."""
    projects = readable_projects(scope, body.projects)
    return _store(request).repro_facts(body.artifact_ids, body.task_ids, projects=projects)


@router.get("/provenance", response_model=RunProvenance)
def provenance(
    request: Request, scope: Reader, ref: Ref, project: Projects = None
) -> RunProvenance:
    """What a run's provenance document is built from: a run of a project the user reads, and
    the artifacts of such projects it read, made or logged."""
    projects = readable_projects(scope, project)
    return _store(request).provenance(ref, projects=projects)
