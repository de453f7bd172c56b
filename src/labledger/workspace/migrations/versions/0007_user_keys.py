"""Users' signing keys: the Ed25519 public keys users register to sign their own ledger entries.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

from alembic import op

from labledger.workspace.schema import metadata

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_TABLES = ("user_keys",)


def upgrade() -> None:
    bind = op.get_bind()
    metadata.create_all(bind, tables=[metadata.tables[name] for name in _TABLES], checkfirst=True)
