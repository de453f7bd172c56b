"""Pipelines: pipeline runs, tasks, their inputs and outputs (the lineage edges), verifications.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from alembic import op

from labledger.workspace.schema import metadata

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_TABLES = ("pipeline_runs", "tasks", "task_inputs", "task_outputs", "verifications")


def upgrade() -> None:
    metadata.create_all(op.get_bind(), tables=[metadata.tables[name] for name in _TABLES])
