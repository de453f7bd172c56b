"""Pages of runs sorted by one metric, read from the index, against the general search: the
same runs in the same order, page by page, on any catalog (used by the SQLite and PostgreSQL
tests)."""

from __future__ import annotations

import math
import random
from typing import TYPE_CHECKING

from labledger._foundation.ids import new_id
from labledger.stores.runs import NewRun, RunQuery
from labledger.tracking.filters import parse_filter, parse_order_by
from labledger.workspace.sql import run_reads

if TYPE_CHECKING:
    import pytest

    from labledger.workspace.workspace import Workspace

__all__ = ["FILTERS", "ORDERS", "fill", "walk"]

# Few values, so runs tie; NaN (stored as NULL) and runs without the metric sort last.
_VALUES = [0.1, 0.5, 0.5, 0.9, -1.0, 0.0, -0.0, math.inf, -math.inf, math.nan, None, None]
FILTERS = [
    None,
    "metrics.auc > 0.2",
    "metrics.auc < 0",
    "params.group = 'b'",  # about a third of the runs
    "params.group = 'z'",  # no run
    "metrics.auc is null",
    "metrics.loss > 0.95",  # a few runs, scattered over the order
]
ORDERS = ["metrics.auc DESC", "metrics.auc", "metrics.loss DESC", "metrics.absent"]


def fill(ws: Workspace, count: int, seed: int) -> None:
    """``count`` runs, each with a ``group`` param and, mostly, ``auc`` and ``loss`` values."""
    rng = random.Random(seed)
    store = ws.stores.runs
    for i in range(count):
        run_id = new_id()
        group = "abc"[rng.randrange(3)]
        store.create_run(
            NewRun(run_id, ws.project_id(), f"r{i}", "run", ws.actor, ws.host, 1, 1.0 + i),
            params=[("group", group, None)],
        )
        rows = []
        auc = rng.choice(_VALUES)
        if auc is not None:
            rows.append(("auc", None if math.isnan(auc) else auc, 0, 1.0, 1))
        rows.append(("loss", rng.random(), 0, 1.0, len(rows) + 1))
        store.log_batch(run_id, metrics=rows, batch_id=f"{run_id}-0")


def walk(
    ws: Workspace,
    monkeypatch: pytest.MonkeyPatch,
    text: str | None,
    order: str,
    page: int,
    *,
    general: bool,
) -> list[list[str]]:
    """The ids of each page of the search, read from the metric's index or (``general``) by the
    general search."""
    query = RunQuery(filter=parse_filter(text or ""), order_by=parse_order_by([order]))
    with monkeypatch.context() as patch:
        if general:
            patch.setattr(run_reads, "metric_sort_key", lambda _query: None)
        pages, token = [], None
        while True:
            found = ws.stores.runs.search_runs(query, page_token=token, max_results=page)
            pages.append([run.id for run in found.items])
            token = found.next_token
            if token is None:
                return pages
