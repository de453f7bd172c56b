"""Backing up a team workspace (PostgreSQL + S3) with pg_dump, and restoring it into a new database."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

import pytest

from labledger._foundation.errors import WorkspaceError
from labledger.tracking.run import start_run
from labledger.workspace.backup import backup_workspace, restore_workspace
from labledger.workspace.backup_postgres import DUMP_FILE
from labledger.workspace.verify import verify_workspace
from labledger.workspace.workspace import Workspace

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from tests.integration.conftest import S3Server, _PostgresCluster

pytestmark = pytest.mark.integration


@pytest.fixture
def team_env(
    monkeypatch: pytest.MonkeyPatch,
    fresh_postgres_url: str,
    s3_server: S3Server,
    s3_bucket_url: str,
) -> str:
    monkeypatch.setenv("LABLEDGER_STORE", s3_bucket_url)
    monkeypatch.setenv("LABLEDGER_S3_ENDPOINT_URL", s3_server.endpoint_url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3_server.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3_server.secret_key)
    return fresh_postgres_url


@pytest.fixture
def empty_database(_postgres_cluster: _PostgresCluster) -> Iterator[str]:
    name = f"labledger_restore_{uuid.uuid4().hex[:12]}"
    _postgres_cluster.admin(f"CREATE DATABASE {name}")
    try:
        yield _postgres_cluster.url(name)
    finally:
        _postgres_cluster.admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def test_backup_and_restore_a_postgres_s3_workspace(
    team_env: str,
    empty_database: str,
    s3_server: S3Server,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    folder = tmp_path / "results"
    folder.mkdir()
    (folder / "a.txt").write_text("a")
    with Workspace.init(team_env) as ws:
        for index in range(3):
            with start_run(f"team-{index}", workspace=ws) as run:
                run.log_metric("loss", 1.0 / (index + 1))
                run.log_artifact(f"model {index}".encode() * 1000, name="model")
                run.log_artifact(folder, name="results")
        report = backup_workspace(ws, tmp_path / "backup")
        assert report.ok, report.verify
        assert report.catalog_kind == "postgresql"
        assert (tmp_path / "backup" / DUMP_FILE).stat().st_size == report.catalog_bytes
        assert report.copied == report.blobs > 0
        again = backup_workspace(ws, tmp_path / "backup")
        assert (again.ok, again.copied, again.present) == (True, 0, report.blobs)

    # Restore into another database and another bucket.
    bucket = f"labledger-restored-{uuid.uuid4().hex[:8]}"
    s3_server.create_bucket(bucket)
    monkeypatch.setenv("LABLEDGER_STORE", f"s3://{bucket}/blobs")
    try:
        restored = restore_workspace(tmp_path / "backup", empty_database)
        assert restored.ok, restored.verify
        assert restored.copied == report.blobs
        with pytest.raises(WorkspaceError, match="already holds tables"):
            restore_workspace(tmp_path / "backup", empty_database)
        with Workspace.open(empty_database) as copy:
            assert verify_workspace(copy, remember=False).ok
            with copy.read() as conn:
                assert conn.exec_driver_sql("SELECT count(*) FROM runs").scalar() == 3
    finally:
        s3_server.remove_bucket(bucket)


def test_a_postgres_catalog_that_needs_a_migration_is_backed_up_and_restored_at_itsrevision_of(
    team_env: str, empty_database: str, tmp_path: Path
) -> None:
    from labledger.workspace.backup import open_for_backup
    from labledger.workspace.catalog import HEAD_REVISION
    from tests.old_catalogs import catalog_at, revision_of

    catalog_at(team_env, "0005")
    with open_for_backup(team_env) as ws:
        report = backup_workspace(ws, tmp_path / "backup")
    assert report.ok, report.verify
    assert (report.revision, report.outdated, report.checkpoint) == ("0005", True, None)
    assert report.verify is not None
    assert "schema revision 0005: ledger not verified" in report.verify.anchors
    assert revision_of(team_env) == "0005"  # the backup wrote nothing

    assert Workspace.migrate(team_env).to_revision == HEAD_REVISION
    restored = restore_workspace(tmp_path / "backup", empty_database)
    assert restored.ok, restored.verify
    assert (restored.revision, revision_of(empty_database)) == ("0005", "0005")
    assert Workspace.migrate(empty_database).changed
    with Workspace.open(empty_database) as copy:
        assert verify_workspace(copy, remember=False).ok
