"""The files of a folder backup: one consistent snapshot of the SQLite catalog, the blobs it
names, putting a copy in place, and the workspace key.

The snapshot uses the online backup API in a single step (``sqlite3.Connection.backup`` with
``pages=-1``), which copies the database's pages inside one read transaction; in WAL mode that
reader never blocks a writer, and a single step is never restarted by their commits (a stepped
backup is, and under steady writes may never finish). ``VACUUM INTO`` is consistent too, but
rebuilds every table and index, which costs more than a page copy.

Only the ``blobs`` table and ``alembic_version`` are read with plain SQL, so a catalog at any schema
revision can be copied; ``with_references`` reads the current schema's tables.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import make_url

from labledger._foundation.errors import ConfigurationError, LabledgerError

if TYPE_CHECKING:
    from labledger.workspace.workspace import Workspace

__all__ = [
    "CATALOG_FILE",
    "KEY_FILE",
    "copy_key",
    "install_catalog",
    "integrity_problems",
    "prepare_folder",
    "snapshot_revision",
    "snapshot_sqlite",
    "sqlite_path",
    "with_references",
]

CATALOG_FILE = "catalog.db"
KEY_FILE = "workspace-key.pem"


def sqlite_path(url: str) -> Path:
    """The database file of a SQLite catalog URL.

    Raises:
        ConfigurationError: The catalog lives in memory.
    """
    database = make_url(url).database
    if not database or database == ":memory:":
        raise ConfigurationError(
            "an in-memory catalog cannot be backed up", hint="use a workspace folder"
        )
    return Path(database)


def snapshot_sqlite(database: Path, target: Path) -> dict[str, int]:
    """Copy the database into ``target`` as one snapshot; return its blobs (digest -> size)."""
    for stale in ("", "-wal", "-shm"):  # leftovers of an interrupted backup
        Path(f"{target}{stale}").unlink(missing_ok=True)
    source = sqlite3.connect(database, timeout=60)
    try:
        copy = sqlite3.connect(target)
        try:
            source.backup(copy, pages=-1)  # one step: one read transaction, one snapshot
            rows = copy.execute("SELECT digest, size FROM blobs").fetchall()
        finally:
            copy.close()
    finally:
        source.close()
    return {str(digest): int(size) for digest, size in rows}


def snapshot_revision(database: Path) -> str | None:
    """The schema revision a catalog file is at (``None``: no labledger schema)."""
    connection = sqlite3.connect(database, timeout=60)
    try:
        row = connection.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.OperationalError:
        return None
    finally:
        connection.close()
    return str(row[0]) if row else None


def integrity_problems(database: Path) -> list[str]:
    """What SQLite's own ``integrity_check`` finds wrong with a catalog file (empty: nothing).

    It reads every page, table and index, whatever the schema revision.
    """
    connection = sqlite3.connect(database, timeout=60)
    try:
        rows = connection.execute("PRAGMA integrity_check").fetchall()
    except sqlite3.DatabaseError as exc:
        return [str(exc)]
    finally:
        connection.close()
    found = [str(row[0]) for row in rows]
    return [] if found == ["ok"] else found


def with_references(workspace: Workspace, snapshot: Path, wanted: dict[str, int]) -> dict[str, int]:
    """Add every blob the snapshot's rows and entries name (see ``references``), not only the
    ``blobs`` table's: a deleted row must not drop a blob from the backup unnoticed.

    Reads the current schema's tables: for a snapshot at this labledger's revision only.
    """
    from sqlalchemy import create_engine

    from labledger.workspace.references import referenced_blobs, tree_entries

    engine = create_engine(f"sqlite:///{snapshot}")
    try:
        with engine.connect() as conn:
            found = referenced_blobs(conn)
    finally:
        engine.dispose()
    every = dict(found)
    for digest, is_tree in found.items():
        if is_tree:
            every.update(dict.fromkeys(tree_entries(workspace.store, digest), False))
    result = dict(wanted)
    for digest in every:
        if digest not in result:
            try:
                result[digest] = workspace.store.size(digest)
            except LabledgerError:
                result[digest] = -1  # missing: the copy reports it
    return result


def install_catalog(partial: Path, final: Path) -> None:
    """Put a new catalog file in place of the old one and its write-ahead log."""
    for leftover in ("-wal", "-shm"):
        # A log left beside the new file would be replayed into it: remove it first.
        Path(f"{final}{leftover}").unlink(missing_ok=True)
    os.replace(partial, final)


def prepare_folder(root: Path) -> None:
    """Create a workspace folder's ``objects`` and ``.gitignore`` where they are missing."""
    (root / "objects").mkdir(parents=True, exist_ok=True)
    gitignore = root / ".gitignore"
    if not gitignore.exists():
        gitignore.write_text("# labledger workspace data\n*\n")


def copy_key(source_root: Path | None, target_root: Path) -> bool:
    """Copy the workspace key (mode 0600, flushed, renamed into place); whether there was one."""
    source = source_root / KEY_FILE if source_root is not None else None
    if source is None or not source.is_file():
        return False
    target = target_root / KEY_FILE
    partial = target_root / f"{KEY_FILE}.partial"
    partial.unlink(missing_ok=True)
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with open(fd, "wb") as out:
        out.write(source.read_bytes())
        out.flush()
        os.fsync(out.fileno())
    os.replace(partial, target)
    return True
