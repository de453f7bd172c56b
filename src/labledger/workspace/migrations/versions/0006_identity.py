"""Identity: users, API tokens (their secrets' SHA-256 only) and project members with roles.

Revision ID: 0006
Revises: 0004
"""

from __future__ import annotations

from alembic import op

from labledger.workspace.schema import metadata

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_TABLES = ("users", "api_tokens", "project_members")


def upgrade() -> None:
    bind = op.get_bind()
    metadata.create_all(bind, tables=[metadata.tables[name] for name in _TABLES], checkfirst=True)
