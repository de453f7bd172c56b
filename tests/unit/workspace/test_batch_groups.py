"""Metric batches of concurrent writers written together: every batch once, each caller's own
answer, and the same rows as batches written one by one."""

from __future__ import annotations

import math
import threading
import time
from typing import TYPE_CHECKING

import pytest
import sqlalchemy as sa

from labledger._foundation.errors import ConflictError, RunStateError
from labledger.stores.runs import FinishRun
from labledger.workspace import schema
from labledger.workspace.sql.batch_groups import BatchGroups, GroupedBatch
from labledger.workspace.verify import verify_workspace
from labledger.workspace.workspace import Workspace
from tests.unit.workspace.store_runs import store_run

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence
    from pathlib import Path

    from labledger.stores.runs import MetricRow


class _Recorder:
    """``alone`` and ``together`` that note what they wrote; the first batch written alone
    waits for ``release``, so the batches sent meanwhile queue up behind it."""

    def __init__(self, together: Callable[[Sequence[GroupedBatch]], bool] | None = None) -> None:
        self.alone_runs: list[str] = []
        self.groups: list[list[str]] = []
        self.release = threading.Event()
        self._together = together
        self._first = True

    def alone(self, batch: GroupedBatch) -> None:
        if self._first:
            self._first = False
            assert self.release.wait(10)
        if batch.run_id.startswith("bad"):
            raise RunStateError(f"{batch.run_id} has ended")
        self.alone_runs.append(batch.run_id)

    def together(self, batches: Sequence[GroupedBatch]) -> bool:
        self.groups.append([b.run_id for b in batches])
        return True if self._together is None else self._together(batches)


def _send(
    groups: BatchGroups, recorder: _Recorder, run_ids: list[str]
) -> dict[str, BaseException | None]:
    """Each run's batch from a thread of its own, the first alone until the others wait."""
    answers: dict[str, BaseException | None] = {}

    def send(run_id: str) -> None:
        try:
            groups.write(run_id, [("m", 1.0, 0, 0.0, 1)])
            answers[run_id] = None
        except BaseException as error:
            answers[run_id] = error

    first = threading.Thread(target=send, args=(run_ids[0],))
    first.start()
    while not groups._writing:
        time.sleep(0.001)
    others = [threading.Thread(target=send, args=(run_id,)) for run_id in run_ids[1:]]
    for thread in others:
        thread.start()
    while len(groups._waiting) < len(others):
        time.sleep(0.001)
    recorder.release.set()
    for thread in (first, *others):
        thread.join(10)
        assert not thread.is_alive()
    return answers


def test_batches_sent_while_one_is_written_go_in_together() -> None:
    recorder = _Recorder()
    groups = BatchGroups(recorder.alone, recorder.together)
    answers = _send(groups, recorder, [f"r{i}" for i in range(6)])
    assert recorder.alone_runs == ["r0"]
    assert [sorted(group) for group in recorder.groups] == [[f"r{i}" for i in range(1, 6)]]
    assert answers == {f"r{i}": None for i in range(6)}
    assert not groups._writing
    groups.write("later", [("m", 1.0, 0, 0.0, 1)])  # alone: nothing else waits
    assert recorder.alone_runs[-1] == "later"


@pytest.mark.parametrize("refusal", ["declined", "raised"])
def test_a_group_that_cannot_go_in_together_is_written_batch_by_batch(refusal: str) -> None:
    def refuse(batches: Sequence[GroupedBatch]) -> bool:
        if refusal == "raised":
            raise RuntimeError("the insert failed")
        return False

    recorder = _Recorder(refuse)
    groups = BatchGroups(recorder.alone, recorder.together)
    answers = _send(groups, recorder, ["r0", "r1", "bad", "r3"])
    # Each batch got the answer it would have had alone: only the bad one failed.
    assert sorted(recorder.alone_runs) == ["r0", "r1", "r3"]
    assert isinstance(answers.pop("bad"), RunStateError)
    assert answers == {"r0": None, "r1": None, "r3": None}


def test_the_writing_is_handed_to_a_waiting_batch_and_nobody_is_left_waiting() -> None:
    written: list[str] = []
    lock = threading.Lock()

    def alone(batch: GroupedBatch) -> None:
        time.sleep(0.001)
        with lock:
            written.append(batch.run_id)

    def together(batches: Sequence[GroupedBatch]) -> bool:
        time.sleep(0.002)
        with lock:
            written.extend(b.run_id for b in batches)
        return True

    groups = BatchGroups(alone, together)
    threads = [
        threading.Thread(
            target=lambda i=i: [
                groups.write(f"t{i}-{n}", [("m", 1.0, n, 0.0, n)]) for n in range(40)
            ]
        )
        for i in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
        assert not thread.is_alive()
    assert sorted(written) == sorted(f"t{i}-{n}" for i in range(8) for n in range(40))
    assert not groups._writing and not groups._waiting


# -- on a real catalog -------------------------------------------------------------------------


@pytest.fixture
def ws(tmp_path: Path) -> Iterator[Workspace]:
    workspace = Workspace.init(tmp_path / "ws")
    try:
        yield workspace
    finally:
        workspace.close()


def _rows(first_seq: int, count: int, *, step_down: bool = False) -> list[MetricRow]:
    rows: list[MetricRow] = []
    for n in range(count):
        seq = first_seq + n
        step = (count - n) if step_down else seq
        rows.append((f"k{seq % 3}", seq / 7 if seq % 5 else None, step, 1_700_000_000.0 + seq, seq))
    return rows


def _tables(ws: Workspace, run_ids: list[str]) -> tuple[list[tuple], list[tuple]]:
    order = {run_id: i for i, run_id in enumerate(run_ids)}
    m, lm = schema.metrics, schema.latest_metrics
    with ws.read() as conn:
        metrics = conn.execute(
            sa.select(m.c.run_id, m.c.key, m.c.value, m.c.step, m.c.timestamp, m.c.seq)
        ).all()
        latest = conn.execute(sa.select(lm)).all()

    def named(rows: Sequence[sa.Row]) -> list[tuple]:
        # By run and seq (NULL stands for NaN, and does not sort).
        return sorted(((order[row[0]], *row[1:]) for row in rows), key=lambda r: (r[0], r[-1]))

    return named(metrics), named(latest)


def _batches(run_ids: list[str]) -> list[tuple[str, list[MetricRow]]]:
    """Three batches a run, two of them of one run out of step order."""
    batches = []
    for i, run_id in enumerate(run_ids):
        batches += [
            (run_id, _rows(1, 40)),
            (run_id, _rows(41, 40, step_down=i == 0)),
            (run_id, _rows(81, 7)),
        ]
    return batches


def test_grouped_batches_write_the_rows_batches_alone_write(tmp_path: Path) -> None:
    grouped, alone = Workspace.init(tmp_path / "g"), Workspace.init(tmp_path / "a")
    try:
        g_runs, a_runs = (
            [store_run(grouped) for _ in range(4)],
            [store_run(alone) for _ in range(4)],
        )
        store = grouped.stores.runs
        # One group of everything (the store's own grouping path), and each batch alone.
        with grouped.write() as conn:
            from labledger.workspace.sql.run_rows import insert_metric_groups

            assert insert_metric_groups(conn, _batches(g_runs))
        for run_id, rows in _batches(a_runs):
            with alone.write() as conn:
                alone.stores.runs._write_metrics(conn, run_id, rows)
        assert _tables(grouped, g_runs) == _tables(alone, a_runs)
        for run_id in g_runs:
            store.finish_run(run_id, FinishRun("finished", time.time()))
        assert verify_workspace(grouped, blobs=False).ok
    finally:
        grouped.close()
        alone.close()


def test_concurrent_writers_through_the_store(ws: Workspace) -> None:
    runs = [store_run(ws) for _ in range(6)]
    ended = store_run(ws)
    ws.stores.runs.log_batch(ended, metrics=_rows(1, 10))
    ws.stores.runs.finish_run(ended, FinishRun("finished", time.time()))
    errors: dict[str, list[BaseException]] = {run_id: [] for run_id in [*runs, ended]}

    def write(run_id: str, batches: list[list[MetricRow]]) -> None:
        for rows in batches:
            try:
                ws.stores.runs.log_batch(run_id, metrics=rows)
            except (RunStateError, ConflictError) as error:
                errors[run_id].append(error)

    plan = {run_id: [_rows(1 + 50 * b, 50) for b in range(20)] for run_id in runs}
    plan[runs[0]].insert(5, _rows(1, 50))  # sent again: a no-op
    changed = _rows(51, 50)
    changed[3] = (changed[3][0], 123.0, *changed[3][2:])
    plan[runs[1]].append(changed)  # sent again with another value: refused
    plan[ended] = [_rows(1, 10), _rows(11, 10)]  # the same rows: a no-op; new ones: refused
    threads = [threading.Thread(target=write, args=item) for item in plan.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert [type(e) for e in errors[runs[1]]] == [ConflictError]
    assert [type(e) for e in errors[ended]] == [RunStateError]
    assert all(not errors[run_id] for run_id in runs[2:] + runs[:1])
    with ws.read() as conn:
        counts = dict(
            conn.execute(
                sa.select(schema.metrics.c.run_id, sa.func.count()).group_by(
                    schema.metrics.c.run_id
                )
            ).all()
        )
    assert counts == {**{run_id: 1000 for run_id in runs}, ended: 10}
    for run_id in runs:
        ws.stores.runs.finish_run(run_id, FinishRun("finished", time.time()))
        latest = ws.stores.runs.get_runs([run_id])[0].metrics
        # k1's last value is at seq 1000, a NaN (every fifth value is).
        assert latest["k0"] == 999 / 7 and latest["k2"] == 998 / 7 and math.isnan(latest["k1"])
    assert verify_workspace(ws, blobs=False).ok
