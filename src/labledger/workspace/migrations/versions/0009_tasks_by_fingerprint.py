"""Tasks by step fingerprint: an index on ``tasks (fingerprint, status, ended_at)``.

A pipeline run against a server fetches, in one request at its start, the cache entries recorded
for its steps (``TaskStore.cache_index``), found by the steps' fingerprints: the index makes that
a read of the newest rows of each step (the answer is bounded) instead of a scan of every task.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_INDEX = "ix_tasks_fingerprint_status_ended_at"


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    # Revision 0001 makes its tables from today's schema: a new catalog has the index already.
    if _INDEX not in {index["name"] for index in inspector.get_indexes("tasks")}:
        op.create_index(_INDEX, "tasks", ["fingerprint", "status", "ended_at"])


def downgrade() -> None:
    op.drop_index(_INDEX, table_name="tasks")
