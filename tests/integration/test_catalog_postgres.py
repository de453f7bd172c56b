"""The catalog on a real PostgreSQL server: migrations, tracking, search and the ledger."""

from __future__ import annotations

import itertools
import math
import threading
import time
from typing import TYPE_CHECKING

import pytest
import sqlalchemy as sa

from labledger.tracking.artifacts import export_artifact
from labledger.tracking.query import compare_runs, get_metric_history, get_run, search_runs
from labledger.tracking.run import start_run
from labledger.workspace import schema
from labledger.workspace.catalog import HEAD_REVISION
from labledger.workspace.ledger import GENESIS_HASH, iter_entries, verify_chain
from labledger.workspace.verify import verify_workspace
from labledger.workspace.workspace import Workspace

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.integration


def test_migrations_apply(pg_workspace: Workspace, fresh_postgres_url: str) -> None:
    assert pg_workspace.catalog.dialect == "postgresql"
    assert pg_workspace.catalog.revision() == HEAD_REVISION
    with pg_workspace.read() as conn:
        tables = set(sa.inspect(conn).get_table_names())
        columns = {c["name"] for c in sa.inspect(conn).get_columns("search_documents")}
    assert set(schema.metadata.tables) <= tables
    assert "tsv" in columns
    # Opening again is cheap and changes nothing.
    with Workspace.open(fresh_postgres_url) as again:
        assert again.project_id() == pg_workspace.project_id()


def test_a_tracked_run_round_trips(pg_workspace: Workspace, tmp_path: Path) -> None:
    with start_run(
        "pg", params={"lr": 0.01, "model": "gbm"}, tags={"team": "assay"}, workspace=pg_workspace
    ) as run:
        for step in range(300):
            run.log_metric("loss", 1.0 / (step + 1))
        run.log_metric("odd", math.nan)
        run.log_metric("edge", math.inf)
        artifact = run.log_artifact(b"weights" * 100, name="model")
    stored = get_run(run.id, workspace=pg_workspace)
    assert stored.status == "finished"
    assert stored.params == {"lr": "0.01", "model": "gbm"}
    assert stored.tags == {"team": "assay"}
    assert stored.metrics["loss"] == 1.0 / 300
    assert math.isnan(stored.metrics["odd"])
    assert stored.metrics["edge"] == math.inf
    assert get_run(run.id[:13], workspace=pg_workspace).id == run.id
    assert len(get_metric_history(run.id, "loss", workspace=pg_workspace)) == 300
    out = export_artifact(artifact, tmp_path / "model.bin", workspace=pg_workspace)
    assert out.read_bytes() == b"weights" * 100
    report = verify_workspace(pg_workspace)
    assert report.ok, report.problems
    assert report.runs_checked == 1


def test_search_with_a_metric_filter(pg_workspace: Workspace) -> None:
    ids = {}
    for name, auc in [("low", 0.6), ("mid", 0.8), ("high", 0.95)]:
        with start_run(name, params={"model": name}, workspace=pg_workspace) as run:
            run.log_metric("auc", auc)
        ids[name] = run.id
    found = search_runs("metrics.auc > 0.7", workspace=pg_workspace)
    assert {r.name for r in found} == {"mid", "high"}
    assert [
        r.name
        for r in search_runs('metrics.auc > 0.7 and params.model = "high"', workspace=pg_workspace)
    ] == ["high"]
    assert compare_runs(list(ids.values()), workspace=pg_workspace).best == {"auc": ids["high"]}


def test_the_ledger_verifies_and_detects_edits(pg_workspace: Workspace) -> None:
    with start_run("sealed", params={"a": 1}, workspace=pg_workspace) as run:
        run.log_metric("m", 1.0)
    with pg_workspace.read() as conn:
        checked, problems = verify_chain(conn)
    assert checked >= 2
    assert problems == []
    with pg_workspace.write() as conn:
        conn.execute(sa.text("UPDATE params SET value = '2' WHERE run_id = :r"), {"r": run.id})
        conn.execute(
            sa.text("UPDATE ledger SET actor = 'mallory' WHERE seq = (SELECT min(seq) FROM ledger)")
        )
    kinds = {(p.kind, p.id) for p in verify_workspace(pg_workspace).problems}
    assert ("run", run.id) in kinds
    assert any(kind == "ledger" for kind, _ in kinds)


def test_concurrent_appends_keep_one_unforked_chain(
    pg_workspace: Workspace, fresh_postgres_url: str
) -> None:
    threads_n, per_thread = 4, 25
    errors: list[BaseException] = []
    barrier = threading.Barrier(threads_n)

    def append(worker: int) -> None:
        try:
            with Workspace.open(fresh_postgres_url) as ws:
                barrier.wait()
                for i in range(per_thread):
                    with ws.write() as conn:
                        # Two entries a transaction, as a seal with artifacts writes: the second
                        # chains to the first without reading the head again.
                        ws.record(conn, "test.concurrent", f"w{worker}", {"worker": worker, "i": i})
                        ws.record(conn, "test.second", f"w{worker}", {"worker": worker, "i": i})
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=append, args=(w,)) for w in range(threads_n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    with pg_workspace.read() as conn:
        entries = list(iter_entries(conn))
        checked, problems = verify_chain(conn)
    assert problems == []
    assert checked == len(entries)
    concurrent = [e for e in entries if e.kind == "test.concurrent"]
    assert len(concurrent) == threads_n * per_thread
    seconds = [e for e in entries if e.kind == "test.second"]
    assert [(e.subject, e.payload) for e in seconds] == [(e.subject, e.payload) for e in concurrent]
    by_seq = {e.seq: e for e in entries}
    assert all(by_seq[e.seq - 1].kind == "test.concurrent" for e in seconds)  # each right after
    assert entries[0].prev_hash == GENESIS_HASH
    assert len({e.prev_hash for e in entries}) == len(entries)
    for before, after in itertools.pairwise(entries):
        assert after.prev_hash == before.hash
    for worker in range(threads_n):
        assert [e.payload["i"] for e in concurrent if e.subject == f"w{worker}"] == list(
            range(per_thread)
        )


def test_pooled_connections_are_checked_only_after_sitting_idle(
    fresh_postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A connection used a moment ago is lent out as it is; one idle for a second or more is
    checked first, and one the database dropped meanwhile is replaced, unseen by the caller."""
    from labledger.workspace import catalog as catalog_module
    from labledger.workspace.catalog import Catalog

    cat = Catalog(fresh_postgres_url)
    pings: list[object] = []
    ping = cat.writer.dialect.do_ping

    def counted(dbapi_connection: object) -> bool:
        pings.append(dbapi_connection)
        return bool(ping(dbapi_connection))

    monkeypatch.setattr(cat.writer.dialect, "do_ping", counted)
    monkeypatch.setattr(catalog_module, "_PING_AFTER_IDLE_S", 0.5)
    try:
        for _ in range(5):
            with cat.writer.connect() as conn:
                backend = conn.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
        assert pings == []  # fresh, then used back to back
        # The database drops the connection while it sits in the pool.
        admin = sa.create_engine(cat.writer.url, poolclass=sa.pool.NullPool)
        with admin.connect() as other:
            other.execute(sa.text("SELECT pg_terminate_backend(:p)"), {"p": backend})
        admin.dispose()
        time.sleep(0.6)
        with cat.writer.connect() as conn:
            assert conn.execute(sa.text("SELECT 1")).scalar_one() == 1
        assert len(pings) >= 1
    finally:
        cat.dispose()


def test_reads_open_no_transaction_and_verify_reads_one_snapshot(pg_workspace: Workspace) -> None:
    from psycopg.pq import TransactionStatus

    run = start_run("r", workspace=pg_workspace)
    run.log_metric("loss", 0.5)
    run.end()
    with pg_workspace.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(schema.runs)).scalar() == 1
        # No BEGIN was sent, so none is rolled back when the pool takes the connection back.
        raw = conn.connection.dbapi_connection
        assert raw is not None and raw.info.transaction_status == TransactionStatus.IDLE
    with pg_workspace.read() as conn:
        conn.execution_options(isolation_level="REPEATABLE READ")  # as verify asks
        first = conn.execute(sa.text("SELECT txid_current()")).scalar()
        assert conn.execute(sa.text("SELECT txid_current()")).scalar() == first  # one transaction
    with pg_workspace.read() as conn:  # the pool lent it back in autocommit
        raw = conn.connection.dbapi_connection
        assert raw is not None and raw.autocommit
    assert verify_workspace(pg_workspace, blobs=False).ok


def test_a_write_locks_the_ledger_and_reads_its_head_once(pg_workspace: Workspace) -> None:
    from labledger.workspace.ledger import lock_ledger

    statements: list[str] = []

    def note(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        statements.append(statement)

    sa.event.listen(pg_workspace.catalog.writer, "before_cursor_execute", note)
    try:
        with pg_workspace.write() as conn:
            lock_ledger(conn)
            for i in range(3):
                pg_workspace.record(conn, "test.once", "s", {"i": i})
        with pg_workspace.write() as conn:  # a new transaction takes the lock again
            pg_workspace.record(conn, "test.once", "s", {"i": 3})
    finally:
        sa.event.remove(pg_workspace.catalog.writer, "before_cursor_execute", note)
    assert sum("pg_advisory_xact_lock" in s for s in statements) == 2
    assert sum(s.lstrip().startswith("SELECT ledger.seq, ledger.hash") for s in statements) == 2
    with pg_workspace.read() as conn:
        _, problems = verify_chain(conn)
        once = [e.payload["i"] for e in iter_entries(conn, kind="test.once")]
    assert problems == [] and once == [0, 1, 2, 3]
