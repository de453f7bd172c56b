"""The catalog's tables (SQLAlchemy Core), identical on SQLite and PostgreSQL.

Times are Unix seconds as floats; ids are UUIDv7 strings; JSON documents are canonical JSON text.
Full-text search has a plain ``search_documents`` table on both databases, indexed by an FTS5 table
on SQLite and a tsvector GIN index on PostgreSQL (see the initial migration).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Double,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

__all__ = [
    "api_tokens",
    "artifacts",
    "blobs",
    "collection_members",
    "collections",
    "latest_metrics",
    "ledger",
    "ledger_checkpoints",
    "ledger_keys",
    "ledger_tree",
    "metadata",
    "metadata_fields",
    "metadata_values",
    "metrics",
    "params",
    "pipeline_runs",
    "project_members",
    "projects",
    "runs",
    "search_documents",
    "tags",
    "task_inputs",
    "task_outputs",
    "tasks",
    "user_keys",
    "users",
    "verifications",
    "workspace_info",
]

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# 64-bit on PostgreSQL too (INTEGER there is 32-bit); SQLite's INTEGER is 64-bit already, and a
# primary key must stay INTEGER there to be the rowid.
_BIG = BigInteger().with_variant(Integer(), "sqlite")
_ID = 36  # UUID text
_DIGEST = 71  # "blake3:" + 64 hex

projects = Table(
    "projects",
    metadata,
    Column("id", String(_ID), primary_key=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("description", Text, nullable=False, default=""),
    Column("created_at", Double, nullable=False),
)

runs = Table(
    "runs",
    metadata,
    Column("id", String(_ID), primary_key=True),
    Column("project_id", String(_ID), ForeignKey("projects.id"), nullable=False),
    Column("name", String(300), nullable=False),
    Column("kind", String(20), nullable=False, default="run"),
    Column("status", String(20), nullable=False),
    Column("user", String(200), nullable=False),
    Column("host", String(300), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("started_at", Double, nullable=False),
    Column("ended_at", Double),
    Column("heartbeat_at", Double, nullable=False),
    Column("environment_digest", String(_DIGEST)),
    Column("git_commit", String(64)),
    Column("git_dirty", Boolean),
    Column("record_digest", String(_DIGEST)),
    Column("error", Text),
    Index(None, "project_id", "started_at"),
    # Runs are listed newest first, by id (ids are time-ordered): in a project, or of a status.
    Index(None, "project_id", "id"),
    Index(None, "status", "id"),
    Index(None, "name"),
    # Sorted by start time (``order_by=["started_at DESC"]``, MLflow's order) across projects.
    Index(None, "started_at", "id"),
)

params = Table(
    "params",
    metadata,
    Column("run_id", String(_ID), ForeignKey("runs.id"), primary_key=True),
    Column("key", String(250), primary_key=True),
    Column("value", Text, nullable=False),
    # The value as a number when it reads as one, so filters compare numerically.
    Column("value_num", Double),
    Index(None, "key", "value_num"),
    Index(None, "key", "value"),
)

metrics = Table(
    "metrics",
    metadata,
    Column("id", _BIG, primary_key=True, autoincrement=True),
    # The run is checked (and its row locked) by the write that adds its metrics, in the same
    # transaction, and runs are never deleted; so on PostgreSQL, where a foreign key's check is a
    # query per row (a third of a batch's database time), there is none (revision 0013).
    Column("run_id", String(_ID), nullable=False),
    Column("key", String(250), nullable=False),
    # NULL stands for NaN: SQLite cannot store NaN and PostgreSQL sorts it above every number.
    Column("value", Double),
    Column("step", _BIG, nullable=False),
    Column("timestamp", Double, nullable=False),
    # The value's place in its run, given by the writer as values are logged (1, 2, 3, ...): the
    # row's natural key, so a retried batch writes nothing twice, and the order the record seals.
    Column("seq", _BIG, nullable=False),
    Index(None, "run_id", "key", "step"),
    Index("ux_metrics_run_seq", "run_id", "seq", unique=True),
    ForeignKeyConstraint(["run_id"], ["runs.id"]).ddl_if(dialect="sqlite"),
)

latest_metrics = Table(
    "latest_metrics",
    metadata,
    Column("run_id", String(_ID), ForeignKey("runs.id"), primary_key=True),
    Column("key", String(250), primary_key=True),
    Column("value", Double),
    Column("step", _BIG, nullable=False),
    Column("timestamp", Double, nullable=False),
    # The ``metrics.seq`` of the value shown: the latest value is the one at the highest step,
    # then the highest seq, whatever order the batches arrive in.
    Column("seq", _BIG, nullable=False),
    Index(None, "key", "value"),
)

tags = Table(
    "tags",
    metadata,
    Column("run_id", String(_ID), ForeignKey("runs.id"), primary_key=True),
    Column("key", String(250), primary_key=True),
    Column("value", Text, nullable=False),
    Index(None, "key", "value"),
)

blobs = Table(
    "blobs",
    metadata,
    Column("digest", String(_DIGEST), primary_key=True),
    Column("size", _BIG, nullable=False),
    Column("created_at", Double, nullable=False),
)

artifacts = Table(
    "artifacts",
    metadata,
    Column("id", String(_ID), primary_key=True),
    Column("project_id", String(_ID), ForeignKey("projects.id"), nullable=False),
    Column("name", String(300), nullable=False),
    Column("kind", String(30), nullable=False),
    Column("format", String(30), nullable=False),
    Column("digest", String(_DIGEST), ForeignKey("blobs.digest"), nullable=False),
    Column("size", _BIG, nullable=False),
    Column("schema_json", Text, nullable=False, default="{}"),
    Column("stats_json", Text, nullable=False, default="{}"),
    Column("run_id", String(_ID), ForeignKey("runs.id")),
    Column("created_at", Double, nullable=False),
    Column("created_by", String(200), nullable=False),
    UniqueConstraint("run_id", "name"),
    Index(None, "name"),
    Index(None, "digest"),
    # Listed newest first, in some projects or in all.
    Index(None, "project_id", "created_at", "id"),
    Index(None, "created_at", "id"),
)

metadata_fields = Table(
    "metadata_fields",
    metadata,
    Column("id", String(_ID), primary_key=True),
    Column("name", String(120), nullable=False, unique=True),
    Column("type", String(10), nullable=False),
    Column("unit", String(40)),
    Column("minimum", Double),
    Column("maximum", Double),
    Column("choices_json", Text),
    Column("required", Boolean, nullable=False, default=False),
    Column("applies_to", String(10), nullable=False, default="both"),
    Column("description", Text, nullable=False, default=""),
    Column("created_at", Double, nullable=False),
)

metadata_values = Table(
    "metadata_values",
    metadata,
    Column("field_id", String(_ID), ForeignKey("metadata_fields.id"), primary_key=True),
    Column("target_kind", String(10), primary_key=True),
    Column("target_id", String(_ID), primary_key=True),
    Column("value_num", Double),
    Column("value_text", Text),
    Column("updated_at", Double, nullable=False),
    Index(None, "field_id", "value_num"),
    Index(None, "field_id", "value_text"),
    Index(None, "target_kind", "target_id"),
)

# A collection belongs to a project (revision 0008); its name is unique within the project.
collections = Table(
    "collections",
    metadata,
    Column("id", String(_ID), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("owner", String(200), nullable=False),
    Column("created_at", Double, nullable=False),
    Column("project_id", String(_ID), ForeignKey("projects.id"), nullable=False),
    UniqueConstraint("project_id", "name"),
)

collection_members = Table(
    "collection_members",
    metadata,
    Column("collection_id", String(_ID), ForeignKey("collections.id"), primary_key=True),
    Column("member_kind", String(10), primary_key=True),
    Column("member_id", String(_ID), primary_key=True),
    Column("added_at", Double, nullable=False),
)

search_documents = Table(
    "search_documents",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("target_kind", String(10), nullable=False),
    Column("target_id", String(_ID), nullable=False),
    Column("title", Text, nullable=False),
    Column("body", Text, nullable=False),
    UniqueConstraint("target_kind", "target_id"),
)

ledger = Table(
    "ledger",
    metadata,
    Column("seq", _BIG, primary_key=True, autoincrement=True),
    Column("id", String(_ID), nullable=False, unique=True),
    Column("kind", String(60), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("subject", String(120), nullable=False),
    Column("payload_json", Text, nullable=False),
    Column("created_at", Double, nullable=False),
    # Unique: two writers can never both extend the same head, so the chain cannot fork.
    Column("prev_hash", String(_DIGEST), nullable=False, unique=True),
    Column("hash", String(_DIGEST), nullable=False, unique=True),
    Column("signature", String(128)),
    Index(None, "subject"),
    Index(None, "kind"),
)

ledger_keys = Table(
    "ledger_keys",
    metadata,
    Column("actor", String(200), primary_key=True),
    Column("public_key", String(64), nullable=False),
    Column("created_at", Double, nullable=False),
)


# -- transparency log (revision 0004) ---------------------------------------------------------

# The ledger's Merkle tree (see merkle.py): the hash of every complete subtree, by level (0 for
# leaves) and index; leaf i is the entry with seq i + 1. Derived from the entries, so it can always
# be rebuilt; verify recomputes it.
ledger_tree = Table(
    "ledger_tree",
    metadata,
    Column("level", Integer, primary_key=True, autoincrement=False),
    Column("idx", _BIG, primary_key=True, autoincrement=False),
    Column("hash", String(64), nullable=False),
)

# Signed statements of the tree (size, root, time, workspace): one at the end of every run and
# one per `labledger checkpoint`. The document is the checkpoint as published.
ledger_checkpoints = Table(
    "ledger_checkpoints",
    metadata,
    Column("id", String(_ID), primary_key=True),
    Column("size", _BIG, nullable=False),
    Column("root", String(64), nullable=False),
    Column("created_at", Double, nullable=False),
    Column("document", Text, nullable=False),
)

# Facts about the workspace itself: "id", a UUID made when it was created, which checkpoints name.
workspace_info = Table(
    "workspace_info",
    metadata,
    Column("key", String(60), primary_key=True),
    Column("value", Text, nullable=False),
)

# -- pipelines (revision 0002) ----------------------------------------------------------------

pipeline_runs = Table(
    "pipeline_runs",
    metadata,
    Column("run_id", String(_ID), ForeignKey("runs.id"), primary_key=True),
    # "module:qualname" or "path/to/file.py:name": how to find the pipeline again.
    Column("pipeline", String(500), nullable=False),
    # A tree of the pipeline's source files, and the environment lock (JSON), both blobs.
    Column("code_digest", String(_DIGEST)),
    Column("lock_digest", String(_DIGEST)),
    Column("seed", Integer, nullable=False),
    # The bound parameters with their types (runs.params holds them as text).
    Column("params_json", Text, nullable=False, default="{}"),
    Column("reproduces", String(_ID), ForeignKey("runs.id")),
    # Revision 0003: what each step's cache key was made of (a blob), and why the run cannot be
    # re-executed (NULL when it can).
    Column("facts_digest", String(_DIGEST)),
    Column("replay_error", Text),
)

tasks = Table(
    "tasks",
    metadata,
    Column("id", String(_ID), primary_key=True),
    Column("run_id", String(_ID), ForeignKey("runs.id"), nullable=False),
    # The task's name in its run's graph ("train" or "train_2" when a step is called twice).
    Column("node", String(300), nullable=False),
    Column("step", String(300), nullable=False),
    Column("fingerprint", String(_DIGEST), nullable=False),
    Column("cache_key", String(_DIGEST), nullable=False),
    Column("status", String(20), nullable=False),
    Column("cached_from", String(_ID)),
    Column("attempts", Integer, nullable=False, default=0),
    Column("started_at", Double),
    Column("ended_at", Double),
    Column("params_json", Text, nullable=False, default="{}"),
    Column("options_json", Text, nullable=False, default="{}"),
    Column("code_captured", Boolean, nullable=False, default=True),
    Column("log_digest", String(_DIGEST)),
    Column("error", Text),
    # Revision 0003: the metrics and tags the step logged while it ran (a blob).
    Column("logged_digest", String(_DIGEST)),
    UniqueConstraint("run_id", "node"),
    Index(None, "cache_key", "status"),
    # Revision 0009: a run's cache entries fetched by its steps' fingerprints, newest first
    # (cache_index): a bounded read of the newest rows, however many a step has.
    Index(None, "fingerprint", "status", "ended_at"),
)

task_inputs = Table(
    "task_inputs",
    metadata,
    Column("task_id", String(_ID), ForeignKey("tasks.id"), primary_key=True),
    Column("name", String(200), primary_key=True),
    Column("artifact_id", String(_ID), ForeignKey("artifacts.id"), nullable=False),
    Index(None, "artifact_id"),
)

task_outputs = Table(
    "task_outputs",
    metadata,
    Column("task_id", String(_ID), ForeignKey("tasks.id"), primary_key=True),
    Column("name", String(200), primary_key=True),
    Column("artifact_id", String(_ID), ForeignKey("artifacts.id"), nullable=False),
    # True on the task that made the artifact; false on tasks that reused it from the cache.
    Column("produced", Boolean, nullable=False),
    # The materializer that wrote the value, to load it back as the same Python type.
    Column("materializer", String(60), nullable=False),
    Index(None, "artifact_id", "produced"),
)

verifications = Table(
    "verifications",
    metadata,
    Column("artifact_id", String(_ID), ForeignKey("artifacts.id"), primary_key=True),
    Column("run_id", String(_ID), ForeignKey("runs.id"), primary_key=True),
    Column("digest", String(_DIGEST), nullable=False),
    Column("matched", Boolean, nullable=False),
    Column("checked_at", Double, nullable=False),
)


# -- identity (revision 0006) -----------------------------------------------------------------

users = Table(
    "users",
    metadata,
    Column("id", String(_ID), primary_key=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("display_name", String(200), nullable=False, default=""),
    # An argon2 hash (its parameters and salt included); NULL for users who sign in with tokens.
    Column("password_hash", Text),
    Column("is_admin", Boolean, nullable=False, default=False),
    Column("disabled", Boolean, nullable=False, default=False),
    Column("created_at", Double, nullable=False),
)

# Only the SHA-256 of a token's secret is kept: the secret itself is shown once and never stored.
api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", String(_ID), primary_key=True),
    Column("user_id", String(_ID), ForeignKey("users.id"), nullable=False),
    Column("name", String(200), nullable=False),
    Column("secret_hash", String(64), nullable=False, unique=True),
    Column("created_at", Double, nullable=False),
    Column("expires_at", Double),
    Column("revoked_at", Double),
    Column("last_used_at", Double),
    # The token a token was made with (through a server, signed in with it): revoking that one
    # revokes this one too.
    Column("parent_id", String(_ID)),
    Index(None, "user_id"),
    Index(None, "parent_id"),
)

project_members = Table(
    "project_members",
    metadata,
    Column("project_id", String(_ID), ForeignKey("projects.id"), primary_key=True),
    Column("user_id", String(_ID), ForeignKey("users.id"), primary_key=True),
    Column("role", String(20), nullable=False),
    Column("granted_at", Double, nullable=False),
    Column("granted_by", String(200), nullable=False),
    Index(None, "user_id"),
)


# -- users' signing keys (revision 0007) ------------------------------------------------------

# The Ed25519 public keys users registered through the server, by key id (the public key, hex,
# as signed bodies name it). A hint for people and for refusing early: ``verify`` learns the keys
# from the ledger's ``user.key_added`` and ``user.key_revoked`` entries, never from this table.
user_keys = Table(
    "user_keys",
    metadata,
    Column("public_key", String(64), primary_key=True),
    Column("user_id", String(_ID), ForeignKey("users.id"), nullable=False),
    Column("name", String(200), nullable=False),
    Column("created_at", Double, nullable=False),
    Column("revoked_at", Double),
    Index(None, "user_id"),
)
