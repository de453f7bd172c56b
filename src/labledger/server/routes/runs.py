"""``/api/v1/runs``: the ``RunStore``'s writes over HTTP (create, log, finish, heartbeat, seal dead
runs); the reads are in ``run_reads``.

Each route needs one role in the project of the run it touches: an editor of a project writes to
any run of it (as in MLflow), and the ledger names whoever signed in as the author of each write
(``acting_for``), never a name the client sends. A run is created for the signed-in user; its
``host`` and ``pid`` describe the client's process. A finish carries no seal: the store digests
the rows it holds, so a client cannot seal a record other than the one stored. A client that
holds a signing key signs the entries written for it: ``run.started`` with the create, and the
seal (with any ``artifacts.produced``) with the finish, after asking ``seal-entries`` for them.
"""

from __future__ import annotations

import math
import operator
import time
from dataclasses import asdict
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError as PydanticValidationError
from starlette.concurrency import run_in_threadpool

from labledger._foundation.errors import (
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    RunStateError,
    ValidationError,
)
from labledger.server.permissions import ProjectScope, in_projects
from labledger.server.routes.run_access import project_of, remember, require_run, run_store
from labledger.stores.identity import Role
from labledger.stores.run_wire import (
    CrashIn,
    CreateRunIn,
    FinishRunIn,
    HeartbeatIn,
    IdsOut,
    LogBatchIn,
    SealOut,
    metric_number,
)
from labledger.stores.runs import FinishRun, NewRun
from labledger.stores.signed_wire import PreparedEntryOut, PreparedOut
from labledger.stores.wire import ATTEMPT_HEADER
from labledger.workspace.attribution import acting_for
from labledger.workspace.client_signatures import (
    EntriesPrepared,
    preparing_entries,
    signed_by_client,
)
from labledger.workspace.recovery import CRASHED_REASON, lease_lost

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from labledger.stores.runs import MetricRow, RunStore

__all__ = ["CLOCK_SKEW", "router"]

router = APIRouter(prefix="/api/v1/runs", tags=["runs"])
Writer = Annotated[ProjectScope, in_projects(Role.EDITOR)]
CLOCK_SKEW = 300.0
_VALUE = operator.itemgetter(1)  # a MetricRow's value
_KEY = operator.itemgetter(0)
"""How far (seconds) a client's clock may be from the server's: an ``ended_at`` later than that
is refused, a heartbeat's or a crash's ``at`` is brought within it."""


def _check_texts(keys: Iterable[str], values: Iterable[str] = ()) -> None:
    """Refuse text no catalog can store (a NUL character, a lone surrogate), as the Python API
    refuses it before it sends anything."""
    for text in (*set(keys), *values):
        if "\x00" in text or (not text.isascii() and _unencodable(text)):
            raise ValidationError(
                f"{text[:80]!r} holds a NUL character or a lone surrogate",
                hint="escape it, as labledger's Python API does",
            )


def _unencodable(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _numbers(rows: list[Any]) -> list[MetricRow]:
    """``rows`` as the store takes them: a value sent as text (``"Infinity"``, ``"-Infinity"``,
    ``"NaN"``) as its float, NaN as ``None``."""
    try:
        # The common case, plain numbers, at C speed: a sum is NaN only when a value is NaN (or
        # infinities of both signs meet, which the row-by-row look below sorts out).
        total = sum(map(_VALUE, rows))
    except TypeError:  # a None or text value
        total = math.nan
    if not math.isnan(total):
        return rows
    return [(k, metric_number(v), s, t, q) for k, v, s, t, q in rows]


def _clamped(at: float) -> float:
    """``at``, a client's time, brought within ``CLOCK_SKEW`` of the server's clock."""
    now = time.time()
    return min(max(at, now - CLOCK_SKEW), now + CLOCK_SKEW)


def _same_run(store: RunStore, new: NewRun) -> bool:
    """Whether the stored run with ``new``'s id is the one ``new`` describes (a create sent
    again after its answer was lost)."""
    stored = store.get_runs([new.id])[0]
    return (
        stored.id == new.id
        and stored.project_id == new.project_id
        and (stored.name, stored.kind, stored.user, stored.host, stored.started_at)
        == (new.name, new.kind, new.user, new.host, new.started_at)
    )


@router.post("", response_model=IdsOut, status_code=201)
def create_run(request: Request, scope: Writer, body: CreateRunIn) -> IdsOut:
    """Create a running run for the signed-in user, with its first params and tags.

    Sent again by the client (``Labledger-Attempt: 2``...) with the same content, after the
    first try's answer was lost, it changes nothing; any other create of an existing id is a
    conflict.
    """
    spec = body.run
    if scope.role(spec.project_id) is None:
        raise NotFoundError(
            f"no project with id {spec.project_id!r}", hint="see `labledger projects list`"
        )
    scope.require(spec.project_id, what=f"project {spec.project_id!r}")
    _check_texts(
        [k for k, _, _ in body.params] + [k for k, _ in body.tags],
        [spec.name, spec.host, *(v for _, v, _ in body.params), *(v for _, v in body.tags)],
    )
    blobs = request.app.state.workspace.store
    for digest, size in body.blobs:
        if not blobs.exists(digest) or blobs.size(digest) != size:
            raise ValidationError(
                f"the run refers to blob {digest[:12]} of {size} bytes, which the server's "
                "store does not hold",
                hint="store the blob first",
            )
    new = NewRun(**spec.model_dump(), user=scope.user.name)
    store = run_store(request)
    signed = [body.signed.signed()] if body.signed is not None else []
    expected = [("run.started", f"run:{new.id}")]
    with acting_for(scope.user.name), signed_by_client(signed, expected=expected):
        try:
            store.create_run(new, params=body.params, tags=body.tags, blobs=body.blobs)
        except ConflictError:
            again = request.headers.get(ATTEMPT_HEADER, "1") != "1"
            if not again or not _same_run(store, new):
                raise
    remember(request, new.id, new.project_id)  # its batches and finish need not read it back
    return IdsOut(ids=[new.id])


_BATCH_BODY = {
    "required": True,
    "content": {"application/json": {"schema": LogBatchIn.model_json_schema()}},
}


@router.post("/{run_id}/batch", status_code=204, openapi_extra={"requestBody": _BATCH_BODY})
async def log_batch(request: Request, scope: Writer, run_id: str) -> Response:
    """Write a batch of metrics, params and tags in one transaction; sent again, it changes
    nothing."""
    # The hottest route: the body (thousands of ``[key, value, step, timestamp, seq]`` rows) is
    # validated straight from its bytes, and the checks and the write take one trip to the
    # thread pool.
    body = _batch(await request.body())
    await run_in_threadpool(_log_batch, request, scope, run_id, body)
    return Response(status_code=204)


def _batch(raw: bytes) -> LogBatchIn:
    """The batch in ``raw``; a body that is no ``LogBatchIn`` is answered as any other (422)."""
    try:
        return LogBatchIn.model_validate_json(raw)
    except PydanticValidationError as exc:
        errors = exc.errors(include_url=False)
        raise RequestValidationError(
            [{**error, "loc": ("body", *error["loc"])} for error in errors]
        ) from None


def _log_batch(request: Request, scope: ProjectScope, run_id: str, body: LogBatchIn) -> None:
    require_run(request, scope, run_id)
    keys = set(map(_KEY, body.metrics))
    keys.update(k for k, _, _ in body.params)
    keys.update(k for k, _ in body.tags)
    _check_texts(keys, [*(v for _, v, _ in body.params), *(v for _, v in body.tags)])
    # A sealed record stays as sealed: the store refuses metrics and params of an ended run in
    # the batch's own transaction, so a finish cannot slip in between a check and the write.
    with acting_for(scope.user.name):
        run_store(request).log_batch(
            run_id,
            metrics=_numbers(body.metrics),
            params=body.params,
            tags=body.tags,
            batch_id=body.batch_id,
        )


@router.post("/{run_id}/seal-entries", response_model=PreparedOut)
def seal_entries(request: Request, scope: Writer, run_id: str, body: FinishRunIn) -> PreparedOut:
    """The ledger entries this finish would make now (the seal last), for a client that signs
    its own entries to sign and send with the finish; changes nothing."""
    store, seal, sealed = _finishing(request, scope, run_id, body)
    if sealed is not None:
        raise RunStateError(
            f"run {run_id} has already ended with this seal: there is nothing left to sign",
            hint="start a new run with labledger.start_run()",
        )
    # The same write as the finish, stopped (and rolled back) when it comes to the seal.
    with acting_for(scope.user.name), preparing_entries("run.finished"):
        try:
            store.finish_run(run_id, seal)
        except EntriesPrepared as prepared:
            return PreparedOut(
                entries=[PreparedEntryOut(**asdict(entry)) for entry in prepared.entries]
            )
    raise AssertionError("the run store sealed without writing its seal entry")  # pragma: no cover


@router.post("/{run_id}/finish", response_model=SealOut)
def finish_run(request: Request, scope: Writer, run_id: str, body: FinishRunIn) -> SealOut:
    """Seal a running run with what the store holds of it (and the last metric rows).

    With ``signed`` (the entries ``seal-entries`` answered, signed by the user's key) the seal
    is the user's: refused whole, the run left running, when a signature does not hold or the
    rows changed since.
    """
    store, seal, sealed = _finishing(request, scope, run_id, body)
    if sealed is not None:
        return SealOut(record_digest=sealed)
    again = request.headers.get(ATTEMPT_HEADER, "1") != "1"
    signed = [item.signed() for item in body.signed]
    expected = [(kind, f"run:{run_id}") for kind in ("artifacts.produced", "run.finished")]
    with acting_for(scope.user.name), signed_by_client(signed, expected=expected):
        try:
            return SealOut(record_digest=store.finish_run(run_id, seal))
        except RunStateError:
            done = _same_seal(store, run_id, seal) if again else None
            if done is None:
                raise
            return SealOut(record_digest=done)


def _finishing(
    request: Request, scope: ProjectScope, run_id: str, body: FinishRunIn
) -> tuple[RunStore, FinishRun, str | None]:
    """The store and the seal a finish of ``run_id`` asks for, after its checks, and the record
    digest when the run is sealed so already (a finish sent again after its answer was lost).

    Raises:
        RunStateError: The run has ended otherwise.
        ValidationError: The end time is before the start or in the future.
    """
    require_run(request, scope, run_id)
    _check_texts({row[0] for row in body.metrics}, [body.error or ""])
    store = run_store(request)
    # No seal, run, params or tags from the client: the store reads back and digests its own.
    seal = FinishRun(
        status=body.status,
        ended_at=body.ended_at,
        error=body.error,
        metrics=_numbers(body.metrics),
    )
    # Sent again after its answer was lost (the server died, the connection dropped): the seal
    # the first try committed is the answer.
    again = request.headers.get(ATTEMPT_HEADER, "1") != "1"
    (run,) = store.get_runs([run_id])
    if run.user != scope.user.name:
        # An editor may add to a teammate's run, but the seal is its writer's: ``verify`` holds
        # a run finished by anyone else as a problem for good.
        raise PermissionDeniedError(
            f"run {run_id} was started by {run.user}; only they can finish it",
            hint="a run its writer never ends is sealed as crashed once its lease runs out "
            "(`labledger runs reap`)",
        )
    if run.status != "running":
        sealed = _same_seal(store, run_id, seal) if again else None
        if sealed is not None:
            return store, seal, sealed
        raise RunStateError(
            f"run {run_id} is no longer running: it has already ended (status {run.status})",
            hint="start a new run with labledger.start_run()",
        )
    now = time.time()
    if not run.started_at <= body.ended_at <= now + CLOCK_SKEW:
        raise ValidationError(
            f"run {run_id} cannot end at {body.ended_at}: it started at {run.started_at}, and the "
            f"server's clock says {now:.3f}",
            hint="send the time the run ended, by a clock that is right to within "
            f"{CLOCK_SKEW:.0f} seconds",
        )
    return store, seal, None


def _same_seal(store: RunStore, run_id: str, seal: FinishRun) -> str | None:
    """The record digest of ``run_id`` when it was sealed as ``seal`` says (a finish sent again
    after its answer was lost), else ``None``."""
    stored = store.get_runs([run_id])[0]
    if (stored.status, stored.ended_at, stored.error) != (seal.status, seal.ended_at, seal.error):
        return None
    return stored.record_digest


def _writable(request: Request, scope: ProjectScope, run_ids: Sequence[str]) -> list[str]:
    """The runs of ``run_ids`` that exist and that the user may write to; asking to write to a
    run of a project the user is only a viewer of is refused."""
    found: list[str] = []
    for run_id in dict.fromkeys(run_ids):
        exists, project = project_of(request, run_id)
        if exists and scope.role(project) is not None:
            scope.require(project, what=f"run with id {run_id!r}")
            found.append(run_id)
    return found


def _own(request: Request, scope: ProjectScope, run_ids: Sequence[str]) -> list[str]:
    """``_writable``'s runs, each of which must be the signed-in user's: only a run's own
    process says it is alive or dead (a teammate's dead run is reaped by its lease)."""
    found = _writable(request, scope, run_ids)
    if not found:
        return found
    for run in run_store(request).get_runs(found):
        if run.user != scope.user.name:
            raise PermissionDeniedError(
                f"run {run.id} was started by {run.user}; only their own process reports on it",
                hint="a run whose process died is sealed as crashed once its lease runs out "
                "(`labledger runs reap`)",
            )
    return found


@router.post("/heartbeat", status_code=204)
def heartbeat(request: Request, scope: Writer, body: HeartbeatIn) -> Response:
    """Record that the runs' processes are alive; unknown runs are left as they are."""
    run_ids = _own(request, scope, body.run_ids)
    # Within ``CLOCK_SKEW`` of the server's clock: a lease judged by any time the client chose
    # could be kept alive forever.
    with acting_for(scope.user.name):
        run_store(request).heartbeat(run_ids, _clamped(body.at))
    return Response(status_code=204)


@router.post("/crashed", response_model=IdsOut)
def mark_crashed(request: Request, scope: Writer, body: CrashIn) -> IdsOut:
    """Seal each run that is still running as ``crashed``, as it stands; the ids sealed."""
    run_ids = _own(request, scope, body.run_ids)
    _check_texts((), [body.reason])
    with acting_for(scope.user.name):
        # Sealed within ``CLOCK_SKEW`` of the server's time, whatever ``at`` the client sent.
        sealed = run_store(request).mark_crashed(run_ids, reason=body.reason, at=_clamped(body.at))
    return IdsOut(ids=sealed)


@router.post("/reap", response_model=IdsOut)
def reap_dead_runs(request: Request, scope: Writer) -> IdsOut:
    """Seal as ``crashed`` the running runs that lost their lease, in the projects where the user
    writes, judged on the server as a local writer judges them (its host, its clock)."""
    scope.require_anywhere()  # a viewer is told so, not that no run was lost
    store = run_store(request)
    here = request.app.state.workspace.host
    now = time.time()
    dead = [
        live.run_id
        for live in store.running()
        if scope.allowed(live.project_id)
        and lease_lost(live.host, live.pid, live.heartbeat_at, here=here, now=now)
    ]
    if not dead:
        return IdsOut(ids=[])
    with acting_for(scope.user.name):
        return IdsOut(ids=store.mark_crashed(dead, reason=CRASHED_REASON, at=now))
