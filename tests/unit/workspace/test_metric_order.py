"""Runs sorted by one metric are read from its index, page by page as the general search reads
them (SQLite; the PostgreSQL twin is in the integration tests)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tests.unit.workspace.metric_order_cases import FILTERS, ORDERS, fill, walk

if TYPE_CHECKING:
    from labledger.workspace.workspace import Workspace


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    from labledger.workspace.workspace import Workspace

    ws = Workspace.init(tmp_path_factory.mktemp("metric-order") / "ws")
    fill(ws, 90, seed=3)
    return ws


@pytest.mark.parametrize("text", FILTERS)
@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("page", [1, 3, 7, 100])
def test_pages_sorted_by_a_metric_are_the_general_searchs(
    filled: Workspace, monkeypatch: pytest.MonkeyPatch, text: str | None, order: str, page: int
) -> None:
    indexed = walk(filled, monkeypatch, text, order, page, general=False)
    assert indexed == walk(filled, monkeypatch, text, order, page, general=True)
    ids = [run_id for part in indexed for run_id in part]
    assert len(ids) == len(set(ids))  # every run once


def test_a_token_of_either_way_resumes_the_other(
    filled: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    from labledger.stores.runs import RunQuery
    from labledger.tracking.filters import parse_order_by
    from labledger.workspace.sql import run_reads

    query = RunQuery(order_by=parse_order_by(["metrics.auc DESC"]))
    store = filled.stores.runs
    seen, token, general = [], None, False
    while True:
        with monkeypatch.context() as patch:
            if general:
                patch.setattr(run_reads, "metric_sort_key", lambda _query: None)
            found = store.search_runs(query, page_token=token, max_results=4)
        seen += [run.id for run in found.items]
        token, general = found.next_token, not general
        if token is None:
            break
    assert seen == [
        i
        for part in walk(filled, monkeypatch, None, "metrics.auc DESC", 9, general=True)
        for i in part
    ]


def test_a_metric_sorted_page_does_not_read_every_run(filled: Workspace) -> None:
    from sqlalchemy import event

    from labledger.stores.runs import RunQuery
    from labledger.tracking.filters import parse_order_by

    statements: list[str] = []
    engine = filled.catalog.reader

    def note(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", note)
    try:
        query = RunQuery(order_by=parse_order_by(["metrics.auc DESC"]))
        filled.stores.runs.search_runs(query, max_results=5)
    finally:
        event.remove(engine, "before_cursor_execute", note)
    # The index's best runs, then those runs by id: no correlated sort over the runs table.
    assert any("LIMIT" in s and "latest_metrics" in s and "FROM runs" not in s for s in statements)
    assert not any("ORDER BY (SELECT" in s for s in statements), statements
