"""Metric batches are exactly-once per run: a retried batch writes nothing twice, and the sealed
record and the latest values do not depend on the order batches commit in."""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING, Any

import pytest
import sqlalchemy as sa

import labledger
from labledger._foundation.errors import ConflictError
from labledger.tracking.query import get_metric_history, get_run
from labledger.workspace import schema
from labledger.workspace.records import run_record
from labledger.workspace.verify import verify_workspace

if TYPE_CHECKING:
    from pathlib import Path

    from labledger.tracking.run import ActiveRun
    from labledger.workspace.workspace import Workspace


def _quiet(run: ActiveRun) -> ActiveRun:
    """The run without its background flush: the test decides when batches are written."""
    run._buffer.stop()
    return run


def _stored(ws: Workspace, run_id: str) -> list[tuple[Any, ...]]:
    m = schema.metrics
    with ws.read() as conn:
        return [
            tuple(row)
            for row in conn.execute(
                sa.select(m.c.seq, m.c.key, m.c.value, m.c.step)
                .where(m.c.run_id == run_id)
                .order_by(m.c.seq)
            )
        ]


def _lose_the_first_reply(run: ActiveRun) -> list[str]:
    """Make the run's next write commit, then fail as if the reply had been lost."""
    from labledger.tracking.metric_buffer import batch_id

    write, seen = run._buffer._write, []

    def committed_then_lost(rows: list[Any]) -> None:
        write(rows)
        seen.append(batch_id(run.id, rows))
        if len(seen) == 1:
            raise ConnectionError("the server closed the connection before answering")

    run._buffer._write = committed_then_lost  # type: ignore[method-assign]
    return seen


def test_a_batch_committed_but_reported_failed_is_written_once(workspace: Workspace) -> None:
    run = _quiet(labledger.start_run("retried", workspace=workspace))
    for step in range(5):
        run.log_metric("loss", 1.0 / (step + 1), step=step)
    sent = _lose_the_first_reply(run)
    with pytest.raises(ConnectionError):
        run.flush()
    run.log_metric("loss", 0.1, step=5)
    run.flush()  # the same batch again, then what was logged since
    run.end()
    # The retry carried the batch as it was, under the same id.
    assert sent == [f"{run.id}:1-5", f"{run.id}:1-5", f"{run.id}:6-6"]
    assert [row[0] for row in _stored(workspace, run.id)] == [1, 2, 3, 4, 5, 6]
    assert [p.step for p in get_metric_history(run.id, "loss", workspace=workspace)] == list(
        range(6)
    )
    assert get_run(run.id, workspace=workspace).metrics == {"loss": 0.1}
    report = verify_workspace(workspace, remember=False)
    assert report.ok, report.problems


def test_a_batch_written_twice_by_the_store_leaves_each_value_once(workspace: Workspace) -> None:
    run = _quiet(labledger.start_run("twice", workspace=workspace))
    rows = [("auc", 0.5, 0, 1.0, 1), ("auc", 0.7, 1, 2.0, 2)]
    for _ in range(2):  # the same batch, sent again under its id
        workspace.stores.runs.log_batch(run.id, metrics=rows, batch_id=f"{run.id}:1-2")
    assert _stored(workspace, run.id) == [(1, "auc", 0.5, 0), (2, "auc", 0.7, 1)]
    assert get_run(run.id, workspace=workspace).metrics == {"auc": 0.7}


def test_a_batch_sent_again_with_other_content_is_refused_and_changes_nothing(
    workspace: Workspace,
) -> None:
    run = _quiet(labledger.start_run("replayed", params={"lr": 0.1}, workspace=workspace))
    run.log_metric("loss", 0.9, step=0, timestamp=1.0)
    run.flush()  # stored as seq 1, under the batch id f"{run.id}:1-1"
    store = workspace.stores.runs
    # The same seq under the same batch id, but another metric: not a retry of what was sent.
    with pytest.raises(ConflictError, match=r"metric seq 1 .* stored already"):
        store.log_batch(
            run.id,
            metrics=[("auc", 0.999, 0, 1.0, 1)],
            params=[("seed", "7", 7.0)],
            batch_id=f"{run.id}:1-1",
        )
    # A stored seq with another value, among new ones: none of it is written either.
    with pytest.raises(ConflictError):
        store.log_batch(run.id, metrics=[("loss", 0.1, 0, 1.0, 1), ("loss", 0.2, 5, 2.0, 2)])
    assert _stored(workspace, run.id) == [(1, "loss", 0.9, 0)]
    assert get_run(run.id, workspace=workspace).metrics == {"loss": 0.9}
    assert get_run(run.id, workspace=workspace).params == {"lr": "0.1"}
    # The same content again is still a no-op, and the run goes on as usual.
    store.log_batch(run.id, metrics=[("loss", 0.9, 0, 1.0, 1)], batch_id=f"{run.id}:1-1")
    run.log_metric("loss", 0.5, step=1, timestamp=2.0)
    run.end()
    assert _stored(workspace, run.id) == [(1, "loss", 0.9, 0), (2, "loss", 0.5, 1)]
    assert get_run(run.id, workspace=workspace).metrics == {"loss": 0.5}
    assert [p.value for p in get_metric_history(run.id, "loss", workspace=workspace)] == [0.9, 0.5]
    assert get_metric_history(run.id, "auc", workspace=workspace) == []
    assert labledger.search_runs("metrics.auc > 0.99", workspace=workspace) == []
    report = verify_workspace(workspace, remember=False)
    assert report.ok, report.problems


def test_a_batch_holding_nan_sent_again_is_a_no_op(workspace: Workspace) -> None:
    run = _quiet(labledger.start_run("nan", workspace=workspace))
    run.log_metric("loss", float("nan"), step=0, timestamp=1.0)
    run.log_metric("loss", 0.5, step=1, timestamp=2.0)
    batch = run._buffer.drain()
    for _ in range(2):  # NaN is stored as NULL and equals nothing, yet this is the same batch
        run._write_metrics(list(batch))
    assert _stored(workspace, run.id) == [(1, "loss", None, 0), (2, "loss", 0.5, 1)]
    run.end()
    report = verify_workspace(workspace, remember=False)
    assert report.ok, report.problems


def _log_in_two_batches(run: ActiveRun, *, reverse: bool) -> None:
    """Log the same values each time, and write them as two batches, in order or reversed."""
    for step in range(3):
        run.log_metric("loss", 1.0 / (step + 1), step=step, timestamp=float(step))
        run.log_metric("acc", step / 10, step=step, timestamp=float(step))
    run.log_metric("acc", 0.25, step=2, timestamp=50.0)  # at the same step as the last acc
    first = run._buffer.drain()
    for step in range(3, 5):
        run.log_metric("loss", 1.0 / (step + 1), step=step, timestamp=100.0 + step)
    run.log_metric("acc", 0.5, step=2, timestamp=10.0)  # the same step again, later, older time
    second = run._buffer.drain()
    for batch in (second, first) if reverse else (first, second):
        run._write_metrics(batch)


def test_batches_committed_in_reverse_seal_the_same_record(workspace: Workspace) -> None:
    records = []
    for reverse in (False, True):
        run = _quiet(labledger.start_run("two batches", workspace=workspace))
        _log_in_two_batches(run, reverse=reverse)
        run.end()
        with workspace.read() as conn:
            records.append(run_record(conn, run.id)["metrics"])
    in_order, reversed_ = records
    assert reversed_ == in_order
    report = verify_workspace(workspace, remember=False)
    assert report.ok, report.problems


def test_latest_values_stay_the_newest_when_batches_arrive_reversed(
    workspace: Workspace,
) -> None:
    run = _quiet(labledger.start_run("reversed", workspace=workspace))
    _log_in_two_batches(run, reverse=True)
    # The latest value: the highest step, then the one logged last (the highest seq).
    assert get_run(run.id, workspace=workspace).metrics == {"acc": 0.5, "loss": 0.2}
    run.end()
    assert get_run(run.id, workspace=workspace).metrics == {"acc": 0.5, "loss": 0.2}
    assert verify_workspace(workspace, remember=False).ok


def test_an_older_row_never_replaces_a_newer_latest_value(workspace: Workspace) -> None:
    run = _quiet(labledger.start_run("late", workspace=workspace))
    store = workspace.stores.runs
    store.log_batch(run.id, metrics=[("loss", 0.2, 4, 9.0, 8)])
    store.log_batch(run.id, metrics=[("loss", 0.9, 1, 99.0, 9)])  # lower step
    store.log_batch(run.id, metrics=[("loss", 0.3, 4, 99.0, 7)])  # lower seq
    assert get_run(run.id, workspace=workspace).metrics == {"loss": 0.2}
    store.log_batch(run.id, metrics=[("loss", 0.1, 4, 1.0, 10)])
    assert get_run(run.id, workspace=workspace).metrics == {"loss": 0.1}


def test_threads_logging_at_once_get_distinct_seqs(workspace: Workspace) -> None:
    import threading

    with labledger.start_run("threads", workspace=workspace) as run:

        def log(key: str) -> None:
            for step in range(2000):
                run.log_metric(key, float(step), step=step)

        threads = [threading.Thread(target=log, args=(f"k{i}",)) for i in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert [row[0] for row in _stored(workspace, run.id)] == list(range(1, 8001))
    assert verify_workspace(workspace, remember=False).ok


def test_a_param_written_again_with_its_value_is_a_no_op(workspace: Workspace) -> None:
    run = _quiet(labledger.start_run("params", params={"lr": 0.1}, workspace=workspace))
    # A write that committed, its reply lost: the client knows nothing of it and sends it again.
    run._params.clear()
    run.log_params({"lr": 0.1, "seed": 7})
    workspace.stores.runs.log_batch(run.id, params=[("seed", "7", 7.0)])
    with pytest.raises(ConflictError, match=r"param 'lr' .* logged already as '0.1'"):
        workspace.stores.runs.log_batch(run.id, params=[("lr", "0.2", 0.2)])
    run.end()
    assert get_run(run.id, workspace=workspace).params == {"lr": "0.1", "seed": "7"}
    assert verify_workspace(workspace, remember=False).ok


def test_swapping_two_values_seq_is_found_by_verify(workspace: Workspace, tmp_path: Path) -> None:
    with labledger.start_run("ordered", workspace=workspace) as run:
        for step in range(3):
            run.log_metric("loss", 1.0 / (step + 1), step=step)
    assert verify_workspace(workspace, remember=False).ok
    db = sqlite3.connect(tmp_path / ".labledger" / "catalog.db")
    with db:
        db.execute("UPDATE metrics SET seq = -seq WHERE run_id = ? AND seq IN (1, 3)", (run.id,))
        db.execute("UPDATE metrics SET seq = 4 + seq WHERE run_id = ? AND seq < 0", (run.id,))
    db.close()
    report = verify_workspace(workspace, remember=False)
    assert not report.ok
    assert any(p.kind == "run" and p.id == run.id for p in report.problems), report.problems
