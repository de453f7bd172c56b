"""Opening the catalog database: engine settings per dialect and schema migrations.

Opening only checks the schema revision (``check_revision``); migrating is explicit (``upgrade``,
called by ``labledger init`` and ``labledger migrate``), so a reader never writes and a read-only
database role can open a workspace.

SQLite runs in WAL mode with a generous busy timeout, foreign keys on, and write transactions that
start with ``BEGIN IMMEDIATE``: a writer takes the lock up front instead of upgrading a read lock
half-way, which is what otherwise surfaces as "database is locked" under several writers.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import create_engine, event, inspect, make_url, text
from sqlalchemy.exc import DBAPIError, DisconnectionError

from labledger._foundation.errors import (
    ConfigurationError,
    SchemaOutdatedError,
    WorkspaceNotFoundError,
    WorkspaceUnreadableError,
)
from labledger._foundation.extras import install_hint

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

__all__ = ["HEAD_REVISION", "Catalog", "Migration", "check_revision", "upgrade"]

HEAD_REVISION = "0013"
_MIGRATIONS = Path(__file__).with_name("migrations")
_BUSY_TIMEOUT_MS = 60_000
# The PostgreSQL advisory lock that serialises migrations (any fixed 64-bit number; "lbldgr").
_MIGRATION_LOCK = 0x6C626C646772
# What SQLite says of a file that is not one of its databases, or one whose pages are damaged.
_DAMAGED = re.compile(r"not a database|malformed|corrupt", re.IGNORECASE)


def _sqlite_engine(url: str, *, immediate: bool) -> Engine:
    engine = create_engine(url, connect_args={"timeout": _BUSY_TIMEOUT_MS / 1000})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Manage transactions ourselves so BEGIN IMMEDIATE can be issued.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    begin = "BEGIN IMMEDIATE" if immediate else "BEGIN"

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # Straight to the driver: this runs for every transaction.
        connection.connection.driver_connection.execute(begin)

    return engine


# A pooled connection idle this long is checked before it is lent out (see _ping_when_idle).
_PING_AFTER_IDLE_S = 1.0


def _ping_when_idle(engine: Engine) -> None:
    """Check a pooled PostgreSQL connection with a round trip before lending it out, if it sat
    idle for ``_PING_AFTER_IDLE_S`` or more: one that the database dropped (a restart, a
    failover, an idle timeout) is replaced before a request uses it. SQLAlchemy's
    ``pool_pre_ping`` checks at every checkout: a round trip per request, which in a busy server
    is one more wait for the GIL per request, for connections used milliseconds before. A
    connection that breaks while in use fails its request as before: the request is refused
    whole (writes are single transactions) and the pool replaces its connections.
    """
    dialect = engine.dialect

    @event.listens_for(engine, "connect")
    @event.listens_for(engine, "checkin")
    def _idle(dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _check(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        since = record.info.get("idle_since")
        if since is not None and time.monotonic() - since < _PING_AFTER_IDLE_S:
            return
        try:
            dialect.do_ping(dbapi_connection)
        except Exception as exc:
            # Any failure: the pool discards this connection and lends out another.
            raise DisconnectionError(str(exc)) from exc


class Catalog:
    """The catalog's engines: ``writer`` for transactions that write, ``reader`` for queries.

    On PostgreSQL both share one pool, the reader in autocommit; on SQLite the writer starts
    transactions with ``BEGIN IMMEDIATE``.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.dialect = url.split(":", 1)[0].split("+", 1)[0]
        self._write_lock = (os.getpid(), threading.RLock())
        if self.dialect == "sqlite":
            self.writer = _sqlite_engine(url, immediate=True)
            self.reader = _sqlite_engine(url, immediate=False)
        elif self.dialect in {"postgresql", "postgres"}:
            if url.startswith(("postgresql://", "postgres://")):
                url = "postgresql+psycopg://" + url.split("://", 1)[1]
            try:
                self.writer = create_engine(url, pool_size=10)
            except ModuleNotFoundError as exc:
                raise ConfigurationError(
                    "the PostgreSQL driver is not installed",
                    hint=install_hint("postgres"),
                ) from exc
            _ping_when_idle(self.writer)
            # Reads share the writer's pool, in autocommit: a read-only transaction under READ
            # COMMITTED (PostgreSQL's default) takes a fresh snapshot at each statement anyway,
            # and without one a read saves two round trips, the BEGIN before its first
            # statement and the ROLLBACK when the pool takes the connection back (a quarter of a
            # page of runs' time under load). A read that needs one snapshot asks for it
            # (``verify``: REPEATABLE READ).
            self.reader = self.writer.execution_options(isolation_level="AUTOCOMMIT")
            self.dialect = "postgresql"
        else:
            raise ConfigurationError(
                f"unsupported catalog database {self.dialect!r}", hint="use sqlite or postgresql"
            )

    def write_lock(self) -> threading.RLock:
        """The lock this process's threads take, in turn, before a SQLite write transaction.

        SQLite lets one writer in at a time and makes the others poll, sleeping longer each
        time (its busy handler); many threads of one server polling like that wait up to a
        second behind writes of a few milliseconds. Queued on this lock instead, each goes in
        as soon as the last is done. Other processes still meet the busy timeout. Re-entrant, so
        a write inside a write on the same thread behaves as it did without it; a new lock in a
        forked child, which must not inherit one a parent's thread held.
        """
        pid, lock = self._write_lock
        if pid != os.getpid():
            self._write_lock = (os.getpid(), threading.RLock())
            lock = self._write_lock[1]
        return lock

    @property
    def safe_url(self) -> str:
        """The URL with its password hidden, for messages."""
        try:
            return make_url(self.url).render_as_string(hide_password=True)
        except Exception:  # an unparsable URL still needs a message
            return self.url.split("@")[-1]

    def revision(self) -> str | None:
        """The schema revision in the database, or ``None`` when it has no schema yet."""
        try:
            with self.reader.connect() as conn:
                if not inspect(conn).has_table("alembic_version"):
                    return None
                return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
        except DBAPIError as exc:
            # DatabaseError too: a file that is not SQLite fails before any query runs.
            reason = (str(exc.orig).strip().splitlines() or ["unknown error"])[0]
            if self.dialect == "sqlite" and _DAMAGED.search(reason):
                path = make_url(self.url).database or self.url
                raise WorkspaceUnreadableError(
                    f"the catalog {path} is not a SQLite database or is corrupt ({reason})",
                    hint=(
                        "restore the file from a backup copy; `sqlite3 CATALOG .recover` salvages "
                        "what is still readable into a new database"
                    ),
                ) from exc
            raise WorkspaceUnreadableError(
                f"cannot read the catalog at {self.safe_url}: {reason}",
                hint="check the path and its permissions, or the database server",
            ) from exc

    def dispose(self) -> None:
        self.writer.dispose()
        with contextlib.suppress(Exception):
            self.reader.dispose()


@dataclass(frozen=True, slots=True)
class Migration:
    """What ``upgrade`` did: the schema revision before and after.

    Attributes:
        from_revision: The revision the catalog was at (``None``: it had no schema).
        to_revision: The revision it is at now (always this labledger's head).
    """

    from_revision: str | None
    to_revision: str

    @property
    def changed(self) -> bool:
        """Whether any migration was applied."""
        return self.from_revision != self.to_revision


def _refuse_newer(current: str) -> None:
    if current > HEAD_REVISION:
        raise WorkspaceUnreadableError(
            f"the catalog is at schema revision {current}, newer than this labledger knows",
            hint="upgrade labledger: pip install -U labledger",
        )


def check_revision(catalog: Catalog) -> str:
    """The catalog's revision, if it is the one this labledger needs; never writes.

    Raises:
        WorkspaceNotFoundError: The database has no labledger schema at all.
        SchemaOutdatedError: The schema is older than this labledger's.
        WorkspaceUnreadableError: The schema is newer than this labledger's, or unreadable.
    """
    current = catalog.revision()
    if current == HEAD_REVISION:
        return current
    if current is None:
        raise WorkspaceNotFoundError(
            f"the catalog at {catalog.safe_url} has no labledger schema",
            hint="run `labledger init` to create the workspace",
        )
    _refuse_newer(current)
    raise SchemaOutdatedError(
        f"the catalog is at schema revision {current}; this labledger needs {HEAD_REVISION}",
        current=current,
        required=HEAD_REVISION,
        hint="run `labledger migrate` (back up first: `labledger backup`)",
    )


def upgrade(catalog: Catalog) -> Migration:
    """Bring the schema to the newest revision (cheap when it is already there).

    Safe when several processes call it at once: the migration runs in one transaction that holds
    the database's write lock (SQLite) or an advisory lock (PostgreSQL) from before it reads the
    revision, so one process applies it and the others find it done.
    """
    current = catalog.revision()
    if current == HEAD_REVISION:
        return Migration(current, HEAD_REVISION)
    if current is not None:
        _refuse_newer(current)
    from alembic import command
    from alembic.config import Config
    from alembic.runtime.migration import MigrationContext

    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    with catalog.writer.begin() as conn:
        if catalog.dialect == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})
        # Read again under the lock: another process may have migrated in the meantime.
        current = MigrationContext.configure(conn).get_current_revision()
        if current is not None:
            _refuse_newer(current)
        if current != HEAD_REVISION:
            config.attributes["connection"] = conn
            command.upgrade(config, "head")
    return Migration(current, HEAD_REVISION)
