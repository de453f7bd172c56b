"""Revision 0008 on SQLite: collections made before it go to the default project, keep their
members and their ledger history, and names become unique per project."""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlalchemy as sa

import labledger
from labledger import metadata
from labledger.tracking import start_run
from labledger.workspace import schema
from labledger.workspace.catalog import HEAD_REVISION
from labledger.workspace.verify import verify_workspace
from labledger.workspace.workspace import Workspace

if TYPE_CHECKING:
    from pathlib import Path

# The collections table as revisions 0001-0007 made it.
_OLD_TABLE = """CREATE TABLE collections (
    id VARCHAR(36) NOT NULL,
    name VARCHAR(200) NOT NULL,
    description TEXT NOT NULL,
    owner VARCHAR(200) NOT NULL,
    created_at FLOAT NOT NULL,
    CONSTRAINT pk_collections PRIMARY KEY (id),
    CONSTRAINT uq_collections_name UNIQUE (name)
)"""


def _as_revision_0007(root: Path) -> None:
    """Put the catalog's collection tables back as revision 0007 had them, rows kept."""
    engine = sa.create_engine(f"sqlite:///{root / '.labledger' / 'catalog.db'}")
    with engine.begin() as conn:
        conn.exec_driver_sql("PRAGMA foreign_keys = OFF")
        # So that the members' foreign key keeps naming "collections", as it did.
        conn.exec_driver_sql("PRAGMA legacy_alter_table = ON")
        conn.exec_driver_sql("ALTER TABLE collections RENAME TO collections_new")
        conn.exec_driver_sql(_OLD_TABLE)
        conn.exec_driver_sql(
            "INSERT INTO collections SELECT id, name, description, owner, created_at "
            "FROM collections_new"
        )
        conn.exec_driver_sql("DROP TABLE collections_new")
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = '0007'")
    engine.dispose()


def test_old_collections_go_to_the_default_project_and_names_are_unique_per_project(
    tmp_path: Path,
) -> None:
    with Workspace.init(tmp_path) as ws:
        with start_run("fit", workspace=ws) as run:
            pass
        metadata.create_collection("screen", workspace=ws)
        metadata.add_to_collection("screen", run.id, ("model", "clf"), workspace=ws)
        default = ws.find_project_id()
    _as_revision_0007(tmp_path)
    migration = labledger.migrate(tmp_path)
    assert (migration.from_revision, migration.to_revision) == ("0007", HEAD_REVISION)
    with Workspace.open(tmp_path) as ws:
        kept = metadata.get_collection("screen", workspace=ws)
        assert kept.project_id == default
        assert {(m.kind, m.id) for m in kept.members} == {("run", run.id), ("model", "clf")}
        other = metadata.create_collection("screen", project="lab", workspace=ws)
        assert other.project_id == ws.find_project_id("lab") != default
        assert [c.project_id for c in metadata.list_collections(workspace=ws)] == sorted(
            [default, other.project_id]
        )
        assert metadata.list_collections(project="lab", workspace=ws) == [other]
        with ws.read() as conn:
            members = conn.execute(
                sa.select(sa.func.count()).select_from(schema.collection_members)
            )
            assert members.scalar_one() == 2
        with ws.read() as conn:
            ddl = conn.exec_driver_sql(
                "SELECT sql FROM sqlite_master WHERE name = 'collection_members'"
            ).scalar_one()
        assert "REFERENCES collections (id)" in ddl or 'REFERENCES "collections"' in ddl
        report = verify_workspace(ws, remember=False)
        assert report.ok, report.problems
