"""The transparency log: the ledger's Merkle tree, checkpoints, and the workspace's id.

- ``ledger_tree``: the hash of every complete subtree of the Merkle tree over ledger entries.
- ``ledger_checkpoints``: signed statements of the tree's size and root.
- ``workspace_info``: the workspace's id (a new UUID), which checkpoints name.
- ``ledger.seq`` is renumbered 1, 2, 3, ... in its current order (PostgreSQL sequences leave gaps
  after a rolled-back append), so entry ``seq`` is leaf ``seq - 1``. Entry hashes do not cover
  ``seq``, so no hash changes.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from labledger._foundation.ids import new_id
from labledger.workspace.schema import metadata

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_TABLES = ("ledger_tree", "ledger_checkpoints", "workspace_info")
# 32-bit INTEGER on PostgreSQL before; a metric step or a blob's size may need 64 bits.
_WIDEN = (
    ("metrics", "id"),
    ("metrics", "step"),
    ("latest_metrics", "step"),
    ("blobs", "size"),
    ("artifacts", "size"),
    ("ledger", "seq"),
)


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        for table, column in _WIDEN:
            op.alter_column(table, column, type_=sa.BigInteger(), existing_nullable=False)
    metadata.create_all(bind, tables=[metadata.tables[name] for name in _TABLES], checkfirst=True)
    info = metadata.tables["workspace_info"]
    if bind.execute(sa.select(info.c.value).where(info.c.key == "id")).scalar() is None:
        bind.execute(info.insert().values(key="id", value=new_id()))
    ledger = metadata.tables["ledger"]
    count, last = bind.execute(sa.select(sa.func.count(), sa.func.max(ledger.c.seq))).one()
    if count and last != count:
        # Two passes through negative numbers: no intermediate state repeats a key.
        ranked = sa.select(
            ledger.c.seq, sa.func.row_number().over(order_by=ledger.c.seq).label("rank")
        ).subquery()
        bind.execute(
            ledger.update().values(
                seq=-sa.select(ranked.c.rank).where(ranked.c.seq == ledger.c.seq).scalar_subquery()
            )
        )
        bind.execute(ledger.update().values(seq=-ledger.c.seq))
