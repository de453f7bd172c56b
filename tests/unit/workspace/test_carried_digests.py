"""Digests of runs' metric rows kept as batches are written: a seal that uses one seals what the
catalog holds, and one that cannot falls back to reading the rows."""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING

import pytest
import sqlalchemy as sa

from labledger.stores.runs import FinishRun
from labledger.workspace.records import MetricsDigest, metrics_digest
from labledger.workspace.sql.carried_digests import CarriedDigests
from labledger.workspace.verify import verify_workspace
from labledger.workspace.workspace import Workspace
from tests.unit.workspace.store_runs import store_run

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from labledger.stores.runs import MetricRow


def _rows(first: int, count: int, value: float | None = 0.5) -> list[MetricRow]:
    return [(f"k{s % 2}", value if value is None else value + s, s, 1.7e9 + s, s) for s in
            range(first, first + count)]  # fmt: skip


def _digest_of(rows: list[MetricRow]) -> MetricsDigest:
    digest = MetricsDigest()
    digest.update(rows)
    return digest


def test_batches_that_follow_each_other_are_carried() -> None:
    carried = CarriedDigests()
    carried.add("r", _rows(1, 10))
    carried.add("r", _rows(11, 5, None))  # NaNs as the catalog gives them back
    digest = carried.take("r")
    assert digest is not None
    expected = _digest_of([*_rows(1, 10), *_rows(11, 5, None)])
    assert (digest.digest, digest.count, digest.last_seq) == (expected.digest, 15, 15)
    assert digest.summary() == expected.summary()
    assert carried.take("r") is None  # taken once


def test_a_gap_or_an_unusual_value_stops_the_carried_rows_where_they_are() -> None:
    carried = CarriedDigests()
    carried.add("late", _rows(5, 5))  # not from the run's first seq
    assert carried.take("late") is None
    carried.add("gap", _rows(1, 4))
    carried.add("gap", _rows(9, 4))  # seqs 5-8 went elsewhere (another replica, a retry)
    carried.add("gap", _rows(13, 4))
    digest = carried.take("gap")
    assert digest is not None and digest.last_seq == 4
    for odd in (math.nan, -0.0, 3, "x"):
        carried.add("odd", _rows(1, 2))
        carried.add("odd", [("k", odd, 3, 1.0, 3)])  # type: ignore[list-item]
        digest = carried.take("odd")
        assert digest is not None and digest.last_seq == 2, odd
    carried.add("holes", [("k", 1.0, 1, 1.0, 1), ("k", 1.0, 2, 1.0, 3)])
    assert carried.take("holes") is None


def test_runs_that_never_seal_are_dropped_oldest_first() -> None:
    carried = CarriedDigests(most=3)
    for run in "abcd":
        carried.add(run, _rows(1, 2))
    assert carried.take("a") is None
    assert all(carried.take(run) is not None for run in "bcd")


# -- sealing with them -------------------------------------------------------------------------


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Workspace]:
    """A workspace that carries run digests, as a server's does."""
    workspace = Workspace.init(tmp_path / "ws")
    workspace.carries_run_digests = True
    try:
        yield workspace
    finally:
        workspace.close()


def _seal(ws: Workspace, run_id: str, **more: object) -> dict[str, object]:
    ws.stores.runs.finish_run(run_id, FinishRun("finished", time.time(), **more))  # type: ignore[arg-type]
    with ws.read() as conn:
        payload = conn.execute(
            sa.text("SELECT payload_json FROM ledger WHERE kind = 'run.finished' AND subject = :s"),
            {"s": f"run:{run_id}"},
        ).scalar_one()
    import json

    return dict(json.loads(payload))


def test_a_seal_from_carried_rows_is_the_seal_of_the_rows_stored(served: Workspace) -> None:
    store = served.stores.runs
    plain, odd, out_of_order = store_run(served), store_run(served), store_run(served)
    for run_id in (plain, odd):
        store.log_batch(run_id, metrics=_rows(1, 300))
        store.log_batch(run_id, metrics=_rows(301, 300))
    store.log_batch(odd, metrics=[("k0", -0.0, 601, 1.0, 601), ("k1", math.nan, 602, 1.0, 602)])
    store.log_batch(out_of_order, metrics=_rows(101, 100))
    store.log_batch(out_of_order, metrics=_rows(1, 100))
    for run_id, last_rows in ((plain, _rows(601, 3)), (odd, ()), (out_of_order, ())):
        with served.read() as conn:
            stored = metrics_digest(conn, run_id)  # what reading every row gives
        payload = _seal(served, run_id, metrics=last_rows)
        with served.read() as conn:
            after = metrics_digest(conn, run_id)
        assert payload["metrics"] == after.summary()
        assert after.count == stored.count + len(last_rows)
    assert verify_workspace(served, blobs=False).ok


def test_a_row_edited_before_the_seal_is_not_sealed_as_edited(served: Workspace) -> None:
    store = served.stores.runs
    run_id = store_run(served)
    store.log_batch(run_id, metrics=_rows(1, 10))
    # Edited in the database after it was written, before the run ends: the seal digests the
    # rows as they came in, so the edit shows.
    with served.write() as conn:
        conn.execute(
            sa.text("UPDATE metrics SET value = 99.0 WHERE run_id = :r AND seq = 3"), {"r": run_id}
        )
    _seal(served, run_id)
    problems = verify_workspace(served, blobs=False).problems
    assert any(p.id == run_id and "k1" in p.reason for p in problems), problems


def test_an_embedded_workspace_carries_nothing(tmp_path: Path) -> None:
    ws = Workspace.init(tmp_path / "embedded")
    try:
        run_id = store_run(ws)
        ws.stores.runs.log_batch(run_id, metrics=_rows(1, 10))
        assert ws.stores.runs._carried.take(run_id) is None
    finally:
        ws.close()
