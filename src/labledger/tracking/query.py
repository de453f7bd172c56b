"""Reading runs back: one run, a filtered search, metric histories and side-by-side comparison."""

from __future__ import annotations

import math
import time
from collections import defaultdict
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from labledger._foundation.errors import NotFoundError, ValidationError
from labledger.tracking.metric_rules import lower_is_better
from labledger.tracking.types import MetricPoint, Run, RunComparison
from labledger.workspace import schema
from labledger.workspace.current import get_workspace
from labledger.workspace.lookup import find_by_id
from labledger.workspace.recovery import lease_lost

if TYPE_CHECKING:
    from collections.abc import Sequence

    from sqlalchemy import Connection, Row

    from labledger.workspace.workspace import Workspace

__all__ = ["compare_runs", "get_metric_history", "get_run", "search_runs"]


def _nan(value: float | None) -> float:
    return math.nan if value is None else value


def _lost(ws: Workspace, row: Row[Any], now: float) -> str | None:
    if row.status != "running":
        return None
    return lease_lost(row.host, row.pid, row.heartbeat_at, here=ws.host, now=now)


def _hydrate(ws: Workspace, conn: Connection, rows: Sequence[Row[Any]]) -> list[Run]:
    ids = [row.id for row in rows]
    params: dict[str, dict[str, str]] = defaultdict(dict)
    metrics: dict[str, dict[str, float]] = defaultdict(dict)
    tags: dict[str, dict[str, str]] = defaultdict(dict)
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        for r in conn.execute(
            select(schema.params.c.run_id, schema.params.c.key, schema.params.c.value).where(
                schema.params.c.run_id.in_(chunk)
            )
        ):
            params[r.run_id][r.key] = r.value
        lm = schema.latest_metrics
        for r in conn.execute(
            select(lm.c.run_id, lm.c.key, lm.c.value).where(lm.c.run_id.in_(chunk))
        ):
            metrics[r.run_id][r.key] = _nan(r.value)
        for r in conn.execute(
            select(schema.tags.c.run_id, schema.tags.c.key, schema.tags.c.value).where(
                schema.tags.c.run_id.in_(chunk)
            )
        ):
            tags[r.run_id][r.key] = r.value
    now = time.time()
    return [
        Run(
            id=row.id,
            name=row.name,
            status=row.status,
            kind=row.kind,
            user=row.user,
            host=row.host,
            started_at=row.started_at,
            ended_at=row.ended_at,
            params=dict(sorted(params[row.id].items())),
            metrics=dict(sorted(metrics[row.id].items())),
            tags=dict(sorted(tags[row.id].items())),
            environment_digest=row.environment_digest,
            git_commit=row.git_commit,
            git_dirty=row.git_dirty,
            record_digest=row.record_digest,
            error=row.error,
            heartbeat_at=row.heartbeat_at if row.status == "running" else None,
            lost=_lost(ws, row, now),
        )
        for row in rows
    ]


def _find_run_row(conn: Connection, run_id: str) -> Row[Any]:
    row = find_by_id(conn, schema.runs, run_id, what="run")
    if row is None:
        raise NotFoundError(
            f"no run with id {run_id!r}",
            hint="list runs with `labledger runs list`; a unique prefix of the id also works",
        )
    return row


def get_run(run_id: str, *, workspace: Workspace | None = None) -> Run:
    """One run with its params, latest metrics and tags."""
    ws = workspace or get_workspace()
    with ws.read() as conn:
        return _hydrate(ws, conn, [_find_run_row(conn, run_id)])[0]


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
    from labledger.tracking.filters import compile_filter, parse_order_by

    if not isinstance(max_results, int) or max_results < 1:
        raise ValidationError(f"max_results must be a positive int, got {max_results!r}")
    ws = workspace or get_workspace()
    runs = schema.runs
    query = select(runs)
    condition = compile_filter(filter or "")
    if condition is not None:
        query = query.where(condition)
    if project is not None:
        project_id = ws.find_project_id(project)
        if project_id is None:
            return []  # no such project: nothing to find, and reading creates nothing
        query = query.where(runs.c.project_id == project_id)
    query = query.order_by(*parse_order_by(order_by or []), runs.c.id.desc()).limit(max_results)
    with ws.read() as conn:
        return _hydrate(ws, conn, conn.execute(query).all())


def get_metric_history(
    run_id: str, key: str | None = None, *, workspace: Workspace | None = None
) -> list[MetricPoint]:
    """Every logged value of a run's metric (or of all its metrics), by key then step."""
    ws = workspace or get_workspace()
    table = schema.metrics
    with ws.read() as conn:
        run = _find_run_row(conn, run_id)
        query = select(table.c.key, table.c.value, table.c.step, table.c.timestamp).where(
            table.c.run_id == run.id
        )
        if key is not None:
            query = query.where(table.c.key == key)
        rows = conn.execute(
            query.order_by(table.c.key, table.c.step, table.c.timestamp, table.c.id)
        )
        return [MetricPoint(r.key, _nan(r.value), r.step, r.timestamp) for r in rows]


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
    with ws.read() as conn:
        rows = [_find_run_row(conn, run_id) for run_id in run_ids]
        runs = _hydrate(ws, conn, rows)
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
