"""Lists newest first by index: ``runs (project_id, id)``, ``artifacts (project_id, created_at,
id)`` and ``artifacts (created_at, id)``.

A project's runs are listed newest first by id (ids are time-ordered), and artifacts by creation
time then id. Without an index in that order, a page of 100 was a read and a sort of every run or
artifact of the project: 138 ms at 100,000 runs, against 2 ms with one.

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

_INDEXES = {
    "ix_runs_project_id_id": ("runs", ["project_id", "id"]),
    "ix_artifacts_project_id_created_at_id": ("artifacts", ["project_id", "created_at", "id"]),
    "ix_artifacts_created_at_id": ("artifacts", ["created_at", "id"]),
}


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    for name, (table, columns) in _INDEXES.items():
        # Revision 0001 makes its tables from today's schema: a new catalog has them already.
        if name not in {index["name"] for index in inspector.get_indexes(table)}:
            op.create_index(name, table, columns)


def downgrade() -> None:
    for name, (table, _) in _INDEXES.items():
        op.drop_index(name, table_name=table)
