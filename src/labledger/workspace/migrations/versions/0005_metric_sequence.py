"""Metric sequence numbers: each metric value's place in its run, its natural key.

- ``metrics.seq``: numbered 1, 2, 3, ... per run in the order the rows were written (``metrics.id``),
  the order every sealed record digested them in, so every seal still verifies. A unique index on
  ``(run_id, seq)`` makes a retried batch write nothing twice.
- ``latest_metrics.seq``: the ``seq`` of the value shown (the newest row of its run and key at the
  step shown), so a batch that arrives late cannot replace a newer latest value.

One ``UPDATE ... FROM`` over a ranking of the rows numbers the whole table in a single pass, on
SQLite and PostgreSQL. On PostgreSQL the columns become ``NOT NULL``; SQLite cannot add a ``NOT NULL``
column without a default short of rebuilding the table, so there they stay nullable in a catalog made
before this revision (every writer gives a value).

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from labledger.workspace.schema import metadata

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_UNIQUE = "ux_metrics_run_seq"


def upgrade() -> None:
    bind = op.get_bind()
    inspector = sa.inspect(bind)
    metrics, latest = metadata.tables["metrics"], metadata.tables["latest_metrics"]
    # Revision 0001 makes its tables from today's schema: a new catalog has these already.
    if "seq" not in {c["name"] for c in inspector.get_columns("metrics")}:
        op.add_column("metrics", sa.Column("seq", sa.BigInteger(), nullable=True))
        ranked = sa.select(
            metrics.c.id,
            sa.func.row_number()
            .over(partition_by=metrics.c.run_id, order_by=metrics.c.id)
            .label("rank"),
        ).subquery()
        bind.execute(metrics.update().values(seq=ranked.c.rank).where(metrics.c.id == ranked.c.id))
        if bind.dialect.name == "postgresql":
            op.alter_column("metrics", "seq", nullable=False, existing_type=sa.BigInteger())
    if _UNIQUE not in {i["name"] for i in inspector.get_indexes("metrics")}:
        op.create_index(_UNIQUE, "metrics", ["run_id", "seq"], unique=True)
    if "seq" not in {c["name"] for c in inspector.get_columns("latest_metrics")}:
        op.add_column("latest_metrics", sa.Column("seq", sa.BigInteger(), nullable=True))
        # The newest row at the step shown: found through the (run_id, key, step) index.
        newest = (
            sa.select(sa.func.max(metrics.c.seq))
            .where(
                metrics.c.run_id == latest.c.run_id,
                metrics.c.key == latest.c.key,
                metrics.c.step == latest.c.step,
            )
            .scalar_subquery()
        )
        bind.execute(latest.update().values(seq=sa.func.coalesce(newest, 0)))
        if bind.dialect.name == "postgresql":
            op.alter_column("latest_metrics", "seq", nullable=False, existing_type=sa.BigInteger())
