"""Explaining cache misses and reusing logged metrics: key facts, replayability, task logs.

- ``pipeline_runs.facts_digest``: a blob with what each step's cache key was made of (its code's
  parts, the packages of its environment), so a later run can say which one changed.
- ``pipeline_runs.replay_error``: why the run cannot be re-executed (a pipeline defined in a
  notebook), or NULL.
- ``tasks.logged_digest``: a blob with the metrics and tags the step logged while it ran, so a
  run that reuses the task from the cache shows them too.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


_COLUMNS = (
    ("pipeline_runs", "facts_digest", sa.String(71)),
    ("pipeline_runs", "replay_error", sa.Text()),
    ("tasks", "logged_digest", sa.String(71)),
)


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    for table, name, kind in _COLUMNS:
        # Revision 0002 creates its tables from the current schema, which has these already.
        if name not in {column["name"] for column in inspector.get_columns(table)}:
            op.add_column(table, sa.Column(name, kind))
