"""On PostgreSQL, metric batches are exactly-once per run, and migration 0005 numbers the rows of a
catalog made before it without breaking a seal."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
import sqlalchemy as sa

import labledger
from labledger._foundation.errors import ConflictError
from labledger.tracking.query import get_run
from labledger.workspace import schema
from labledger.workspace.records import run_record
from labledger.workspace.verify import verify_workspace
from labledger.workspace.workspace import Workspace
from tests.unit.tracking.test_metric_batches import (
    _log_in_two_batches,
    _lose_the_first_reply,
    _quiet,
    _stored,
)

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.integration


def test_a_retried_batch_writes_nothing_twice(pg_workspace: Workspace) -> None:
    ws = pg_workspace
    run = _quiet(labledger.start_run("retried", params={"lr": 0.1}, workspace=ws))
    for step in range(5):
        run.log_metric("loss", 1.0 / (step + 1), step=step)
    _lose_the_first_reply(run)
    with pytest.raises(ConnectionError):
        run.flush()
    run.flush()
    ws.stores.runs.log_batch(run.id, params=[("lr", "0.1", 0.1)])  # the same value: a no-op
    with pytest.raises(ConflictError):
        ws.stores.runs.log_batch(run.id, params=[("lr", "0.2", 0.2)])
    run.end()
    assert [row[0] for row in _stored(ws, run.id)] == [1, 2, 3, 4, 5]
    assert get_run(run.id, workspace=ws).metrics == {"loss": 0.2}
    report = verify_workspace(ws, remember=False)
    assert report.ok, report.problems


def test_reversed_batches_seal_the_same_record_and_latest_values(pg_workspace: Workspace) -> None:
    ws = pg_workspace
    records, latest = [], []
    for reverse in (False, True):
        run = _quiet(labledger.start_run("two batches", workspace=ws))
        _log_in_two_batches(run, reverse=reverse)
        run.end()
        with ws.read() as conn:
            records.append(run_record(conn, run.id)["metrics"])
        latest.append(get_run(run.id, workspace=ws).metrics)
    assert records[0] == records[1]
    assert latest == [{"acc": 0.5, "loss": 0.2}] * 2
    report = verify_workspace(ws, remember=False)
    assert report.ok, report.problems


def test_stored_rows_are_read_back_only_for_a_batch_sent_again(
    pg_workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    from labledger.workspace.sql import runs as sql_runs

    checked: list[int] = []
    real = sql_runs.check_replayed_metrics

    def spy(conn: Any, run_id: str, rows: Any) -> None:
        checked.append(len(rows))
        real(conn, run_id, rows)

    monkeypatch.setattr(sql_runs, "check_replayed_metrics", spy)
    run = _quiet(labledger.start_run("hot", workspace=pg_workspace))
    for step in range(1500):  # past one batched INSERT
        run.log_metrics({"a": 1.0, "b": float(step)}, step=step)
    batch = run._buffer.drain()
    run._write_metrics(list(batch))
    assert checked == []  # every row new: nothing is read back
    run._write_metrics(list(batch))
    assert checked == [3000]
    with pytest.raises(ConflictError):
        pg_workspace.stores.runs.log_batch(run.id, metrics=[("a", 2.0, 0, 0.0, 1)])
    run.end()
    assert get_run(run.id, workspace=pg_workspace).metrics == {"a": 1.0, "b": 1499.0}
    report = verify_workspace(pg_workspace, remember=False)
    assert report.ok, report.problems


def test_a_catalog_at_revision_0004_keeps_every_seal_valid(
    fresh_postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from labledger.workspace.catalog import HEAD_REVISION

    monkeypatch.setenv("LABLEDGER_STORE", str(tmp_path / "objects"))
    with Workspace.init(fresh_postgres_url) as ws:
        first = labledger.start_run("first", workspace=ws)
        second = labledger.start_run("second", workspace=ws)
        for step in range(3):  # the two runs' rows interleave in metrics.id
            for run in (first, second):
                run.log_metric("loss", 1.0 / (step + 1), step=step)
                run.flush()
        second.end()
        first.end()
        with ws.write() as conn:
            # As revision 0004 left the tables.
            conn.exec_driver_sql("DROP INDEX ux_metrics_run_seq")
            conn.exec_driver_sql("ALTER TABLE metrics DROP COLUMN seq")
            conn.exec_driver_sql("ALTER TABLE latest_metrics DROP COLUMN seq")
            conn.exec_driver_sql("UPDATE alembic_version SET version_num = '0004'")
    assert Workspace.migrate(fresh_postgres_url).changed
    with Workspace.open(fresh_postgres_url) as ws:
        assert ws.catalog.revision() == HEAD_REVISION
        m = schema.metrics
        with ws.read() as conn:
            numbered = conn.execute(sa.select(m.c.run_id, m.c.seq).order_by(m.c.id)).all()
            columns = {
                (c["name"], c["nullable"]) for c in sa.inspect(conn).get_columns("latest_metrics")
            }
        for run in (first, second):
            assert [seq for run_id, seq in numbered if run_id == run.id] == [1, 2, 3]
        assert ("seq", False) in columns
        report = verify_workspace(ws, remember=False)
        assert report.ok, report.problems
        # The unique index is there: a batch sent again after the upgrade adds nothing, and one
        # with other content under a stored seq is refused.
        with ws.read() as conn:
            row = conn.execute(
                sa.select(m.c.key, m.c.value, m.c.step, m.c.timestamp, m.c.seq).where(
                    m.c.run_id == first.id, m.c.seq == 1
                )
            ).one()
        ws.stores.runs.log_batch(first.id, metrics=[tuple(row)])
        with pytest.raises(ConflictError):
            ws.stores.runs.log_batch(first.id, metrics=[("loss", 1.0, 0, 1.0, 1)])
        assert len(_stored(ws, first.id)) == 3
        assert verify_workspace(ws, remember=False).ok


def test_rows_sent_as_json_are_stored_as_rows_sent_as_column_arrays(
    pg_workspace: Workspace,
) -> None:
    import math
    import struct

    from labledger.workspace.sql import run_rows

    ws = pg_workspace
    runs = [_quiet(labledger.start_run(f"r{i}", workspace=ws)) for i in range(2)]
    tricky = [
        0.1, 1 / 3, -0.0, 5e-324, -2.2250738585072014e-308, 1.7976931348623157e308,
        -1.7976931348623157e308, 2.0**53 + 2, 1e-7, 123456789.123456789, None,
    ]  # fmt: skip
    rows = [
        (f'k{i % 3}-\u00e9"q', value, 2**62 + i if i % 2 else -i, 1.7e9 + i / 3, i + 1)
        for i, value in enumerate(tricky)
    ]
    with ws.write() as conn:
        assert run_rows._pg_insert_metrics(conn, runs[0].id, rows) == len(rows)  # as JSON
        assert run_rows._pg_insert_metric_columns(conn, runs[1].id, rows) == len(rows)
        # Sent again: nothing new either way.
        assert run_rows._pg_insert_metrics(conn, runs[0].id, rows) == 0
    m = schema.metrics
    read = sa.select(m.c.key, m.c.value, m.c.step, m.c.timestamp, m.c.seq).order_by(m.c.seq)
    with ws.read() as conn:
        stored = [conn.execute(read.where(m.c.run_id == run.id)).all() for run in runs]

    def bits(row: Any) -> tuple[Any, ...]:
        key, value, step, at, seq = row
        exact = None if value is None else struct.pack(">d", value)
        return key, exact, step, struct.pack(">d", at), seq

    assert [bits(r) for r in stored[0]] == [bits(r) for r in stored[1]] == [bits(r) for r in rows]
    # Infinities are no JSON: such a batch goes as column arrays, and reads back the same.
    infinite = [("inf", math.inf, 0, 1.0, 100), ("inf", -math.inf, 1, 1.0, 101)]
    with ws.write() as conn:
        assert run_rows._pg_insert_metrics(conn, runs[0].id, infinite) == 2
    with ws.read() as conn:
        back = conn.execute(read.where(m.c.run_id == runs[0].id, m.c.seq >= 100)).all()
    assert [tuple(r) for r in back] == infinite
    for run in runs:
        run.end()


def test_batches_of_one_run_through_two_replicas_at_once_never_deadlock(
    fresh_postgres_url: str, pg_workspace: Workspace
) -> None:
    """Batches of one run upsert its latest values in key order, so two transactions showing the
    same keys wait for each other instead of each locking a row the other needs."""
    import os
    import random
    import threading
    import time

    from labledger._foundation.ids import new_id
    from labledger.stores.runs import FinishRun, NewRun

    run_id = new_id()
    pg_workspace.stores.runs.create_run(
        NewRun(run_id, pg_workspace.project_id(), "two writers", "run", pg_workspace.actor,
               pg_workspace.host, os.getpid(), time.time())
    )  # fmt: skip
    keys = [f"k{i}" for i in range(12)]
    replicas = [pg_workspace, Workspace.open(fresh_postgres_url)]
    errors: list[BaseException] = []
    seqs = iter(range(1, 1_000_000))
    lock = threading.Lock()

    def write(index: int) -> None:
        rng = random.Random(index)
        store = replicas[index % 2].stores.runs
        for step in range(40):
            order = keys[:]
            rng.shuffle(order)  # each batch shows the keys in another order
            with lock:
                rows = [(key, rng.random(), step, 1.7e9 + step, next(seqs)) for key in order]
            try:
                store.log_batch(run_id, metrics=rows)
            except BaseException as error:
                errors.append(error)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    replicas[1].close()
    assert errors == []
    with pg_workspace.read() as conn:
        count = conn.execute(
            sa.select(sa.func.count()).where(schema.metrics.c.run_id == run_id)
        ).scalar_one()
    assert count == 8 * 40 * len(keys)
    pg_workspace.stores.runs.finish_run(run_id, FinishRun("finished", time.time()))
    assert verify_workspace(pg_workspace, blobs=False).ok
