"""Initial catalog schema.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

from alembic import op

from labledger.workspace.schema import metadata

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_TABLES = (
    "projects",
    "runs",
    "params",
    "metrics",
    "latest_metrics",
    "tags",
    "blobs",
    "artifacts",
    "metadata_fields",
    "metadata_values",
    "collections",
    "collection_members",
    "search_documents",
    "ledger",
    "ledger_keys",
)

_SQLITE_FTS = [
    """CREATE VIRTUAL TABLE search_fts USING fts5(
        title, body, content='search_documents', content_rowid='id', tokenize='porter unicode61')""",
    """CREATE TRIGGER search_documents_ai AFTER INSERT ON search_documents BEGIN
        INSERT INTO search_fts(rowid, title, body) VALUES (new.id, new.title, new.body); END""",
    """CREATE TRIGGER search_documents_ad AFTER DELETE ON search_documents BEGIN
        INSERT INTO search_fts(search_fts, rowid, title, body)
        VALUES ('delete', old.id, old.title, old.body); END""",
    """CREATE TRIGGER search_documents_au AFTER UPDATE ON search_documents BEGIN
        INSERT INTO search_fts(search_fts, rowid, title, body)
        VALUES ('delete', old.id, old.title, old.body);
        INSERT INTO search_fts(rowid, title, body) VALUES (new.id, new.title, new.body); END""",
]

_POSTGRES_FTS = [
    """ALTER TABLE search_documents ADD COLUMN tsv tsvector GENERATED ALWAYS AS
        (setweight(to_tsvector('english', title), 'A') || to_tsvector('english', body)) STORED""",
    "CREATE INDEX ix_search_documents_tsv ON search_documents USING gin (tsv)",
]


def upgrade() -> None:
    bind = op.get_bind()
    # Only the tables of this revision: later revisions add theirs, and a table's columns never
    # change after its revision has shipped (new columns come as explicit operations).
    metadata.create_all(bind, tables=[metadata.tables[name] for name in _TABLES])
    statements = _SQLITE_FTS if bind.dialect.name == "sqlite" else _POSTGRES_FTS
    for statement in statements:
        op.execute(statement)
