"""Collections belong to a project: ``collections.project_id``, names unique per project.

A collection made before this revision goes to the project ``default`` (made here if the catalog
has collections but no such project yet). Its name was unique in the whole workspace; from now
on it is unique within its project, so two projects may each have a collection ``screen``.

PostgreSQL changes the table in place. SQLite cannot drop a ``UNIQUE`` constraint, so there the
two collection tables are made again from the current schema and their rows copied over: the old
ones are renamed first (SQLite rewrites the members' foreign key to follow), the new ones created
and filled, and the old ones dropped members first, so no foreign key is broken at any moment.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import time

import sqlalchemy as sa
from alembic import op

from labledger._foundation.ids import new_id
from labledger.workspace.schema import metadata

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_UNIQUE = "uq_collections_project_id_name"
_FOREIGN = "fk_collections_project_id_projects"


def _default_project(bind: sa.Connection) -> str:
    """The id of the project ``default``, made now when it does not exist yet."""
    projects = metadata.tables["projects"]
    found = bind.execute(sa.select(projects.c.id).where(projects.c.name == "default")).scalar()
    if found is not None:
        return str(found)
    made = new_id()
    bind.execute(
        projects.insert().values(id=made, name="default", description="", created_at=time.time())
    )
    return made


def _sqlite(bind: sa.Connection) -> None:
    collections, members = metadata.tables["collections"], metadata.tables["collection_members"]
    has_rows = bind.execute(sa.text("SELECT 1 FROM collections LIMIT 1")).first() is not None
    project = _default_project(bind) if has_rows else ""
    bind.execute(sa.text("ALTER TABLE collection_members RENAME TO collection_members_0007"))
    bind.execute(sa.text("ALTER TABLE collections RENAME TO collections_0007"))
    metadata.create_all(bind, tables=[collections, members])
    bind.execute(
        sa.text(
            "INSERT INTO collections (id, name, description, owner, created_at, project_id) "
            "SELECT id, name, description, owner, created_at, :project FROM collections_0007"
        ),
        {"project": project},
    )
    bind.execute(
        sa.text(
            "INSERT INTO collection_members (collection_id, member_kind, member_id, added_at) "
            "SELECT collection_id, member_kind, member_id, added_at FROM collection_members_0007"
        )
    )
    bind.execute(sa.text("DROP TABLE collection_members_0007"))
    bind.execute(sa.text("DROP TABLE collections_0007"))


def _postgresql(bind: sa.Connection) -> None:
    op.add_column("collections", sa.Column("project_id", sa.String(36), nullable=True))
    has_rows = bind.execute(sa.text("SELECT 1 FROM collections LIMIT 1")).first() is not None
    if has_rows:
        bind.execute(
            sa.text("UPDATE collections SET project_id = :project"),
            {"project": _default_project(bind)},
        )
    op.alter_column("collections", "project_id", nullable=False, existing_type=sa.String(36))
    op.create_foreign_key(_FOREIGN, "collections", "projects", ["project_id"], ["id"])
    for constraint in sa.inspect(bind).get_unique_constraints("collections"):
        if constraint["column_names"] == ["name"] and constraint["name"]:
            op.drop_constraint(constraint["name"], "collections", type_="unique")
    op.create_unique_constraint(_UNIQUE, "collections", ["project_id", "name"])


def upgrade() -> None:
    bind = op.get_bind()
    # Revision 0001 makes its tables from today's schema: a new catalog has the column already.
    if "project_id" in {c["name"] for c in sa.inspect(bind).get_columns("collections")}:
        return
    if bind.dialect.name == "sqlite":
        _sqlite(bind)
    else:
        _postgresql(bind)
