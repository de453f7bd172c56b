"""``/api/v1/runs``: the ``RunStore``'s reads over HTTP (runs by reference, searches, metric
histories, the running runs).

A viewer of a project reads its runs; a run of a project the user is no member of answers 404
exactly as one that does not exist, and a search finds only runs of projects the user may read.
Filters are parsed and checked here with the Python API's own parser.
"""

from __future__ import annotations

import math
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from labledger._foundation.errors import NotFoundError, ValidationError
from labledger.identity.service import no_role_error
from labledger.server.json_response import json_response
from labledger.server.permissions import ProjectScope, in_projects
from labledger.server.routes.readable import find_in_projects, narrowed
from labledger.server.routes.run_access import no_such_run, remember, require_run, run_store
from labledger.stores.identity import Role
from labledger.stores.run_filters import And, Comparison, OrderKey
from labledger.stores.run_wire import (
    LivenessOut,
    MetricPageOut,
    RunningIn,
    RunOut,
    RunPageOut,
    RunRefsIn,
    RunsOut,
    SearchRunsIn,
)
from labledger.stores.runs import RunQuery
from labledger.stores.wire import node_from_wire
from labledger.tracking.filter_parser import typed_filter, typed_order_item
from labledger.tracking.filters import check_filter

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/runs", tags=["runs"])
Reader = Annotated[ProjectScope, in_projects(Role.VIEWER)]


@router.post("/get", response_model=RunsOut)
def get_runs(request: Request, scope: Reader, body: RunRefsIn) -> Response:
    """The runs ``refs`` name (ids or unique id prefixes), in the order given (a read: the
    references travel in the body). Only runs of projects the user reads are looked among, so a
    prefix is unique among those: a run the user cannot see neither answers it nor makes it
    ambiguous."""
    runs = find_in_projects(
        scope,
        lambda ids: run_store(request).get_runs(
            body.refs, project_ids=narrowed(ids, body.project_ids)
        ),
        what="these runs",
    )
    for ref, run in zip(body.refs, runs, strict=True):
        if scope.role(run.project_id) is None:
            raise no_such_run(ref)
        remember(request, run.id, run.project_id)
    return json_response(RunsOut(items=[RunOut.of(run) for run in runs]))


def _query(scope: ProjectScope, body: SearchRunsIn) -> RunQuery:
    """The store's query for ``body``, kept to the projects the user reads.

    Raises:
        NotFoundError: The user reads no project at all (so no search could find anything).
    """
    if body.filter is not None and body.where is not None:
        raise ValidationError(
            "a search takes filter text or a filter tree, not both", hint="send one of them"
        )
    if body.where is not None:
        node = check_filter(typed_filter(node_from_wire(body.where)))
    else:
        node = check_filter(body.filter or "")
    order = tuple(OrderKey(*typed_order_item(o.name, o.descending)) for o in body.order_by)
    if body.project_id is not None:
        if scope.role(body.project_id) is None:
            raise NotFoundError(
                f"no project with id {body.project_id!r}", hint="see `labledger projects list`"
            )
        return RunQuery(filter=node, order_by=order, project_id=body.project_id)
    if not scope.user.is_admin:
        readable = scope.readable_now()
        if not readable:
            # Every workspace has the default project, so naming it reveals nothing.
            raise no_role_error(scope.user.name, "default")
        mine = Comparison("attributes", "project_id", "in", readable)
        node = mine if node is None else And((node, mine))
    return RunQuery(filter=node, order_by=order)


@router.post("/search", response_model=RunPageOut)
def search_runs(request: Request, scope: Reader, body: SearchRunsIn) -> Response:
    """One page of the runs a filter matches, in the projects the user reads (a read: the
    filter travels in the body); the token resumes after the page's last run."""
    query = _query(scope, body)
    page = run_store(request).search_runs(
        query, page_token=body.page_token, max_results=body.max_results
    )
    return json_response(
        RunPageOut(items=[RunOut.of(run) for run in page.items], next_page_token=page.next_token)
    )


@router.get("/{run_id}/metrics", response_model=MetricPageOut)
def metric_history(
    request: Request,
    scope: Reader,
    run_id: str,
    key: Annotated[list[str] | None, Query(description="Only these metrics.")] = None,
    page_token: Annotated[str | None, Query(max_length=4096)] = None,
    max_results: Annotated[int, Query(ge=1, le=50_000)] = 1000,
) -> Response:
    """One page of a run's metric values (of ``key`` when given), by key, step, time and seq:
    ``[key, value or null for NaN, step, timestamp]`` each."""
    require_run(request, scope, run_id)
    page = run_store(request).metric_history(
        run_id, key, page_token=page_token, max_results=max_results
    )
    items = [
        (p.key, None if math.isnan(p.value) else p.value, p.step, p.timestamp) for p in page.items
    ]
    return json_response(MetricPageOut(items=items, next_page_token=page.next_token))


@router.post("/running", response_model=LivenessOut)
def running(request: Request, scope: Reader, body: RunningIn) -> LivenessOut:
    """The running runs (of ``run_ids`` when given) of projects the user reads, with what judges
    their lease."""
    found = run_store(request).running(body.run_ids)
    return LivenessOut(items=[live for live in found if scope.role(live.project_id) is not None])
