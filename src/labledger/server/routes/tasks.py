"""``/api/v1/tasks``: the ``TaskStore`` over HTTP (pipeline runs, the cache, task batches).

Batch-first, as the store is: a ready frontier's cache keys are looked up in one request, and a
recorder's flush (tasks, edges, artifacts, blobs) is written in one. Before a batch is written the
server checks that every blob it references is in the store, and it sets the artifacts' project
and author itself: they are never taken from the client. A batch sent again (a retried flush)
changes nothing and answers as the first time did, so clients retry it.

Tasks belong to runs, and runs to projects: writing needs an editor's role in the project of
every run a request records into, reading a viewer's role in the project of the run read. A run
of a project the user does not read is answered exactly as a run that does not exist (no record,
no tasks, no seal); tasks by id, cache hits and earlier tasks are only those of runs of projects
the user reads, so nobody reuses (and so reads) the outputs of a project they cannot see. An
editor's pipeline may reuse a hit from any project they read: they can read those outputs anyway.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Depends, Path, Request, Response

from labledger._foundation.digests import parse_digest
from labledger._foundation.errors import NotFoundError, RunStateError, ValidationError
from labledger.server.pagination import Page, PageQuery, page_query, paginate
from labledger.server.permissions import ProjectScope, in_projects
from labledger.server.reproduction_checks import checked_verifications
from labledger.server.routes.project_reads import readable_projects, readable_runs
from labledger.server.routes.run_access import project_of, require_runs_of, run_store
from labledger.server.task_bodies import (
    ArtifactMatchesOut,
    BlobIn,
    CacheIndexIn,
    CacheIndexOut,
    EarlierTasksIn,
    EarlierTasksOut,
    FindArtifactsIn,
    FindCachedIn,
    FindCachedOut,
    InputsOut,
    PipelineRunIn,
    PipelineRunOut,
    RemapOut,
    TaskBatchIn,
    TaskIdsIn,
    TasksByIdOut,
    VerificationsIn,
)
from labledger.stores.identity import Role
from labledger.stores.tasks import (
    InputArtifact,
    OutputCheck,
    RunSeal,
    TaskBatch,
    TaskOutputRef,
    TaskRow,
)
from labledger.workspace.attribution import acting_for

if TYPE_CHECKING:
    from collections.abc import Iterable

    from labledger.stores.tasks import TaskStore
    from labledger.workspace.blobstore import BlobStore
    from labledger.workspace.workspace import Workspace

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/tasks", tags=["tasks"])
Reader = Annotated[ProjectScope, in_projects(Role.VIEWER)]
Writer = Annotated[ProjectScope, in_projects(Role.EDITOR)]
Pages = Annotated[PageQuery, Depends(page_query)]
RunId = Annotated[str, Path(min_length=1, max_length=64)]
_SHOWN = 5  # missing blobs named in an error


def _workspace(request: Request) -> Workspace:
    return request.app.state.workspace  # type: ignore[no-any-return]


def _store(request: Request) -> TaskStore:
    return _workspace(request).stores.tasks


def _require_blobs(store: BlobStore, digests: Iterable[str], what: str) -> None:
    """Refuse a record whose blobs are not all in the store: its rows would point at nothing."""
    from labledger.workspace.blobstore import exists_many

    checked = [parse_digest(digest) for digest in dict.fromkeys(digests)]
    if not checked:
        return
    missing = [digest for digest, found in exists_many(store, checked).items() if not found]
    if missing:
        shown = ", ".join(missing[:_SHOWN]) + (" ..." if len(missing) > _SHOWN else "")
        raise ValidationError(
            f"{len(missing)} blob(s) {what} references are not in the store: {shown}",
            hint="upload the blobs first (the client does, before it records); nothing was written",
        )


def _require_pipeline_runs(store: TaskStore, run_ids: Iterable[str]) -> None:
    for run_id in sorted(set(run_ids)):
        if store.pipeline_run(run_id) is None:
            raise NotFoundError(
                f"run {run_id} is not a pipeline run",
                hint="create the pipeline run first (POST /api/v1/tasks/pipeline-runs)",
            )


def _require_open_or_sent_again(
    request: Request, store: TaskStore, body: TaskBatchIn, run_ids: Iterable[str]
) -> None:
    """Refuse a batch into a run that has ended, unless it is a flush sent again whose tasks
    are all recorded already (it changes nothing, and answers as the first time did)."""
    wanted = sorted(set(run_ids))
    live = {row.run_id for row in run_store(request).running(wanted)} if wanted else set()
    ended = [run_id for run_id in wanted if run_id not in live]
    if not ended:
        return
    task_ids = [row.id for row in body.tasks]
    recorded = store.get_tasks(task_ids) if task_ids else {}
    if not task_ids or len(recorded) != len(set(task_ids)):
        raise RunStateError(
            f"run {ended[0]} has ended; nothing more can be recorded into it",
            hint="start a new run; a sealed record stays as sealed",
        )


# -- pipeline runs ---------------------------------------------------------------------------


@router.post("/pipeline-runs", status_code=201, response_class=Response)
def create_pipeline_run(request: Request, scope: Writer, body: PipelineRunIn) -> Response:
    """Record what a pipeline run adds to its tracked run, and register its code blobs (which
    must be in the store). 409 when the run has a pipeline record already."""
    ws = _workspace(request)
    require_runs_of(request, scope.user, Role.EDITOR, [body.run_id])
    if body.reproduces is not None and not _readable(request, scope, body.reproduces):
        # A run the user may not read is answered as the store answers a run that does not
        # exist (the record's foreign key).
        raise NotFoundError(
            f"the pipeline record of run {body.run_id} names a run or artifact that does not exist",
            hint="check the ids; nothing was written",
        )
    blobs = [(blob.digest, blob.size) for blob in body.blobs]
    _require_blobs(ws.store, [digest for digest, _ in blobs], "the pipeline run")
    with acting_for(scope.user.name):
        ws.stores.tasks.create_pipeline_run(body.record(), blobs=blobs)
    return Response(status_code=201)


def _readable(request: Request, scope: ProjectScope, run_id: str) -> bool:
    """Whether run ``run_id`` exists in a project the user reads; a route answers one that is
    not exactly as the store answers a run that does not exist."""
    return bool(readable_runs(request, scope, [run_id]))


@router.get("/pipeline-runs/{run_id}", response_model=PipelineRunOut)
def pipeline_run(request: Request, scope: Reader, run_id: RunId) -> PipelineRunOut:
    """The pipeline record of a run (``null`` when it is not a pipeline run, or no run the
    user may read)."""
    if not _readable(request, scope, run_id):
        return PipelineRunOut(record=None)
    return PipelineRunOut(record=_store(request).pipeline_run(run_id))


@router.put("/pipeline-runs/{run_id}/key-facts", status_code=204, response_class=Response)
def set_key_facts(request: Request, scope: Writer, run_id: RunId, body: BlobIn) -> Response:
    """Point a pipeline run at the blob (already in the store) of what its cache keys were made
    of, while the run is running. Setting it again to the same blob changes nothing, also once
    the run has ended (a retry whose answer was lost); another blob then is refused (409): a
    sealed record stays as sealed."""
    digest, size = body.digest, body.size
    ws = _workspace(request)
    require_runs_of(request, scope.user, Role.EDITOR, [run_id], running=False)
    if not run_store(request).running([run_id]):
        record = ws.stores.tasks.pipeline_run(run_id)
        if record is not None and record.facts_digest == digest:
            return Response(status_code=204)
        if record is not None:
            raise RunStateError(
                f"run {run_id} has ended; its key facts cannot change",
                hint="key facts are recorded while the run runs; start a new run",
            )
    _require_blobs(ws.store, [digest], "the key facts")
    with acting_for(scope.user.name):
        ws.stores.tasks.set_key_facts(run_id, digest, size)
    return Response(status_code=204)


# -- the cache -------------------------------------------------------------------------------


@router.post("/cache/find", response_model=FindCachedOut)
def find_cached(request: Request, scope: Reader, body: FindCachedIn) -> FindCachedOut:
    """The finished tasks recorded under each cache key, newest first, in one request (a read:
    the keys travel in the body). Only tasks of sealed runs, or of ``run_id``, and only of runs
    of projects the user reads."""
    found = _store(request).find_cached(body.keys, run_id=body.run_id)
    if scope.user.is_admin or not found:
        return FindCachedOut(found=found)
    runs = readable_runs(request, scope, {hit.run_id for hits in found.values() for hit in hits})
    kept = {key: [hit for hit in hits if hit.run_id in runs] for key, hits in found.items()}
    return FindCachedOut(found={key: hits for key, hits in kept.items() if hits})


@router.post("/cache/index", response_model=CacheIndexOut)
def cache_index(request: Request, scope: Reader, body: CacheIndexIn) -> CacheIndexOut:
    """Every cache entry recorded for steps with these fingerprints, by cache key, in one
    request (a read), under the rules of ``cache/find`` (only runs of projects the user reads,
    kept to in the store's query, so the bound counts only those); a fingerprint with more than
    ``limit`` entries comes back in ``truncated``, its keys to be looked up with ``cache/find``."""
    projects = readable_projects(scope)
    index = _store(request).cache_index(
        body.fingerprints,
        run_id=body.run_id,
        limit=body.limit,
        projects=None if projects is None else list(projects),
    )
    return CacheIndexOut(found=index.found, truncated=list(index.truncated))


# -- recording -------------------------------------------------------------------------------


@router.post("/batches", response_model=RemapOut)
def record_tasks(request: Request, scope: Writer, body: TaskBatchIn) -> RemapOut:
    """Write a recorder's flush in one transaction; the artifacts linked instead of recorded.

    The batch's blobs must be in the store already (400 otherwise). Artifacts are recorded in
    their run's project as made by the signed-in user, whatever the rows say. Sending the
    same batch again changes nothing and answers the same remap.
    """
    scope.require_anywhere()  # an empty batch from a viewer is refused too
    ws = _workspace(request)
    store = ws.stores.tasks
    for artifact in body.artifacts:
        if artifact.digest not in body.blobs:
            raise ValidationError(
                f"artifact {artifact.id}'s blob {artifact.digest} is not among the batch's blobs",
                hint="list every blob the batch's artifacts reference in `blobs`",
            )
    _require_blobs(ws.store, body.blobs, "the task batch")
    ours = {row.id for row in body.tasks}
    for task_id in [row.task_id for row in body.inputs] + [row.task_id for row in body.outputs]:
        if task_id not in ours:
            raise ValidationError(
                f"an edge names task {task_id}, which is not in the batch",
                hint="send each task's inputs and outputs with the task",
            )
    into = [row.run_id for row in body.tasks] + [
        row.run_id for row in body.artifacts if row.run_id is not None
    ]
    require_runs_of(request, scope.user, Role.EDITOR, into, running=False)
    _require_pipeline_runs(store, into)
    _require_open_or_sent_again(request, store, body, into)
    projects = {run_id: project_of(request, run_id)[1] or "" for run_id in set(into)}
    task_projects = {projects[row.run_id] for row in body.tasks}
    user = scope.user.name
    artifacts = []
    for row in body.artifacts:
        # An artifact belongs to its run's project; one of no run, to its tasks' project.
        if row.run_id is not None:
            project = projects[row.run_id]
        elif len(task_projects) == 1:
            project = next(iter(task_projects))
        else:
            raise ValidationError(
                f"artifact {row.id} names no run, and the batch's tasks are of "
                f"{len(task_projects)} projects",
                hint="give each artifact of a batch the run that made or read it",
            )
        artifacts.append(row._replace(project_id=project, created_by=user))
    batch = TaskBatch(
        tasks=body.tasks,
        inputs=body.inputs,
        outputs=body.outputs,
        artifacts=artifacts,
        blobs=body.blobs,
    )
    # An edge to an artifact of a project the user does not read is refused as one to an
    # artifact that does not exist (checked by the store, in the batch's transaction).
    readable = readable_projects(scope)
    with acting_for(user):
        return RemapOut(
            remap=store.record_tasks(batch, projects=None if readable is None else list(readable))
        )


@router.post("/runs/{run_id}/verifications", status_code=204, response_class=Response)
def record_verifications(
    request: Request, scope: Writer, run_id: RunId, body: VerificationsIn
) -> Response:
    """Record a reproduction of the run by ``rerun_id`` and append ``run.reproduced`` to the
    ledger (as the signed-in user), once each check agrees with the outputs both runs recorded
    (400 otherwise: see ``reproduction_checks``)."""
    require_runs_of(request, scope.user, Role.EDITOR, [run_id, body.rerun_id], running=False)
    claims = [
        OutputCheck(
            node=check.node,
            output=check.output,
            artifact_id=check.artifact_id,
            expected=check.expected,
            actual=check.actual,
            deterministic=check.deterministic,
        )
        for check in body.checks
    ]
    ws = _workspace(request)
    checks = checked_verifications(ws.stores, run_id, body.rerun_id, scope.user.name, claims)
    with acting_for(scope.user.name):
        ws.stores.tasks.record_verifications(run_id, body.rerun_id, checks)
    return Response(status_code=204)


# -- reads -----------------------------------------------------------------------------------


@router.get("/runs/{run_id}/tasks", response_model=Page[TaskRow])
def run_tasks(request: Request, scope: Reader, run_id: RunId, page: Pages) -> Page[TaskRow]:
    """The tasks of a run by id, a page at a time; each task a ``TaskRow`` array."""
    rows = _store(request).run_tasks(run_id) if _readable(request, scope, run_id) else []
    items, token = paginate(rows, key=lambda row: row.id, page=page)
    return Page[TaskRow](items=items, next_page_token=token)


def _by_position(count: int) -> list[str]:
    """Page keys for a list in an order of its own: each item's position, sortable as text."""
    return [f"{index:012d}" for index in range(count)]


@router.get("/runs/{run_id}/outputs", response_model=Page[TaskOutputRef])
def run_outputs(request: Request, scope: Reader, run_id: RunId, page: Pages) -> Page[TaskOutputRef]:
    """Every output of a run's tasks, reused ones included, in the order the tasks ran."""
    refs = _store(request).run_outputs(run_id) if _readable(request, scope, run_id) else []
    keyed = list(zip(_by_position(len(refs)), refs, strict=True))
    items, token = paginate(keyed, key=lambda pair: pair[0], page=page)
    return Page[TaskOutputRef](items=[ref for _, ref in items], next_page_token=token)


@router.get("/runs/{run_id}/file-inputs", response_model=Page[InputArtifact])
def run_file_inputs(
    request: Request, scope: Reader, run_id: RunId, page: Pages
) -> Page[InputArtifact]:
    """The files, folders and references a run's tasks read that no task produced."""
    found: list[InputArtifact] = []
    if _readable(request, scope, run_id):
        projects = readable_projects(scope)
        found = _store(request).run_file_inputs(
            run_id, projects=None if projects is None else list(projects)
        )
    keyed = list(zip(_by_position(len(found)), found, strict=True))
    items, token = paginate(keyed, key=lambda pair: pair[0], page=page)
    return Page[InputArtifact](items=[item for _, item in items], next_page_token=token)


@router.get("/runs/{run_id}/seal", response_model=RunSeal)
def run_seal(request: Request, scope: Reader, run_id: RunId) -> RunSeal:
    """The run's seal entries in the ledger and its record as the catalog holds it now."""
    if not _readable(request, scope, run_id):
        return RunSeal((), None)
    return _store(request).run_seal(run_id)


def _readable_tasks(
    request: Request, scope: ProjectScope, task_ids: Iterable[str]
) -> dict[str, TaskRow]:
    """The tasks of ``task_ids`` whose runs are of projects the user reads."""
    found = _store(request).get_tasks(list(task_ids))
    if scope.user.is_admin:
        return found
    runs = readable_runs(request, scope, {row.run_id for row in found.values()})
    return {task_id: row for task_id, row in found.items() if row.run_id in runs}


@router.post("/by-id", response_model=TasksByIdOut)
def get_tasks(request: Request, scope: Reader, body: TaskIdsIn) -> TasksByIdOut:
    """Tasks by id (a read: the ids travel in the body); unknown ids, and tasks of runs of
    projects the user does not read, are absent."""
    return TasksByIdOut(tasks=_readable_tasks(request, scope, body.task_ids))


@router.post("/inputs", response_model=InputsOut)
def task_inputs(request: Request, scope: Reader, body: TaskIdsIn) -> InputsOut:
    """Every input of the given tasks, of those of runs of projects the user reads, that is an
    artifact of a project the user reads (a read)."""
    readable = list(_readable_tasks(request, scope, body.task_ids))
    if not readable:
        return InputsOut(items=[])
    projects = readable_projects(scope)
    found = _store(request).task_inputs(
        readable, projects=None if projects is None else list(projects)
    )
    return InputsOut(items=found)


@router.post("/earlier", response_model=EarlierTasksOut)
def earlier_tasks(request: Request, scope: Reader, body: EarlierTasksIn) -> EarlierTasksOut:
    """Up to ``limit`` finished or cached tasks named ``nodes`` of earlier runs of
    ``pipeline`` (reproductions excluded) of projects the user reads, newest first (a read)."""
    projects = readable_projects(scope, body.projects)
    found = _store(request).earlier_tasks(body.pipeline, body.nodes, body.limit, projects=projects)
    return EarlierTasksOut(items=found)


@router.post("/artifacts/find", response_model=ArtifactMatchesOut)
def find_artifacts(request: Request, scope: Reader, body: FindArtifactsIn) -> ArtifactMatchesOut:
    """Artifacts of projects the user reads whose name is among ``names`` and digest among
    ``digests``, oldest first (a read)."""
    projects = readable_projects(scope, body.projects)
    found = _store(request).find_artifacts(body.names, body.digests, projects=projects)
    return ArtifactMatchesOut(items=found)
