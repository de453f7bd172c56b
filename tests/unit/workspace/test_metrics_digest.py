"""A run's metrics digest read in two parts (rows read before the seal's write, then the rows
stored since) equals the digest of every row read at once, and falls back to every row when a
row came in below what the first part read."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from labledger._foundation.ids import new_id
from labledger.stores.runs import NewRun
from labledger.workspace.records import metrics_digest

if TYPE_CHECKING:
    from labledger.stores.runs import MetricRow
    from labledger.workspace.workspace import Workspace


def _run(workspace: Workspace) -> str:
    run = NewRun(
        id=new_id(),
        project_id=workspace.project_id("default"),
        name="digested",
        kind="run",
        host="here",
        pid=1,
        started_at=time.time(),
        environment_digest=None,
        git_commit=None,
        git_dirty=None,
        user="me",
    )
    workspace.stores.runs.create_run(run, params=[], tags=[], blobs=[])
    return run.id


def _rows(seqs: range | list[int]) -> list[MetricRow]:
    return [("loss" if q % 2 else "acc", q / 3, q, 1000.0 + q, q) for q in seqs]


def _digest(workspace: Workspace, run_id: str, known: object = None) -> tuple[object, ...]:
    with workspace.read() as conn:
        found = metrics_digest(conn, run_id, known=known)  # type: ignore[arg-type]
    return found.digest, found.count, found.last_seq, found.summary()


def test_rows_stored_after_the_first_read_are_digested_onto_it(workspace: Workspace) -> None:
    run_id = _run(workspace)
    store = workspace.stores.runs
    store.log_batch(run_id, metrics=_rows(range(1, 501)))
    with workspace.read() as conn:
        known = metrics_digest(conn, run_id)
    assert (known.count, known.last_seq) == (500, 500)
    assert _digest(workspace, run_id, known) == _digest(workspace, run_id)  # nothing new
    store.log_batch(run_id, metrics=_rows(range(501, 701)))
    assert _digest(workspace, run_id, known) == _digest(workspace, run_id)
    assert known.count == 500  # the earlier digest is left as it was


def test_a_row_below_the_first_reads_last_seq_means_reading_every_row(
    workspace: Workspace,
) -> None:
    run_id = _run(workspace)
    store = workspace.stores.runs
    store.log_batch(run_id, metrics=_rows([1, 2, 3, 5, 6]))
    with workspace.read() as conn:
        known = metrics_digest(conn, run_id)
    store.log_batch(run_id, metrics=_rows([4, 7]))  # a late batch, below seq 6
    again = _digest(workspace, run_id, known)
    assert again == _digest(workspace, run_id)
    assert again[1:3] == (7, 7)


def test_a_run_without_rows_then_with_some(workspace: Workspace) -> None:
    run_id = _run(workspace)
    with workspace.read() as conn:
        known = metrics_digest(conn, run_id)
    assert (known.count, known.last_seq) == (0, 0)
    workspace.stores.runs.log_batch(run_id, metrics=_rows(range(1, 4)))
    assert _digest(workspace, run_id, known) == _digest(workspace, run_id)
