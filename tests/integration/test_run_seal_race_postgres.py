"""On PostgreSQL, where writers do not queue for the whole catalog as on SQLite, a seal and a batch
of the same run still happen one after the other: a seal waits for a batch in flight and digests
its rows, and a batch that comes after a seal writes nothing."""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING

import pytest

from labledger._foundation.errors import RunStateError
from labledger._foundation.ids import new_id
from labledger.stores.runs import FinishRun, NewRun
from labledger.workspace.sql.run_rows import (
    insert_metrics,
    require_running,
    upsert_latest_metrics,
)
from labledger.workspace.verify import verify_workspace

if TYPE_CHECKING:
    from labledger.workspace.workspace import Workspace

pytestmark = pytest.mark.integration


def _run(workspace: Workspace) -> NewRun:
    new = NewRun(
        new_id(), workspace.project_id(), "race", "run", workspace.actor, "h", 1, time.time()
    )
    workspace.stores.runs.create_run(new)
    return new


def test_a_seal_waits_for_a_batch_in_flight_and_covers_it(pg_workspace: Workspace) -> None:
    store = pg_workspace.stores.runs
    new = _run(pg_workspace)
    rows = [("loss", 0.5, 0, new.started_at, 1)]
    in_flight, release = threading.Event(), threading.Event()

    def batch() -> None:
        # A batch's transaction, held open between its check and its commit.
        with pg_workspace.write() as conn:
            require_running(conn, new.id)
            insert_metrics(conn, new.id, rows)
            upsert_latest_metrics(conn, new.id, rows)
            in_flight.set()
            release.wait(30)

    writer = threading.Thread(target=batch)
    writer.start()
    assert in_flight.wait(30)
    sealed: list[str] = []
    sealer = threading.Thread(
        target=lambda: sealed.append(
            store.finish_run(new.id, FinishRun(status="finished", ended_at=new.started_at + 1))
        )
    )
    sealer.start()
    sealer.join(1.0)
    assert sealer.is_alive(), "the seal did not wait for the batch in flight"
    release.set()
    writer.join(30)
    sealer.join(30)
    assert sealed and store.get_runs([new.id])[0].status == "finished"
    assert [point.value for point in store.metric_history(new.id).items] == [0.5]
    assert verify_workspace(pg_workspace, remember=False).ok


def test_a_batch_after_the_seal_writes_nothing(pg_workspace: Workspace) -> None:
    store = pg_workspace.stores.runs
    new = _run(pg_workspace)
    store.finish_run(new.id, FinishRun(status="finished", ended_at=new.started_at + 1))
    with pytest.raises(RunStateError, match="has ended"):
        store.log_batch(new.id, metrics=[("loss", 0.1, 0, new.started_at, 1)])
    assert store.metric_history(new.id).items == []
    assert verify_workspace(pg_workspace, remember=False).ok
