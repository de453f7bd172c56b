"""A run's rows are the same whether SQLite gets them from the driver or through SQLAlchemy.

On SQLite the run store writes a run's lifecycle through the sqlite3 connection; PostgreSQL, and SQLite with that
path switched off here, write the same rows through SQLAlchemy (PostgreSQL itself is covered by the
integration tests).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
import sqlalchemy as sa

from labledger._foundation.errors import ConflictError
from labledger.metadata import define_field, set_metadata
from labledger.tracking.run import start_run
from labledger.workspace import ledger, records, schema, search_index, workspace
from labledger.workspace.ledger import verify_chain
from labledger.workspace.sql import run_rows
from labledger.workspace.sql import runs as sql_runs
from labledger.workspace.verify import verify_workspace
from labledger.workspace.workspace import Workspace

if TYPE_CHECKING:
    from pathlib import Path

# Modules that pick the driver path on SQLite.
_DRIVER_USERS = (run_rows, ledger, search_index, records, workspace)


def _lifecycle(ws: Workspace) -> None:
    """Every kind of write a run makes, in the order a script makes them."""
    define_field("assay", "text", workspace=ws)
    with start_run(
        "fit", params={"lr": 0.1, "layers": [64, 32]}, tags={"team": "assay"}, workspace=ws
    ) as run:
        run.log_params({"seed": 7, "model": "gbm"})
        for step in range(3):
            run.log_metrics({"loss": 1.0 / (step + 1), "auc": 0.5 + step / 10}, step=step)
        run.flush()
        run.log_metric("loss", float("nan"), step=3, timestamp=1.0)
        # Two batches committed in reverse, then the first sent again (its reply lost). The
        # background flusher is stopped first, so that it cannot send either batch itself.
        run.flush()
        run._buffer.stop()
        run.log_metric("auc", 0.9, step=2, timestamp=3.0)
        first = run._buffer.drain()
        run.log_metric("auc", 0.8, step=2, timestamp=2.0)
        second = run._buffer.drain()
        for batch in (second, first, first):
            run._write_metrics(list(batch))
        # The first batch's seqs again, with other values: refused, and nothing of it written.
        other = [(key, -1.0, step, ts, seq) for key, _, step, ts, seq in first]
        with pytest.raises(ConflictError):
            ws.stores.runs.log_batch(run.id, metrics=other, batch_id="replayed")
        run.log_params({"seed": 7})  # again, the same value
        set_metadata(("run", run.id), {"assay": "elisa"}, workspace=ws)
    run.set_tags({"reviewed": "yes"})
    with start_run("second", workspace=ws) as second:
        second.log_metric("loss", 2.0, timestamp=2.0)
    with pytest.raises(RuntimeError), start_run("raises", workspace=ws):
        raise RuntimeError("failed on purpose")


def _rows(ws: Workspace) -> dict[str, list[tuple[Any, ...]]]:
    """The catalog's content without ids, times and digests, which differ between two workspaces."""
    runs, params, metrics = schema.runs, schema.params, schema.metrics
    with ws.read() as conn:
        names = dict(conn.execute(sa.select(runs.c.id, runs.c.name)).all())

        def keyed(query: Any) -> list[tuple[Any, ...]]:
            rows = [(names.get(row[0], row[0]), *row[1:]) for row in conn.execute(query)]
            return sorted(rows, key=repr)

        return {
            "runs": keyed(
                sa.select(runs.c.id, runs.c.kind, runs.c.status, runs.c.git_dirty, runs.c.pid)
            ),
            "errors": keyed(sa.select(runs.c.id, runs.c.error.is_(None))),
            "params": keyed(sa.select(params)),
            "tags": keyed(sa.select(schema.tags)),
            "metrics": keyed(
                sa.select(
                    metrics.c.run_id, metrics.c.key, metrics.c.value, metrics.c.step, metrics.c.seq
                )
            ),
            "latest": keyed(
                sa.select(
                    schema.latest_metrics.c.run_id,
                    schema.latest_metrics.c.key,
                    schema.latest_metrics.c.value,
                    schema.latest_metrics.c.step,
                    schema.latest_metrics.c.seq,
                )
            ),
            "documents": keyed(
                sa.select(
                    schema.search_documents.c.target_id,
                    schema.search_documents.c.title,
                    schema.search_documents.c.body,
                )
            ),
            "ledger": [
                (row.kind, row.actor, row.signature is None)
                for row in conn.execute(sa.select(schema.ledger).order_by(schema.ledger.c.seq))
            ],
            "blobs": [
                (conn.execute(sa.select(sa.func.count()).select_from(schema.blobs)).scalar(),)
            ],
        }


def test_driver_and_sqlalchemy_paths_write_the_same_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Workspace.init(tmp_path / "driver") as fast:
        _lifecycle(fast)
        expected = _rows(fast)
        assert verify_workspace(fast).ok
    for module in _DRIVER_USERS:
        monkeypatch.setattr(module, "driver_connection", lambda conn: None)
    with Workspace.init(tmp_path / "portable") as portable:
        _lifecycle(portable)
        assert _rows(portable) == expected
        assert verify_workspace(portable).ok
        with portable.read() as conn:
            checked, problems = verify_chain(conn)
        assert checked == len(expected["ledger"])
        assert problems == []


@pytest.mark.parametrize("path", ["driver", "sqlalchemy"])
def test_stored_rows_are_read_back_only_for_a_batch_sent_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, path: str
) -> None:
    if path == "sqlalchemy":
        monkeypatch.setattr(run_rows, "driver_connection", lambda conn: None)
    checked: list[int] = []
    real = sql_runs.check_replayed_metrics

    def spy(conn: Any, run_id: str, rows: Any) -> None:
        checked.append(len(rows))
        real(conn, run_id, rows)

    monkeypatch.setattr(sql_runs, "check_replayed_metrics", spy)
    with Workspace.init(tmp_path) as ws, start_run("hot", workspace=ws) as run:
        run._buffer.stop()
        for step in range(1500):  # past one batched INSERT of the SQLAlchemy path
            run.log_metrics({"a": 1.0, "b": float(step)}, step=step)
        batch = run._buffer.drain()
        run._write_metrics(list(batch))
        assert checked == []  # every row new: nothing is read back
        run._write_metrics(list(batch))
        assert checked == [3000]


def test_the_driver_path_is_taken_on_sqlite(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Workspace.init(tmp_path) as ws:
        taken: list[str] = []
        real = run_rows.driver_connection

        def spy(conn: Any) -> Any:
            driver = real(conn)
            taken.append(type(driver).__module__)
            return driver

        monkeypatch.setattr(run_rows, "driver_connection", spy)
        with start_run("fast", params={"a": 1}, workspace=ws) as run:
            run.log_metric("m", 1.0)
        assert taken
        assert set(taken) == {"sqlite3"}


def test_driver_and_sqlalchemy_paths_read_the_same_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from labledger.tracking import search_runs
    from labledger.workspace.sql import run_reads

    with Workspace.init(tmp_path) as ws:
        _lifecycle(ws)
        with start_run("nan", params={"a": 1}, tags={"t": "x"}, workspace=ws) as run:
            run.log_metric("loss", float("nan"))
        fast = search_runs(workspace=ws)
        monkeypatch.setattr(run_reads, "driver_connection", lambda conn: None)
        portable = search_runs(workspace=ws)
    assert len(fast) >= 2 and any(r.params and r.metrics and r.tags for r in fast)
    assert repr(fast) == repr(portable)  # repr: a NaN metric equals itself there
