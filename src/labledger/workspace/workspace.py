"""The ``Workspace``: the single door to a catalog, a blob store and the ledger.

An embedded workspace is a ``.labledger`` folder with ``catalog.db`` (SQLite) and ``objects/``; a
team workspace is a PostgreSQL database plus an S3 bucket. Both open the same way and behave the same.
A server's URL (``http(s)://``) opens a ``RemoteWorkspace`` (``workspace.http``): the same stores,
reached through the server.
"""

from __future__ import annotations

import contextlib
import functools
import getpass
import os
import socket
import time
import warnings
import weakref
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from labledger._foundation.errors import (
    ConfigurationError,
    StoreUnavailableError,
    ValidationError,
    WorkspaceNotFoundError,
    WorkspaceUnreadableError,
)
from labledger._foundation.ids import new_id
from labledger._foundation.settings import (
    WORKSPACE_DIRNAME,
    Settings,
    resolve_settings,
)
from labledger.workspace import schema
from labledger.workspace.attribution import requesting_user
from labledger.workspace.catalog import Catalog, Migration, check_revision, upgrade
from labledger.workspace.client_signatures import client_signatures
from labledger.workspace.ledger import LedgerEntry, append_entry
from labledger.workspace.signing import load_signer
from labledger.workspace.sqlite_driver import driver_connection, insert_sql
from labledger.workspace.store_spec import StoreSpec

if TYPE_CHECKING:
    from collections.abc import Iterator

    from sqlalchemy import Connection

    from labledger.stores.bundle import Stores
    from labledger.workspace.blobstore import BlobStore
    from labledger.workspace.signing import Signer
    from labledger.workspace.tip import Tip

__all__ = ["DEFAULT_PROJECT", "Workspace", "current_actor", "make_store"]

DEFAULT_PROJECT = "default"
# How often a writer looks for dead runs to seal as crashed (see reap_dead_runs).
REAP_EVERY_S = 60.0
# Every run registers its environment blob, so SQLite gets this from the driver (see sqlite_driver).
_SQLITE_REGISTER_BLOB = insert_sql(schema.blobs, ("digest", "size", "created_at"), ignore=True)


def _close_writers(idle: list[tuple[int, Connection]]) -> None:
    while idle:
        pid, conn = idle.pop()
        if pid == os.getpid():
            conn.close()


# psycopg's words when a text parameter holds U+0000, which PostgreSQL's text type cannot store.
_NUL_TEXT = "cannot contain NUL"


@contextlib.contextmanager
def _reachable(catalog: Catalog) -> Iterator[None]:
    """Turn a lost or refused database connection into ``StoreUnavailableError`` (retryable), and
    text holding a NUL character (which PostgreSQL refuses) into ``ValidationError``.

    Every PostgreSQL transaction runs inside this, so no store or route needs to check for NUL
    itself; the transaction has rolled back by the time the error arrives here.
    """
    from sqlalchemy.exc import DataError, InterfaceError, OperationalError

    try:
        yield
    except DataError as exc:
        if _NUL_TEXT not in str(exc.orig):
            raise
        raise ValidationError(
            "text holds a NUL character (U+0000), which the catalog cannot store",
            hint="remove the NUL character from the value, or escape it (for example as the "
            "six characters \\u0000); nothing was written",
        ) from exc
    except (OperationalError, InterfaceError) as exc:
        reason = (str(exc.orig).strip().splitlines() or ["unknown error"])[0]
        raise StoreUnavailableError(
            f"the catalog database at {catalog.safe_url} does not answer: {reason}",
            hint="check that the database server is up and reachable; the operation can be "
            "retried, nothing was half-written",
        ) from exc


def current_actor() -> str:
    """Who is acting: ``LABLEDGER_USER`` or the login name."""
    try:
        return os.environ.get("LABLEDGER_USER") or getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def _local(settings: Settings, verb: str) -> Settings:
    """``settings``, unless they name a server (its workspace is made and migrated where it runs)."""
    if settings.server_url is not None:
        raise ConfigurationError(
            f"a server's workspace is {verb} where the server runs, not through it",
            hint="run the command there, against the workspace's folder or database URL",
        )
    return settings


def make_store(settings: Settings) -> BlobStore:
    """The blob store that ``settings`` name (a folder, or an fsspec URL such as S3)."""
    return StoreSpec.of(settings).open()


class Workspace:
    """A catalog, a blob store and a ledger, opened together.

    Use ``Workspace.open()`` for an existing workspace and ``Workspace.init()`` to create one.
    Opening never writes: it checks the schema revision (``Workspace.migrate()`` upgrades an older
    one) and leaves dead runs as they are (writers seal them, see ``reap_dead_runs``).

    Attributes:
        settings: Where the parts live.
        catalog: The catalog's engines.
        store: The blob store.
        actor: Who writes; recorded on runs and ledger entries.
    """

    def __init__(
        self, settings: Settings, *, store: BlobStore | None = None, actor: str | None = None
    ) -> None:
        self.settings = settings
        self.catalog = Catalog(settings.catalog_url)
        self.store: BlobStore = store if store is not None else make_store(settings)
        self.actor = actor or current_actor()
        self.host = socket.gethostname()
        self.signer: Signer | None = None
        # Signs checkpoints (see checkpoints.ensure_workspace_key); loaded on first use.
        self.workspace_signer: Signer | None = None
        # The ledger's tip as this process derived it from the entries (see tip.py).
        self.ledger_tip: Tip | None = None
        # Keep a digest of each run's metric batches as they are written, so sealing a run whose
        # writer sends no digest of its own (a server's clients) reads few of its rows back. Set
        # by a server; an embedded run digests its own rows.
        self.carries_run_digests = False
        # Whether the actor's own key was looked for (see _resolve_signer).
        self._signer_resolved = self.signer is not None
        key_path = os.environ.get("LABLEDGER_SIGNING_KEY")
        if key_path:
            self.signer = load_signer(key_path, self.actor)
        self._project_ids: dict[str, str] = {}
        # When this object last looked for dead runs (time.monotonic; None: never).
        self._reaped_at: float | None = None
        self._statements: dict[tuple[Any, ...], Any] = {}
        # On SQLite, the connection of the last write transaction is kept for the next one (see
        # write); closed with the workspace, or when the workspace is collected.
        self._idle_writers: list[tuple[int, Connection]] = []
        self._release_writers = weakref.finalize(self, _close_writers, self._idle_writers)

    # -- opening -----------------------------------------------------------------------------

    @classmethod
    def open(cls, uri: str | os.PathLike[str] | Settings | None = None, **kwargs: Any) -> Workspace:
        """Open an existing workspace (see ``resolve_settings`` for how ``uri`` is found).

        A server's URL (``http(s)://``) opens a ``RemoteWorkspace``: the same stores, over HTTP.
        """
        settings = uri if isinstance(uri, Settings) else resolve_settings(uri)
        if settings.server_url is not None:
            from labledger.workspace.http.workspace import RemoteWorkspace

            return RemoteWorkspace(settings, **kwargs)
        if settings.root is not None and not (settings.root / "catalog.db").is_file():
            raise WorkspaceNotFoundError(
                f"{settings.root} has no catalog.db",
                hint="run `labledger init` to create the workspace",
            )
        workspace = cls(settings, **kwargs)
        workspace._prepare_or_close(migrate=False)
        return workspace

    @classmethod
    def migrate(
        cls, uri: str | os.PathLike[str] | Settings | None = None, **kwargs: Any
    ) -> Migration:
        """Bring an existing workspace's catalog to the schema this labledger needs.

        Safe to run twice (the second finds nothing to do) and from several processes at once
        (one applies the migrations, the others wait and find them done). Back the workspace up
        first (``labledger backup``): migrations change tables in place.

        Args:
            uri: The workspace (see ``resolve_settings`` for how it is found when ``None``), or
                its resolved ``Settings``.

        Returns:
            The schema revision before and after.
        """
        settings = _local(uri if isinstance(uri, Settings) else resolve_settings(uri), "migrated")
        if settings.root is not None and not (settings.root / "catalog.db").is_file():
            raise WorkspaceNotFoundError(
                f"{settings.root} has no catalog.db",
                hint="run `labledger init` to create the workspace",
            )
        with cls(settings, **kwargs) as workspace:
            migration = upgrade(workspace.catalog)
            workspace.project_id(DEFAULT_PROJECT)
        return migration

    @classmethod
    def init(cls, path: str | os.PathLike[str] | None = None, **kwargs: Any) -> Workspace:
        """Create (or open, if it exists) a workspace.

        Args:
            path: A folder for an embedded workspace (``.labledger`` is created inside it), or a
                database URL for a team workspace. Defaults to ``LABLEDGER_URI`` or the current folder.
        """
        raw = os.fspath(path) if path is not None else os.environ.get("LABLEDGER_URI") or "."
        if "://" in raw and not raw.startswith("file://"):
            settings = _local(resolve_settings(raw, must_exist=False), "created")
        else:
            folder = Path(raw.removeprefix("file://")).expanduser()
            root = folder if folder.name == WORKSPACE_DIRNAME else folder / WORKSPACE_DIRNAME
            try:
                (root / "objects").mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise WorkspaceUnreadableError(
                    f"cannot create a workspace at {root}: {exc.strerror}",
                    hint="choose a folder you can write to",
                ) from exc
            gitignore = root / ".gitignore"
            if not gitignore.exists():
                gitignore.write_text("# labledger workspace data\n*\n")
            # Resolved like open() does, so the environment's store settings apply here too.
            settings = resolve_settings(root.resolve())
        workspace = cls(settings, **kwargs)
        workspace._prepare_or_close(migrate=True)
        return workspace

    def _prepare_or_close(self, *, migrate: bool) -> None:
        try:
            if migrate:
                upgrade(self.catalog)
                self.project_id(DEFAULT_PROJECT)
            else:
                check_revision(self.catalog)
        except BaseException:
            # A workspace that cannot be prepared is never returned, so nobody else would close it.
            self.close()
            raise

    def reap_dead_runs(self, *, force: bool = True) -> list[str]:
        """Seal as ``crashed`` the ``running`` runs whose process died or whose lease expired.

        Writers call this before they write (``start_run`` does, at most every ``REAP_EVERY_S``
        per workspace object, so the cost stays off the hot path); readers never do.

        Args:
            force: Look now; with ``False``, only if this object has not looked in the last
                ``REAP_EVERY_S`` seconds.

        Returns:
            The ids of the runs sealed as crashed.
        """
        now = time.monotonic()
        if not force and self._reaped_at is not None and now - self._reaped_at < REAP_EVERY_S:
            return []
        self._reaped_at = now
        # Imported here: recovery is a tracking concern that needs only catalog tables.
        from labledger.workspace.recovery import mark_crashed_runs

        return mark_crashed_runs(self)

    def close(self) -> None:
        """Release database connections (and remember the ledger's tip for next time)."""
        tip = self.ledger_tip
        if tip is not None and tip.dirty:
            from labledger.workspace.tip import save_tip

            save_tip(self, tip)
        self._release_writers()
        made = self.__dict__.get("stores")
        if made is not None and "tasks" in made.__dict__:
            made.tasks.close()  # the connection it keeps for cache lookups
        self.catalog.dispose()

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def __repr__(self) -> str:
        where = self.settings.root or self.catalog.url.split("@")[-1]
        return f"<Workspace {where}>"

    @functools.cached_property
    def stores(self) -> Stores:
        """The stores the services read and write through."""
        from labledger.workspace.sql.stores import SqlStores

        return SqlStores(self)

    # -- transactions ------------------------------------------------------------------------

    @contextlib.contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction; commits on success, rolls back on error."""
        if self.catalog.dialect != "sqlite":
            with _reachable(self.catalog), self.catalog.writer.begin() as conn:
                yield conn
            return
        # Threads of this process take turns (``Catalog.write_lock``) rather than poll SQLite.
        # Taking a connection from the pool and returning it costs more than a small SQLite
        # transaction, and a run makes two or three in a row: reuse the last one. Only one is
        # kept; a thread that finds none (another thread has it) takes one from the pool.
        with self.catalog.write_lock():
            conn = self._idle_writer() or self.catalog.writer.connect()
            try:
                with conn.begin():
                    yield conn
            except BaseException:
                conn.close()
                raise
            if self._idle_writers or conn.closed or conn.invalidated:
                conn.close()
            else:
                self._idle_writers.append((os.getpid(), conn))

    def _idle_writer(self) -> Connection | None:
        try:
            pid, conn = self._idle_writers.pop()
        except IndexError:
            return None
        if pid != os.getpid():
            # A forked child must not use its parent's SQLite connection.
            return None
        return conn

    @contextlib.contextmanager
    def read(self) -> Iterator[Connection]:
        """A read-only connection."""
        if self.catalog.dialect != "sqlite":
            with _reachable(self.catalog), self.catalog.reader.connect() as conn:
                yield conn
            return
        with self.catalog.reader.connect() as conn:
            yield conn

    def record(
        self, conn: Connection, kind: str, subject: str, payload: dict[str, Any]
    ) -> LedgerEntry:
        """Append a ledger entry as this workspace's actor, inside ``conn``'s transaction.

        Inside ``attribution.acting_for(user)`` (a server request for someone other than this
        actor), the payload names that user as ``by`` unless it names someone already; inside
        ``client_signatures.signed_by_client`` the entry is the body that user signed.
        """
        by = requesting_user()
        signatures = client_signatures()
        if signatures is not None:
            # The signed-in client signs this write's entries itself (a server's request).
            return signatures.record(conn, kind, subject, payload, by)
        if by is not None and by != self.actor and "by" not in payload:
            payload = {**payload, "by": by}
        if not self._signer_resolved:
            self._resolve_signer(conn)
        return append_entry(
            conn, kind, subject=subject, payload=payload, actor=self.actor, signer=self.signer
        )

    def _resolve_signer(self, conn: Connection) -> None:
        """Load the actor's own key (``keys create``'s file) when it is registered here.

        Once an actor registers a key, ``verify`` reports their unsigned entries; without
        ``LABLEDGER_SIGNING_KEY``, the key at the default path is used if it is the registered one,
        and otherwise a warning says the entries about to be written will not be signed.
        """
        self._signer_resolved = True
        if self.signer is not None:
            return
        from sqlalchemy import select

        from labledger.workspace import schema
        from labledger.workspace.signing import UnsignedWriteWarning, default_key_path

        table, users, user_keys = schema.ledger_keys, schema.users, schema.user_keys
        registered = set(
            conn.execute(select(table.c.public_key).where(table.c.actor == self.actor)).scalars()
        )
        # Keys the actor registered as a user of a server over this catalog count too.
        registered.update(
            conn.execute(
                select(user_keys.c.public_key)
                .join(users, users.c.id == user_keys.c.user_id)
                .where(users.c.name == self.actor, user_keys.c.revoked_at.is_(None))
            ).scalars()
        )
        if not registered:
            return
        path = default_key_path(self.actor)
        with contextlib.suppress(ConfigurationError, OSError):
            if path.is_file():
                signer = load_signer(path, self.actor)
                if signer.public_key_hex in registered:
                    self.signer = signer
                    return
        warnings.warn(
            UnsignedWriteWarning(
                f"{self.actor} has a signing key registered in this workspace, but it is not "
                "loaded: entries written now are unsigned and `labledger verify` will report "
                "them; set LABLEDGER_SIGNING_KEY to your key's file"
            ),
            stacklevel=4,
        )

    def _dialect_insert(self, table: Any) -> Any:
        # Imported on use: the dialect modules are not needed to start the CLI.
        if self.catalog.dialect == "sqlite":
            from sqlalchemy.dialects import sqlite

            return sqlite.insert(table)
        from sqlalchemy.dialects import postgresql

        return postgresql.insert(table)

    def upsert(
        self, conn: Connection, table: Any, rows: list[dict[str, Any]], keys: list[str]
    ) -> None:
        """Insert rows, replacing the non-key columns of rows that already exist."""
        if not rows:
            return
        cache_key = (table.name, tuple(keys), tuple(rows[0]))
        upsert = self._statements.get(cache_key)
        if upsert is None:
            statement = self._dialect_insert(table)
            updates = {c: statement.excluded[c] for c in rows[0] if c not in keys}
            upsert = statement.on_conflict_do_update(index_elements=keys, set_=updates)
            self._statements[cache_key] = upsert
        conn.execute(upsert, rows)

    def insert_ignore(self, conn: Connection, table: Any, rows: list[dict[str, Any]]) -> None:
        """Insert rows, skipping those whose key exists already."""
        if not rows:
            return
        cache_key = (table.name, "ignore")
        statement = self._statements.get(cache_key)
        if statement is None:
            statement = self._dialect_insert(table).on_conflict_do_nothing()
            self._statements[cache_key] = statement
        conn.execute(statement, rows)

    # -- blobs -------------------------------------------------------------------------------

    def register_blob(self, conn: Connection, digest: str, size: int) -> None:
        """Record that the catalog references ``digest`` (so ``gc`` keeps it)."""
        db = driver_connection(conn)
        if db is not None:
            db.execute(_SQLITE_REGISTER_BLOB, (digest, size, time.time()))
            return
        self.insert_ignore(
            conn, schema.blobs, [{"digest": digest, "size": size, "created_at": time.time()}]
        )

    # -- projects ----------------------------------------------------------------------------

    def find_project_id(self, name: str = DEFAULT_PROJECT) -> str | None:
        """The id of project ``name``, or ``None`` when there is no such project (never writes)."""
        cached = self._project_ids.get(name)
        if cached is not None:
            return cached
        if not name or len(name) > 200:
            raise ConfigurationError(f"invalid project name {name!r}", hint="use 1-200 characters")
        table = schema.projects
        with self.read() as conn:
            found = conn.execute(select(table.c.id).where(table.c.name == name)).scalar()
        if found is not None:
            self._project_ids[name] = str(found)
        return None if found is None else str(found)

    def project_name(self, project_id: str) -> str | None:
        """The name of the project with id ``project_id``, or ``None`` (never writes)."""
        for name, known in self._project_ids.items():
            if known == project_id:
                return name
        table = schema.projects
        with self.read() as conn:
            found = conn.execute(select(table.c.name).where(table.c.id == project_id)).scalar()
        if found is not None:
            self._project_ids[str(found)] = project_id
        return None if found is None else str(found)

    def project_id(self, name: str = DEFAULT_PROJECT) -> str:
        """The id of project ``name``, created on first use (a write: readers use
        ``find_project_id``)."""
        found = self.find_project_id(name)
        if found is not None:
            return found
        table = schema.projects
        with self.write() as conn:
            self.insert_ignore(
                conn,
                table,
                [{"id": new_id(), "name": name, "description": "", "created_at": time.time()}],
            )
            created = conn.execute(select(table.c.id).where(table.c.name == name)).scalar_one()
        self._project_ids[name] = str(created)
        return str(created)
