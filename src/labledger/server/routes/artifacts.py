"""``/api/v1/artifacts``: the ``ArtifactStore`` over HTTP (record, look up, list).

Recording checks what the Python API checks (names, kinds, sizes), then two things only a server
must: every blob an artifact is made of is already in the store (uploaded first with
``PUT /api/v1/blobs/{digest}``), so the catalog never points at bytes nobody has; and the artifact
is made by the signed-in user, at the server's time, whatever the client sent. A client that signs
an artifact's ``artifact.produced`` entry has named its time there (``created_at``, which the entry
holds the artifact to) before the server could: that time is kept, if it is within
``MAX_CLOCK_SKEW`` of the server's clock, as a signed entry's own time must be.

Artifacts belong to projects: one made by a run belongs to the run's project, any other to the
project the client names (the default project when it names none); recording needs an editor's
role there. Reads answer only artifacts of projects the user reads: one of another project is not
found, exactly as if it did not exist, and a list keeps to them in the store's query, so pages
stay full and tokens exact.
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from labledger._foundation.digests import parse_digest
from labledger._foundation.errors import NotFoundError, ValidationError
from labledger._foundation.ids import new_id
from labledger.identity.service import no_role_error
from labledger.server.pagination import MAX_RESULTS, Page, PageQuery, page_query
from labledger.server.permissions import ProjectScope, in_projects
from labledger.server.routes.project_reads import readable_projects
from labledger.server.routes.run_access import project_of, require_runs_of
from labledger.stores.artifacts import Artifact, NewArtifact
from labledger.stores.identity import Role
from labledger.stores.signed_wire import SignedBodyIn  # noqa: TC001 - pydantic reads it
from labledger.tracking.checks import MAX_NAME, check_name
from labledger.workspace.attribution import acting_for
from labledger.workspace.client_signatures import signed_by_client
from labledger.workspace.signed_entries import MAX_CLOCK_SKEW

if TYPE_CHECKING:
    from labledger.stores.artifacts import ArtifactStore
    from labledger.workspace.workspace import Workspace

__all__ = ["ArtifactIn", "ArtifactsIn", "ArtifactsOut", "RefsIn", "router"]

router = APIRouter(prefix="/api/v1/artifacts", tags=["artifacts"])
Reader = Annotated[ProjectScope, in_projects(Role.VIEWER)]
Writer = Annotated[ProjectScope, in_projects(Role.EDITOR)]
Pages = Annotated[PageQuery, Depends(page_query)]
_MAX_BATCH = 1000
_MAX_BLOBS = 100_000
_MAX_PROJECTS = 1000
ProjectIds = Annotated[
    list[Annotated[str, Field(min_length=1, max_length=64)]] | None,
    Field(max_length=_MAX_PROJECTS, description="Only artifacts of these project ids."),
]


def _workspace(request: Request) -> Workspace:
    return request.app.state.workspace  # type: ignore[no-any-return]


def _store(request: Request) -> ArtifactStore:
    return _workspace(request).stores.artifacts


class ArtifactIn(BaseModel):
    """An artifact to record. Who made it, when (save the time a signed entry names), and in
    which project are the server's to say."""

    model_config = ConfigDict(extra="forbid")

    id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_-]{1,64}$")
    name: str = Field(min_length=1, max_length=MAX_NAME)
    kind: str = Field(min_length=1, max_length=100)
    format: str = Field(min_length=1, max_length=100)
    digest: str = Field(max_length=200)
    size: int = Field(ge=0, le=2**62, strict=True)
    run_id: str | None = Field(default=None, max_length=64)
    project_id: str | None = Field(
        default=None,
        max_length=64,
        description="The project of an artifact made by no run (the default project when "
        "absent); one made by a run belongs to the run's project.",
    )
    schema_: dict[str, Any] = Field(default_factory=dict, alias="schema")
    stats: dict[str, Any] = Field(default_factory=dict)
    blobs: list[tuple[str, int]] = Field(default_factory=list, max_length=_MAX_BLOBS)


class ArtifactsIn(BaseModel):
    """Artifacts to record in one transaction."""

    model_config = ConfigDict(extra="forbid")

    artifacts: list[ArtifactIn] = Field(min_length=1, max_length=_MAX_BATCH)
    signed: list[SignedBodyIn] = Field(default_factory=list, max_length=_MAX_BATCH)
    """Each artifact's ``artifact.produced`` entry signed by the user's key (else the server
    signs); one missing or unlike the server's refuses the batch."""


class ArtifactsOut(BaseModel):
    """Artifacts, in the order asked for."""

    items: list[Artifact]


class RefsIn(BaseModel):
    """References to resolve: ids, unique id prefixes, names or digests."""

    model_config = ConfigDict(extra="forbid")

    refs: list[Annotated[str, Field(min_length=1, max_length=1000)]] = Field(max_length=_MAX_BATCH)
    projects: ProjectIds = None


def _blobs_of(item: ArtifactIn) -> tuple[tuple[str, int], ...]:
    blobs = [(parse_digest(d), size) for d, size in item.blobs]
    for _, size in blobs:
        if size < 0:
            raise ValidationError(f"a blob of artifact {item.name!r} has a negative size")
    digest = parse_digest(item.digest)
    if item.kind != "reference" and digest not in {d for d, _ in blobs}:
        blobs.append((digest, item.size))
    return tuple(blobs)


def _stored_sizes(request: Request, digests: list[str]) -> dict[str, int | None]:
    """Each blob's size in the store (``None``: not there), asked concurrently."""
    from concurrent.futures import ThreadPoolExecutor

    store = _workspace(request).store

    def size(digest: str) -> int | None:
        try:
            return store.size(digest)
        except (FileNotFoundError, NotFoundError):
            return None

    if len(digests) <= 1:
        return {digest: size(digest) for digest in digests}
    with ThreadPoolExecutor(min(16, len(digests))) as pool:
        return dict(zip(digests, pool.map(size, digests), strict=True))


@router.post("", response_model=ArtifactsOut, status_code=201)
async def add_artifacts(request: Request, scope: Writer, body: ArtifactsIn) -> ArtifactsOut:
    """Record artifacts whose blobs are all in the store, made by the signed-in user, each in
    its run's project (or the project named, for one made by no run)."""
    workspace = _workspace(request)
    made_at = time.time()
    signed_times = _signed_times(body.signed, made_at)
    batch: list[NewArtifact] = []
    for item in body.artifacts:
        check_name(item.name, "artifact")
        blobs = _blobs_of(item)
        artifact_id = item.id or new_id()
        artifact = Artifact(
            id=artifact_id,
            name=item.name,
            kind=item.kind,
            format=item.format,
            digest=parse_digest(item.digest),
            size=item.size,
            run_id=item.run_id,
            created_at=signed_times.get(f"artifact:{artifact_id}", made_at),
            created_by=scope.user.name,
            schema=item.schema_,
            stats=item.stats,
        )
        batch.append(NewArtifact(artifact, item.project_id or "", blobs))
    digests = list(dict.fromkeys(d for new in batch for d, _ in new.blobs))
    sizes = await run_in_threadpool(_stored_sizes, request, digests)
    missing = [digest for digest in digests if sizes[digest] is None]
    if missing:
        shown = ", ".join(missing[:5]) + (
            f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        )
        raise ValidationError(
            f"{len(missing)} blob(s) these artifacts are made of are not in the store: {shown}",
            hint="upload them first (PUT /api/v1/blobs/{digest}); nothing was recorded",
        )
    for new in batch:
        claimed = [(d, n) for d, n in new.blobs if sizes[d] != n]
        if claimed:
            digest, size = claimed[0]
            raise ValidationError(
                f"artifact {new.artifact.name!r} says blob {digest} is {size} bytes; the store "
                f"holds {sizes[digest]}",
                hint="send the sizes of the blobs as stored; nothing was recorded",
            )

    def record() -> list[Artifact]:
        # By exact id, in the run's own project, and only into a running run: a sealed
        # record stays as sealed, and a run the user may not see is as missing as no run.
        runs = sorted({new.artifact.run_id for new in batch if new.artifact.run_id is not None})
        require_runs_of(request, scope.user, Role.EDITOR, runs)
        ready = [
            NewArtifact(new.artifact, _project(request, scope, workspace, new), new.blobs)
            for new in batch
        ]
        signed = [item.signed() for item in body.signed]
        expected = {("artifact.produced", f"artifact:{new.artifact.id}") for new in ready}
        with acting_for(scope.user.name), signed_by_client(signed, expected=expected):
            return _store(request).add_artifacts(ready)

    return ArtifactsOut(items=await run_in_threadpool(record))


def _signed_times(signed: list[SignedBodyIn], now: float) -> dict[str, float]:
    """The time each signed ``artifact.produced`` entry names for its artifact, by subject.

    Raises:
        ValidationError: A time is not a number, or is further than ``MAX_CLOCK_SKEW`` from
            ``now``.
    """
    times: dict[str, float] = {}
    for body in signed:
        if body.kind != "artifact.produced" or "created_at" not in body.payload:
            continue  # an entry the write does not make, or unlike the server's: refused later
        said = body.payload["created_at"]
        if not isinstance(said, float | int) or isinstance(said, bool) or not math.isfinite(said):
            raise ValidationError(
                f"the signed artifact.produced entry for {body.subject} gives created_at "
                f"{said!r}, which is not a time",
                hint="sign the entry labledger's client makes (a Unix time in seconds); "
                "nothing was recorded",
            )
        if abs(said - now) > MAX_CLOCK_SKEW:
            raise ValidationError(
                f"the signed artifact.produced entry for {body.subject} says it was made "
                f"{said - now:+.0f} s from the server's clock, more than {MAX_CLOCK_SKEW:.0f} s",
                hint="set your computer's clock right and log the artifact again; nothing was "
                "recorded",
            )
        times[body.subject] = float(said)
    return times


def _project(request: Request, scope: ProjectScope, workspace: Workspace, new: NewArtifact) -> str:
    """The project an artifact is recorded in: its run's (checked already), else the one the
    client names or the default project, where the user must be an editor."""
    if new.artifact.run_id is not None:
        _, project = project_of(request, new.artifact.run_id)
        if project is not None:
            return project
    project = new.project_id or workspace.find_project_id()
    if project is None or scope.role(project) is None:
        raise NotFoundError(
            f"no project with id {new.project_id!r}", hint="see `labledger projects list`"
        )
    scope.require(project, what=f"project {project!r}")
    return project


@router.post("/get", response_model=ArtifactsOut)
def get_artifacts(request: Request, scope: Reader, body: RefsIn) -> ArtifactsOut:
    """The artifacts the references name, in order, among those of projects the user reads (a
    read: the references travel in the body)."""
    projects = readable_projects(scope, body.projects)
    return ArtifactsOut(items=_store(request).get_artifacts(body.refs, projects=projects))


@router.get("", response_model=Page[Artifact])
def list_artifacts(
    request: Request,
    scope: Reader,
    page: Pages,
    run_id: Annotated[str | None, Query(max_length=64)] = None,
    kind: Annotated[str | None, Query(max_length=100)] = None,
    project: Annotated[
        list[Annotated[str, Field(max_length=64)]] | None,
        Query(max_length=_MAX_PROJECTS, description="Only artifacts of these project ids."),
    ] = None,
) -> Page[Artifact]:
    """One page of artifacts of projects the user reads, newest first, of one run or kind when
    given."""
    projects = readable_projects(scope, project)
    if projects is not None and not projects and project is None:
        # Every workspace has the default project, so naming it reveals nothing.
        raise no_role_error(scope.user.name, "default")
    found = _store(request).list_artifacts(
        run_id=run_id,
        kind=kind,
        page_token=page.page_token,
        max_results=min(page.max_results, MAX_RESULTS),
        projects=projects,
    )
    return Page[Artifact](items=found.items, next_page_token=found.next_token)
