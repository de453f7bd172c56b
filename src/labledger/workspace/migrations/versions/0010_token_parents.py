"""Tokens made with tokens: ``api_tokens.parent_id``, indexed.

A token made through a server by someone signed in with a token names that token as its parent,
and revoking a token revokes every token made with it, so a leaked token cannot leave behind
tokens that outlive its revocation.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_INDEX = "ix_api_tokens_parent_id"


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    # Revision 0001 makes its tables from today's schema: a new catalog has both already.
    if "parent_id" not in {column["name"] for column in inspector.get_columns("api_tokens")}:
        op.add_column("api_tokens", sa.Column("parent_id", sa.String(36)))
    if _INDEX not in {index["name"] for index in inspector.get_indexes("api_tokens")}:
        op.create_index(_INDEX, "api_tokens", ["parent_id"])


def downgrade() -> None:
    op.drop_index(_INDEX, table_name="api_tokens")
    op.drop_column("api_tokens", "parent_id")
