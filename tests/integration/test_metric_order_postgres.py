"""Runs sorted by one metric are read from its index on PostgreSQL, page by page as the general
search reads them (ties, NaN, infinities, runs without the metric, filters that keep few)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tests.unit.workspace.metric_order_cases import FILTERS, ORDERS, fill, walk

if TYPE_CHECKING:
    from labledger.workspace.workspace import Workspace

pytestmark = pytest.mark.integration


def test_pages_sorted_by_a_metric_are_the_general_searchs(
    pg_workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    fill(pg_workspace, 90, seed=3)
    for text in FILTERS:
        for order in ORDERS:
            for page in (1, 7, 100):
                indexed = walk(pg_workspace, monkeypatch, text, order, page, general=False)
                general = walk(pg_workspace, monkeypatch, text, order, page, general=True)
                assert indexed == general, (text, order, page)
