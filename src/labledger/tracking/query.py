"""Reading runs back: one run, a filtered search, metric histories and side-by-side comparison.

The workspace's ``RunStore`` reads the rows; whether a ``running`` run has lost its lease (its
process died, or it stopped sending heartbeats) is judged here, from where the reader runs.
"""

from __future__ import annotations

import dataclasses
import math
import time
from typing import TYPE_CHECKING

from labledger._foundation.errors import ValidationError
from labledger.stores.pages import MAX_PAGE_SIZE
from labledger.stores.runs import RunQuery
from labledger.tracking.filters import check_filter, parse_order_by
from labledger.tracking.metric_rules import lower_is_better
from labledger.tracking.types import MetricPoint, Run, RunComparison
from labledger.workspace.current import get_workspace
from labledger.workspace.recovery import lease_lost

if TYPE_CHECKING:
    from collections.abc import Sequence

    from labledger.workspace.workspace import Workspace

__all__ = ["compare_runs", "get_metric_history", "get_run", "search_runs"]

# Metric values read per page: a history of a million values takes a few round trips.
_HISTORY_PAGE = 50_000


def _judged(ws: Workspace, runs: list[Run]) -> list[Run]:
    """``runs`` with ``lost`` saying why each ``running`` one has lost its lease."""
    running = [run for run in runs if run.status == "running"]
    if not running:
        return runs
    now = time.time()
    # Judged from the rows read with the runs; a run without its process id (as a server that
    # does not send it answers) is asked about.
    lost = {
        run.id: lease_lost(run.host, run.pid, run.heartbeat_at, here=ws.host, now=now)
        for run in running
        if run.pid is not None
    }
    unknown = [run.id for run in running if run.pid is None]
    if unknown:
        lost |= {
            live.run_id: lease_lost(live.host, live.pid, live.heartbeat_at, here=ws.host, now=now)
            for live in ws.stores.runs.running(unknown)
        }
    return [
        dataclasses.replace(run, lost=lost[run.id]) if lost.get(run.id) else run for run in runs
    ]


def get_run(run_id: str, *, workspace: Workspace | None = None) -> Run:
    """One run with its params, latest metrics and tags.

    Raises:
        NotFoundError: No run has this id or id prefix.
        AmbiguousReferenceError: The prefix names several runs.
    """
    ws = workspace or get_workspace()
    return _judged(ws, ws.stores.runs.get_runs([run_id]))[0]


def search_runs(
    filter: str | None = None,
    *,
    order_by: Sequence[str] | None = None,
    max_results: int = 1000,
    project: str | None = None,
    workspace: Workspace | None = None,
) -> list[Run]:
    """Runs matching a filter, newest first unless ``order_by`` says otherwise.

    Args:
        filter: e.g. ``metrics.auc > 0.8 and params.model = "gbm" and tags.team = "assay"``.
        order_by: e.g. ``["metrics.auc desc"]``.
        max_results: At most this many runs.
        project: Only runs of this project.
        workspace: Defaults to the current workspace.

    Raises:
        FilterSyntaxError: The filter does not parse; the message points at the problem.
    """
    if not isinstance(max_results, int) or max_results < 1:
        raise ValidationError(f"max_results must be a positive int, got {max_results!r}")
    ws = workspace or get_workspace()
    node = check_filter(filter or "")
    keys = parse_order_by(order_by or [])
    project_id = None
    if project is not None:
        project_id = ws.find_project_id(project)
        if project_id is None:
            return []  # no such project: nothing to find, and reading creates nothing
    query = RunQuery(filter=node, order_by=keys, project_id=project_id)
    store = ws.stores.runs
    found: list[Run] = []
    token: str | None = None
    while True:
        size = min(max_results - len(found), MAX_PAGE_SIZE)
        page = store.search_runs(query, page_token=token, max_results=size)
        found += page.items
        token = page.next_token
        if token is None or len(found) >= max_results:
            return _judged(ws, found)


def get_metric_history(
    run_id: str, key: str | None = None, *, workspace: Workspace | None = None
) -> list[MetricPoint]:
    """Every logged value of a run's metric (or of all its metrics), by key then step.

    Raises:
        NotFoundError: No run has this id or id prefix.
        AmbiguousReferenceError: The prefix names several runs.
    """
    ws = workspace or get_workspace()
    store = ws.stores.runs
    full_id = store.get_runs([run_id])[0].id
    keys = None if key is None else [key]
    points: list[MetricPoint] = []
    token: str | None = None
    while True:
        page = store.metric_history(full_id, keys, page_token=token, max_results=_HISTORY_PAGE)
        points += page.items
        token = page.next_token
        if token is None:
            return points


def compare_runs(
    run_ids: Sequence[str],
    *,
    higher_is_better: Sequence[str] = (),
    workspace: Workspace | None = None,
) -> RunComparison:
    """Put runs side by side; ``best`` names the best run per metric.

    Metrics named like losses, errors, spreads or times (``val_loss``, ``rmse``, ``cv_auc_std``,
    ``fit_time``: the rule of :func:`labledger.tracking.metric_rules.lower_is_better`) are taken
    as lower-is-better unless listed in ``higher_is_better``; all others as higher-is-better.
    """
    if len(run_ids) < 1:
        raise ValidationError("compare_runs needs at least one run id")
    ws = workspace or get_workspace()
    runs = _judged(ws, ws.stores.runs.get_runs(list(run_ids)))
    param_keys = sorted({k for run in runs for k in run.params})
    metric_keys = sorted({k for run in runs for k in run.metrics})
    differing = [k for k in param_keys if len({run.params.get(k) for run in runs}) > 1]
    best: dict[str, str] = {}
    lower_keys = [k for k in metric_keys if k not in higher_is_better and lower_is_better(k)]
    for key in metric_keys:
        scored = [
            (run.metrics[key], run.id)
            for run in runs
            if not math.isnan(run.metrics.get(key, math.nan))
        ]
        if not scored:
            continue
        best[key] = (min(scored) if key in lower_keys else max(scored))[1]
    return RunComparison(runs, param_keys, metric_keys, differing, best, lower_keys)
