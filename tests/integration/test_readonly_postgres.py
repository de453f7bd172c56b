"""On PostgreSQL: a role that may only read can open a team workspace and use every reading
command; migrations from several processes at once apply once."""

from __future__ import annotations

import threading
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import sqlalchemy as sa

import labledger
from labledger.metadata import search
from labledger.tracking import get_run, search_runs
from labledger.workspace import schema
from labledger.workspace.catalog import HEAD_REVISION, Catalog, Migration
from labledger.workspace.recovery import HEARTBEAT_TIMEOUT_S
from labledger.workspace.verify import verify_workspace
from labledger.workspace.workspace import Workspace

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = pytest.mark.integration


@pytest.fixture
def reader_url(pg_workspace: Workspace) -> Iterator[str]:
    """The workspace's database as a role with only CONNECT, USAGE and SELECT."""
    role = f"reader_{uuid.uuid4().hex[:12]}"
    url = sa.make_url(pg_workspace.catalog.url)
    database = url.database
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE ROLE {role} LOGIN")
        conn.exec_driver_sql(f"REVOKE ALL ON DATABASE {database} FROM PUBLIC")
        conn.exec_driver_sql("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
        conn.exec_driver_sql(f"GRANT CONNECT ON DATABASE {database} TO {role}")
        conn.exec_driver_sql(f"GRANT USAGE ON SCHEMA public TO {role}")
        conn.exec_driver_sql(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}")
    try:
        yield url.set(username=role).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP OWNED BY {role}")
            conn.exec_driver_sql(f"DROP ROLE {role}")
        admin.dispose()


def _lost_remote_run(ws: Workspace) -> str:
    """A run another host started and stopped reporting from long ago."""
    run_id = str(uuid.uuid4())
    now = time.time() - HEARTBEAT_TIMEOUT_S - 600
    with ws.write() as conn:
        conn.execute(
            schema.runs.insert(),
            {
                "id": run_id,
                "project_id": ws.project_id(),
                "name": "gone quiet",
                "kind": "run",
                "status": "running",
                "user": ws.actor,
                "host": "another-host",
                "pid": 4242,
                "started_at": now,
                "heartbeat_at": now,
            },
        )
        ws.record(conn, "run.started", f"run:{run_id}", {"run_id": run_id, "name": "gone quiet"})
    return run_id


def test_a_read_only_role_opens_lists_searches_and_verifies(
    pg_workspace: Workspace, reader_url: str
) -> None:
    with labledger.start_run("trained", params={"lr": 0.1}, workspace=pg_workspace) as run:
        run.log_metric("auc", 0.9)
        run.log_artifact({"auc": 0.9}, name="scores.json")
    lost = _lost_remote_run(pg_workspace)

    with Workspace.open(reader_url) as ws:
        # The premise: this role cannot write.
        with pytest.raises(sa.exc.ProgrammingError, match="permission denied"), ws.write() as conn:
            conn.execute(sa.update(schema.runs).values(name="x"))
        runs = {r.id: r for r in search_runs(workspace=ws)}
        assert runs[run.id].status == "finished"
        assert (runs[lost].status, runs[lost].lost) == ("running", "no heartbeat for 25 min")
        assert search_runs("metrics.auc > 0.5", workspace=ws)[0].id == run.id
        assert search_runs(project="never-made", workspace=ws) == []
        assert get_run(lost, workspace=ws).lost is not None
        assert run.id in [hit.id for hit in search("trained", workspace=ws)]
        report = verify_workspace(ws, remember=False)
        assert report.ok, report.problems


def test_migrations_at_once_apply_once(
    fresh_postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from alembic import command
    from alembic.config import Config

    monkeypatch.setenv("LABLEDGER_STORE", str(tmp_path / "objects"))
    catalog = Catalog(fresh_postgres_url)
    config = Config()
    config.set_main_option("script_location", str(Path(schema.__file__).with_name("migrations")))
    try:
        with catalog.writer.begin() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, "0001")
    finally:
        catalog.dispose()
    results: list[Migration] = []
    errors: list[BaseException] = []
    start = threading.Barrier(3)

    def migrate() -> None:
        start.wait()
        try:
            results.append(labledger.migrate(fresh_postgres_url))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=migrate) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert errors == []
    assert sorted(m.changed for m in results) == [False, False, True]
    with Workspace.open(fresh_postgres_url) as ws:
        assert ws.catalog.revision() == HEAD_REVISION
