"""``/api/v1/lineage``: the ``LineageStore`` over HTTP (walks, reproducibility facts, provenance)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from labledger.server.permissions import ProjectContext, in_workspace
from labledger.stores.identity import Role
from labledger.stores.lineage import Direction, LineageGraph, ReproFacts, RunProvenance

if TYPE_CHECKING:
    from labledger.stores.lineage import LineageStore

__all__ = ["ArtifactIdOut", "ReproFactsIn", "router"]

router = APIRouter(prefix="/api/v1/lineage", tags=["lineage"])
Reader = Annotated[ProjectContext, in_workspace(Role.VIEWER)]
Ref = Annotated[str, Query(min_length=1, max_length=1000, description="What users type.")]


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


@router.get("/walk", response_model=LineageGraph)
def walk(
    request: Request,
    _: Reader,
    ref: Ref,
    direction: Direction,
    depth: Annotated[int | None, Query(ge=0, le=1_000_000)] = None,
) -> LineageGraph:
    """Ancestors (``up``) or descendants (``down``) of an artifact, or a run's graph (``run``)."""
    return _store(request).walk(ref, direction, depth)


@router.get("/artifact-id", response_model=ArtifactIdOut)
def artifact_id(request: Request, _: Reader, ref: Ref) -> ArtifactIdOut:
    """The id of the artifact ``ref`` names (an id, unique prefix, name or digest)."""
    return ArtifactIdOut(id=_store(request).artifact_id(ref))


@router.post("/repro-facts", response_model=ReproFacts)
def repro_facts(request: Request, _: Reader, body: ReproFactsIn) -> ReproFacts:
    """The facts behind these nodes' reproducibility statuses (a read: the ids travel in the body)."""
    return _store(request).repro_facts(body.artifact_ids, body.task_ids)


@router.get("/provenance", response_model=RunProvenance)
def provenance(request: Request, _: Reader, ref: Ref) -> RunProvenance:
    """What a run's provenance document is built from."""
    return _store(request).provenance(ref)
