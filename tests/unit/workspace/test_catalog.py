"""The catalog database: engine settings, migrations and the full-text index."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import sqlalchemy as sa

from labledger._foundation.errors import (
    ConfigurationError,
    SchemaOutdatedError,
    WorkspaceUnreadableError,
)
from labledger.workspace import schema
from labledger.workspace.catalog import HEAD_REVISION, Catalog, upgrade
from labledger.workspace.workspace import Workspace

if TYPE_CHECKING:
    from collections.abc import Iterator


@pytest.fixture
def catalog(tmp_path: Path) -> Iterator[Catalog]:
    cat = Catalog(f"sqlite:///{tmp_path / 'catalog.db'}")
    try:
        yield cat
    finally:
        cat.dispose()


def test_new_database_has_no_revision_until_upgraded(catalog: Catalog) -> None:
    assert catalog.dialect == "sqlite"
    assert catalog.revision() is None
    upgrade(catalog)
    assert catalog.revision() == HEAD_REVISION
    upgrade(catalog)  # cheap and harmless when already there
    assert catalog.revision() == HEAD_REVISION


def test_migration_creates_every_table(catalog: Catalog) -> None:
    upgrade(catalog)
    with catalog.reader.connect() as conn:
        tables = set(sa.inspect(conn).get_table_names())
    assert set(schema.metadata.tables) <= tables
    assert "search_fts" in tables


def test_a_catalog_at_the_first_revision_upgrades_in_place(catalog: Catalog) -> None:
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(Path(schema.__file__).with_name("migrations")))
    with catalog.writer.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0001")
        conn.execute(
            schema.projects.insert(),
            {"id": "p1", "name": "kept", "description": "", "created_at": 1.0},
        )
    assert catalog.revision() == "0001"
    with catalog.reader.connect() as conn:
        assert "tasks" not in sa.inspect(conn).get_table_names()
    upgrade(catalog)
    assert catalog.revision() == HEAD_REVISION
    with catalog.reader.connect() as conn:
        assert {"tasks", "task_inputs", "task_outputs"} <= set(sa.inspect(conn).get_table_names())
        assert conn.execute(sa.select(schema.projects.c.name)).scalars().all() == ["kept"]


def test_a_catalog_written_at_revision_0002_gains_the_0003_columns(catalog: Catalog) -> None:
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(Path(schema.__file__).with_name("migrations")))
    with catalog.writer.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0002")
        # As revision 0002 wrote them before these columns existed.
        conn.exec_driver_sql("ALTER TABLE pipeline_runs DROP COLUMN facts_digest")
        conn.exec_driver_sql("ALTER TABLE pipeline_runs DROP COLUMN replay_error")
        conn.exec_driver_sql("ALTER TABLE tasks DROP COLUMN logged_digest")
    upgrade(catalog)
    assert catalog.revision() == HEAD_REVISION
    with catalog.reader.connect() as conn:
        inspector = sa.inspect(conn)
        runs = {c["name"] for c in inspector.get_columns("pipeline_runs")}
        tasks = {c["name"] for c in inspector.get_columns("tasks")}
    assert {"facts_digest", "replay_error"} <= runs
    assert "logged_digest" in tasks


def test_sqlite_connection_settings(catalog: Catalog) -> None:
    upgrade(catalog)
    for engine in (catalog.writer, catalog.reader):
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 60_000


def test_foreign_keys_are_enforced(workspace: Workspace) -> None:
    with pytest.raises(sa.exc.IntegrityError), workspace.write() as conn:
        conn.execute(
            schema.params.insert(),
            {"run_id": "no-such-run", "key": "k", "value": "v", "value_num": None},
        )


def test_writers_take_the_lock_up_front(catalog: Catalog) -> None:
    upgrade(catalog)
    order: list[str] = []
    holding = threading.Event()

    def first() -> None:
        with catalog.writer.begin() as conn:
            holding.set()
            time.sleep(0.3)
            conn.execute(sa.text("CREATE TABLE probe (x INTEGER)"))
            order.append("first")

    thread = threading.Thread(target=first)
    thread.start()
    holding.wait(5)
    with catalog.writer.begin() as conn:
        # BEGIN IMMEDIATE waited for the first writer instead of failing or interleaving.
        order.append("second")
        conn.execute(sa.text("INSERT INTO probe VALUES (1)"))
    thread.join()
    assert order == ["first", "second"]


def test_full_text_index_follows_documents(workspace: Workspace) -> None:
    docs = schema.search_documents
    with workspace.write() as conn:
        conn.execute(
            docs.insert(),
            {
                "target_kind": "artifact",
                "target_id": "a1",
                "title": "plate reader",
                "body": "absorbance assays",
            },
        )
        conn.execute(
            docs.insert(),
            {
                "target_kind": "artifact",
                "target_id": "a2",
                "title": "model",
                "body": "gradient boosting",
            },
        )
    query = sa.text(
        "SELECT d.target_id FROM search_fts f JOIN search_documents d ON d.id = f.rowid WHERE search_fts MATCH :q"
    )
    with workspace.read() as conn:
        assert list(conn.execute(query, {"q": "assay"}).scalars()) == ["a1"]
    with workspace.write() as conn:
        conn.execute(docs.update().where(docs.c.target_id == "a1").values(body="fluorescence"))
        conn.execute(docs.delete().where(docs.c.target_id == "a2"))
    with workspace.read() as conn:
        assert list(conn.execute(query, {"q": "assay"}).scalars()) == []
        assert list(conn.execute(query, {"q": "fluorescence"}).scalars()) == ["a1"]
        assert list(conn.execute(query, {"q": "boosting"}).scalars()) == []


@pytest.mark.parametrize("url", ["mysql://db/lab", "oracle://db"])
def test_unsupported_databases(url: str) -> None:
    with pytest.raises(ConfigurationError, match="sqlite or postgresql"):
        Catalog(url)


def test_postgres_urls_use_the_psycopg_driver() -> None:
    catalog = Catalog("postgresql://lab:s3cret@127.0.0.1:1/lab")
    try:
        assert catalog.dialect == "postgresql"
        # One pool; reads in autocommit (no BEGIN or ROLLBACK round trip).
        assert catalog.reader.pool is catalog.writer.pool
        assert catalog.reader.get_execution_options()["isolation_level"] == "AUTOCOMMIT"
        assert catalog.writer.url.drivername == "postgresql+psycopg"
    finally:
        catalog.dispose()


def test_unreachable_database_is_unreadable_without_leaking_the_password() -> None:
    catalog = Catalog("postgresql://lab:s3cret@127.0.0.1:1/lab?connect_timeout=2")
    try:
        with pytest.raises(WorkspaceUnreadableError) as caught:
            catalog.revision()
    finally:
        catalog.dispose()
    assert "s3cret" not in str(caught.value)
    assert caught.value.hint


def test_a_folder_where_the_catalog_file_should_be(tmp_path: Path) -> None:
    (tmp_path / "catalog.db").mkdir()
    catalog = Catalog(f"sqlite:///{tmp_path / 'catalog.db'}")
    try:
        with pytest.raises(WorkspaceUnreadableError) as caught:
            upgrade(catalog)
    finally:
        catalog.dispose()
    assert "\n" not in str(caught.value)


def test_garbage_catalog_is_unreadable(tmp_path: Path) -> None:
    (tmp_path / "catalog.db").write_bytes(b"this is not an SQLite database at all" * 200)
    catalog = Catalog(f"sqlite:///{tmp_path / 'catalog.db'}")
    try:
        with pytest.raises(WorkspaceUnreadableError) as caught:
            upgrade(catalog)
    finally:
        catalog.dispose()
    assert "\n" not in str(caught.value)


def test_a_corrupted_workspace_catalog_says_to_restore_it(tmp_path: Path) -> None:
    Workspace.init(tmp_path).close()
    catalog_file = tmp_path / ".labledger" / "catalog.db"
    catalog_file.write_bytes(bytes(range(256)) * 64)
    with pytest.raises(WorkspaceUnreadableError) as caught:
        Workspace.open(tmp_path)
    message = str(caught.value)
    assert f"the catalog {catalog_file} is not a SQLite database or is corrupt" in message
    assert "restore the file from a backup copy" in message
    assert "permissions" not in message


def test_a_catalog_at_revision_0003_gets_a_dense_ledger_and_a_workspace_id(tmp_path: Path) -> None:
    from labledger.workspace.checkpoints import workspace_id
    from labledger.workspace.ledger import iter_entries
    from labledger.workspace.verify import verify_workspace

    with Workspace.init(tmp_path) as ws:
        with ws.write() as conn:
            for i in range(5):
                ws.record(conn, "test.event", f"t:{i}", {"i": i})
        with ws.write() as conn:
            # As a 0003 catalog on PostgreSQL may be: gaps left by rolled-back appends.
            conn.exec_driver_sql("UPDATE ledger SET seq = seq + 10 WHERE seq > 2")
            for name in ("ledger_tree", "ledger_checkpoints", "workspace_info"):
                conn.exec_driver_sql(f"DROP TABLE {name}")
            conn.exec_driver_sql("UPDATE alembic_version SET version_num = '0003'")
    with pytest.raises(SchemaOutdatedError, match="labledger migrate"):
        Workspace.open(tmp_path)
    assert Workspace.migrate(tmp_path).from_revision == "0003"
    with Workspace.open(tmp_path) as ws:
        with ws.read() as conn:
            assert [e.seq for e in iter_entries(conn)] == [1, 2, 3, 4, 5]
            assert len(workspace_id(conn)) == 36
        report = verify_workspace(ws)
        assert report.ok, report.problems
        assert report.tree_size == 5


def test_a_catalog_at_revision_0004_numbers_its_metrics_and_every_seal_still_verifies(
    tmp_path: Path,
) -> None:
    import labledger
    from labledger.tracking.query import get_run
    from labledger.workspace.verify import verify_workspace

    with Workspace.init(tmp_path) as ws:
        first = labledger.start_run("first", workspace=ws)
        second = labledger.start_run("second", workspace=ws)
        for step in range(3):  # the two runs' rows interleave in metrics.id
            for run in (first, second):
                run.log_metric("loss", 1.0 / (step + 1), step=step)
                run.log_metric("loss", 2.0 / (step + 1), step=step, timestamp=1.0)
                run.flush()
        second.end()
        first.end()
        with ws.write() as conn:
            # As revision 0004 left the tables: no seq, no unique index on it.
            conn.exec_driver_sql("DROP INDEX ux_metrics_run_seq")
            conn.exec_driver_sql("ALTER TABLE metrics DROP COLUMN seq")
            conn.exec_driver_sql("ALTER TABLE latest_metrics DROP COLUMN seq")
            conn.exec_driver_sql("UPDATE alembic_version SET version_num = '0004'")
    assert Workspace.migrate(tmp_path).changed
    with Workspace.open(tmp_path) as ws:
        assert ws.catalog.revision() == HEAD_REVISION
        m = schema.metrics
        with ws.read() as conn:
            numbered = conn.execute(
                sa.select(m.c.run_id, m.c.seq, m.c.value).order_by(m.c.id)
            ).all()
            shown = conn.execute(
                sa.select(schema.latest_metrics.c.run_id, schema.latest_metrics.c.seq)
            ).all()
            indexes = {i["name"]: i for i in sa.inspect(conn).get_indexes("metrics")}
        for run in (first, second):
            assert [seq for run_id, seq, _ in numbered if run_id == run.id] == list(range(1, 7))
        assert sorted(shown) == sorted([(first.id, 6), (second.id, 6)])
        assert indexes["ux_metrics_run_seq"]["unique"]
        report = verify_workspace(ws, remember=False)
        assert report.ok, report.problems
        assert get_run(first.id, workspace=ws).metrics == {"loss": 2.0 / 3}


def test_a_sqlite_write_holds_the_process_write_lock_and_a_fork_gets_its_own(
    tmp_path: Path,
) -> None:
    ws = Workspace.init(tmp_path)
    lock = ws.catalog.write_lock()
    inside, release, seen = threading.Event(), threading.Event(), []

    def writer() -> None:
        with ws.write():
            inside.set()
            release.wait(10)

    thread = threading.Thread(target=writer)
    thread.start()
    assert inside.wait(10)
    seen.append(lock.acquire(blocking=False))  # another thread waits its turn here
    release.set()
    thread.join(10)
    seen.append(lock.acquire(timeout=10))
    lock.release()
    assert seen == [False, True]
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child reports through the pipe
        os.write(write, b"1" if ws.catalog.write_lock() is not lock else b"0")
        os._exit(0)
    os.waitpid(child, 0)
    assert os.read(read, 1) == b"1"
