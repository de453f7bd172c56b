"""Backing up a workspace while it is in use, and restoring a backup.

A backup is taken in an order that makes it consistent without stopping writers:

1. **The catalog first**, as one snapshot. SQLite: the online backup API in a single step
   (``sqlite3.Connection.backup`` with ``pages=-1``), which copies the database's pages inside one
   read transaction; in WAL mode that reader never blocks a writer, and a single step is never
   restarted by their commits (a stepped backup is, and under steady writes may never finish).
   ``VACUUM INTO`` is consistent too, but rebuilds every table and index, which costs more than a
   page copy. PostgreSQL: ``pg_dump`` of an exported snapshot (see ``backup_postgres``).
2. **Then the blobs that snapshot references** (table ``blobs``: artifacts, the files and manifests
   of folder artifacts, code snapshots, environments). A writer stores a blob *before* it commits
   the row naming it, so each blob the snapshot names was in the store when the snapshot was taken;
   only ``gc`` or damage can have removed it since, and a blob ``gc`` moved to the trash is read there.
   Blobs go to ``DEST/.labledger/objects`` incrementally (see ``backup_blobs``).
3. **Then the catalog is put in place** (so an interrupted backup leaves the previous one whole),
   with the workspace key and ``backup.json``, and the backup is verified as a workspace.

A backup of a folder workspace is itself a workspace folder: ``labledger verify -w DEST`` works on it.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import make_url
from sqlalchemy.exc import SQLAlchemyError

from labledger._foundation.errors import ConfigurationError, LabledgerError, WorkspaceError
from labledger._foundation.settings import WORKSPACE_DIRNAME, resolve_settings
from labledger.workspace.backup_blobs import copy_blobs, rehash_blobs, upload_blobs
from labledger.workspace.backup_postgres import (
    DUMP_FILE,
    check_dump,
    database_is_empty,
    dump_catalog,
    restore_catalog,
)
from labledger.workspace.checkpoints import Checkpoint, latest_checkpoint, make_checkpoint
from labledger.workspace.local_store import LocalBlobStore
from labledger.workspace.verify import Problem, VerifyReport, verify_workspace
from labledger.workspace.workspace import Workspace, make_store

if TYPE_CHECKING:
    from collections.abc import Callable


__all__ = ["BACKUP_FILE", "BACKUP_FORMAT", "BackupReport", "backup_workspace", "restore_workspace"]

BACKUP_FILE = "backup.json"
BACKUP_FORMAT = "labledger-backup/1"
_KEY_FILE = "workspace-key.pem"
_CATALOG = "catalog.db"


@dataclass(frozen=True, slots=True)
class BackupReport:
    """What ``backup_workspace`` or ``restore_workspace`` did, and how the result verified.

    Attributes:
        destination: The backup folder, or the restored workspace (folder or database).
        catalog_kind: ``sqlite`` or ``postgresql``.
        catalog_bytes: Size of the catalog copy (the SQLite file, or the dump).
        blobs: Blobs the catalog snapshot references.
        copied: Blobs copied this time.
        present: Blobs already there, left alone.
        bytes_copied: Bytes copied this time.
        missing: Referenced blobs found neither in the source store nor in its trash.
        corrupt: Referenced blobs whose source bytes do not match their digest (not copied).
        key_copied: The workspace key (which signs checkpoints) was copied.
        checkpoint: The ledger's checkpoint at backup time (``None`` for a restore).
        verify: The check of the result (see ``verify_workspace``).
        seconds: How long it took.
    """

    destination: str
    catalog_kind: str
    catalog_bytes: int
    blobs: int
    copied: int
    present: int
    bytes_copied: int
    missing: list[str] = field(default_factory=list)
    corrupt: list[str] = field(default_factory=list)
    key_copied: bool = False
    checkpoint: Checkpoint | None = None
    verify: VerifyReport | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """Every referenced blob was copied and the result verified."""
        return not (self.missing or self.corrupt) and self.verify is not None and self.verify.ok


# -- the catalog ---------------------------------------------------------------------------------


def _sqlite_path(url: str) -> Path:
    database = make_url(url).database
    if not database or database == ":memory:":
        raise ConfigurationError(
            "an in-memory catalog cannot be backed up", hint="use a workspace folder"
        )
    return Path(database)


def _snapshot_sqlite(database: Path, target: Path) -> dict[str, int]:
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


def _with_references(
    workspace: Workspace, snapshot: Path, wanted: dict[str, int]
) -> dict[str, int]:
    """Add every blob the snapshot's rows and entries name (see ``references``), not only the
    ``blobs`` table's: a deleted row must not drop a blob from the backup unnoticed."""
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


def _backup_checkpoint(source_root: Path) -> Checkpoint | None:
    """The checkpoint ``backup.json`` holds (``None`` when it has none or cannot be read)."""
    try:
        document = json.loads((source_root / BACKUP_FILE).read_text(encoding="utf-8"))
        held = document.get("checkpoint") if isinstance(document, dict) else None
        return Checkpoint.from_dict(held) if held else None
    except (OSError, ValueError, LabledgerError):
        return None


def _install_catalog(partial: Path, final: Path) -> None:
    """Put a new catalog file in place of the old one and its write-ahead log."""
    for leftover in ("-wal", "-shm"):
        # A log left beside the new file would be replayed into it: remove it first.
        Path(f"{final}{leftover}").unlink(missing_ok=True)
    os.replace(partial, final)


def _checkpoint(workspace: Workspace) -> Checkpoint | None:
    try:
        return make_checkpoint(workspace)
    except (SQLAlchemyError, OSError):
        # A workspace this user may only read: the newest checkpoint it stored stands in.
        with workspace.read() as conn:
            return latest_checkpoint(conn)


def _copy_key(source_root: Path | None, target_root: Path) -> bool:
    source = source_root / _KEY_FILE if source_root is not None else None
    if source is None or not source.is_file():
        return False
    target = target_root / _KEY_FILE
    partial = target_root / f"{_KEY_FILE}.partial"
    partial.unlink(missing_ok=True)
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with open(fd, "wb") as out:
        out.write(source.read_bytes())
        out.flush()
        os.fsync(out.fileno())
    os.replace(partial, target)
    return True


def _prepare_folder(root: Path) -> None:
    (root / "objects").mkdir(parents=True, exist_ok=True)
    gitignore = root / ".gitignore"
    if not gitignore.exists():
        gitignore.write_text("# labledger workspace data\n*\n")


# -- verifying -----------------------------------------------------------------------------------


def _with_problems(report: VerifyReport, extra: list[Problem], blobs_checked: int) -> VerifyReport:
    seen = {(p.kind, p.id) for p in extra}
    problems = extra + [p for p in report.problems if (p.kind, p.id) not in seen]
    return dataclasses.replace(report, problems=problems, blobs_checked=blobs_checked)


def _copy_problems(missing: list[str], corrupt: list[str]) -> list[Problem]:
    return [
        *(Problem("blob", d, "missing from the source store and its trash") for d in missing),
        *(Problem("blob", d, "corrupt in the source store: not copied") for d in corrupt),
    ]


def _verify_folder(
    root: Path,
    *,
    checkpoint: Checkpoint | None,
    rehash: list[str] | None,
    extra: list[Problem],
    progress: Callable[[str, int, int], None] | None,
) -> VerifyReport:
    """Verify the workspace folder ``root`` as it stands, re-hashing ``rehash`` (``None``: all)."""
    # Not Workspace.open: that would upgrade the copy and mark runs crashed, changing the snapshot.
    workspace = Workspace(resolve_settings(root))
    try:
        report = verify_workspace(
            workspace,
            blobs=rehash is None,
            progress=progress,
            checkpoint=checkpoint,
            remember=False,
        )
    finally:
        workspace.close()
    if rehash is None:
        return _with_problems(report, extra, report.blobs_checked)
    found = rehash_blobs(root / "objects", rehash, progress=progress)
    return _with_problems(report, extra + [Problem("blob", d, r) for d, r in found], len(rehash))


# -- backup --------------------------------------------------------------------------------------


def _check_destination(workspace: Workspace, destination: Path) -> None:
    source = workspace.settings.root
    target = (destination / WORKSPACE_DIRNAME).resolve()
    if source is not None and (target == source.resolve() or source.resolve() in target.parents):
        raise ConfigurationError(
            f"{destination} is the workspace itself or inside it",
            hint="back up to a folder outside the workspace, ideally on another disk",
        )


def _write_manifest(destination: Path, report: BackupReport, workspace: Workspace) -> None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        labledger_version = version("labledger")
    except PackageNotFoundError:  # running from a source tree that is not installed
        labledger_version = "unknown"
    verify = report.verify
    document: dict[str, Any] = {
        "format": BACKUP_FORMAT,
        "created_at": time.time(),
        "labledger_version": labledger_version,
        "source": {"catalog": workspace.catalog.safe_url, "store": workspace.store.url},
        "catalog": {
            "kind": report.catalog_kind,
            "file": f"{WORKSPACE_DIRNAME}/{_CATALOG}"
            if report.catalog_kind == "sqlite"
            else DUMP_FILE,
            "bytes": report.catalog_bytes,
        },
        "blobs": {
            "referenced": report.blobs,
            "copied": report.copied,
            "already_there": report.present,
            "bytes_copied": report.bytes_copied,
            "missing": report.missing,
            "corrupt": report.corrupt,
        },
        "key_file": report.key_copied,
        "checkpoint": report.checkpoint.to_dict() if report.checkpoint else None,
        "verified": {
            "ok": report.ok,
            "ledger_entries": verify.entries_checked if verify else 0,
            "tree_root": verify.tree_root if verify else "",
            "problems": len(verify.problems) if verify else 0,
        },
        "seconds": round(report.seconds, 3),
    }
    partial = destination / f"{BACKUP_FILE}.partial"
    partial.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n")
    os.replace(partial, destination / BACKUP_FILE)


def backup_workspace(
    workspace: Workspace,
    destination: str | os.PathLike[str],
    *,
    rehash_all: bool = False,
    progress: Callable[[str, int, int], None] | None = None,
) -> BackupReport:
    """Back up ``workspace`` into the folder ``destination`` while it is in use, then verify it.

    A second backup into the same folder copies only blobs it does not hold yet.

    Args:
        workspace: The workspace (folder or PostgreSQL).
        destination: The backup folder; created when missing.
        rehash_all: Re-hash every blob the backup holds, not only those copied now, and copy
            again any that is damaged (slower: reads the whole backup).
        progress: Called as ``progress(phase, done, total)``.

    Raises:
        ConfigurationError: ``destination`` is inside the workspace, or ``pg_dump`` is missing.
    """
    start = time.perf_counter()
    dest = Path(destination).expanduser()
    _check_destination(workspace, dest)
    root = dest / WORKSPACE_DIRNAME
    _prepare_folder(root)
    checkpoint = _checkpoint(workspace)
    postgres = workspace.catalog.dialect == "postgresql"
    if postgres:
        partial = dest / f"{DUMP_FILE}.partial"
        wanted = dump_catalog(workspace, partial)
    else:
        partial = root / f"{_CATALOG}.partial"
        wanted = _snapshot_sqlite(_sqlite_path(workspace.catalog.url), partial)
        wanted = _with_references(workspace, partial, wanted)
    copy = copy_blobs(
        workspace.store, wanted, root / "objects", rehash_present=rehash_all, progress=progress
    )
    extra = _copy_problems(copy.missing, copy.corrupt)
    if postgres:
        final = dest / DUMP_FILE
        os.replace(partial, final)
        check_dump(final)
        found = rehash_blobs(root / "objects", copy.copied, progress=progress)
        problems = extra + [Problem("blob", d, r) for d, r in found]
        verify = VerifyReport(0, len(copy.copied), 0, problems, anchors=["pg_restore --list"])
    else:
        final = root / _CATALOG
        _install_catalog(partial, final)
    key_copied = _copy_key(workspace.settings.root, root)
    if not postgres:
        verify = _verify_folder(
            root,
            checkpoint=checkpoint,
            # Copied blobs were hashed as they were written (and fsynced): reading them back
            # again would double the cost; --rehash-all re-reads everything.
            rehash=None if rehash_all else [],
            extra=extra,
            progress=progress,
        )
    report = BackupReport(
        str(dest),
        "postgresql" if postgres else "sqlite",
        final.stat().st_size,
        len(wanted),
        len(copy.copied),
        copy.present,
        copy.bytes_copied,
        copy.missing,
        copy.corrupt,
        key_copied,
        checkpoint,
        verify,
        time.perf_counter() - start,
    )
    _write_manifest(dest, report, workspace)
    return report


# -- restore -------------------------------------------------------------------------------------


def _backup_root(source: Path) -> Path:
    root = source if source.name == WORKSPACE_DIRNAME else source / WORKSPACE_DIRNAME
    if (root / _CATALOG).is_file() or (root.parent / DUMP_FILE).is_file():
        return root
    raise WorkspaceError(
        f"no backup at {source}: it holds neither {WORKSPACE_DIRNAME}/{_CATALOG} nor {DUMP_FILE}",
        hint="pass the folder that `labledger backup` wrote (the one with backup.json)",
    )


def _restore_folder(
    root: Path, target: Path, *, force: bool, progress: Callable[[str, int, int], None] | None
) -> BackupReport:
    start = time.perf_counter()
    target_root = target / WORKSPACE_DIRNAME
    if target_root.resolve() == root.resolve():
        raise ConfigurationError(f"{target} is the backup itself", hint="restore to another folder")
    if (target_root / _CATALOG).exists() and not force:
        raise WorkspaceError(
            f"{target} already holds a workspace",
            hint="restore into a new folder, or pass --force to replace its catalog and key "
            "(stop everything that uses it first)",
        )
    _prepare_folder(target_root)
    partial = target_root / f"{_CATALOG}.partial"
    wanted = _snapshot_sqlite(root / _CATALOG, partial)
    source = LocalBlobStore(root / "objects")
    copy = copy_blobs(source, wanted, target_root / "objects", progress=progress)
    _install_catalog(partial, target_root / _CATALOG)
    key_copied = _copy_key(root, target_root)
    verify = _verify_folder(
        target_root,
        # The checkpoint written with the backup: the restored ledger must still extend it.
        checkpoint=_backup_checkpoint(source_root=root.parent),
        rehash=None,
        extra=_copy_problems(copy.missing, copy.corrupt),
        progress=progress,
    )
    return BackupReport(
        str(target),
        "sqlite",
        (target_root / _CATALOG).stat().st_size,
        len(wanted),
        len(copy.copied),
        copy.present,
        copy.bytes_copied,
        copy.missing,
        copy.corrupt,
        key_copied,
        None,
        verify,
        time.perf_counter() - start,
    )


def _restore_postgres(
    root: Path, url: str, *, force: bool, progress: Callable[[str, int, int], None] | None
) -> BackupReport:
    start = time.perf_counter()
    settings = resolve_settings(url, must_exist=False)
    if not database_is_empty(url) and not force:
        raise WorkspaceError(
            "the database already holds tables",
            hint="restore into an empty database (createdb NAME), or pass --force to drop and "
            "replace the catalog's tables",
        )
    dump = root.parent / DUMP_FILE
    restore_catalog(dump, url, clean=force)
    store = make_store(settings)
    workspace = Workspace(settings, store=store)
    try:
        from sqlalchemy import select

        from labledger.workspace import schema

        with workspace.read() as conn:
            blobs = schema.blobs
            wanted = {str(d): int(s) for d, s in conn.execute(select(blobs.c.digest, blobs.c.size))}
        copy = upload_blobs(root / "objects", wanted, store, progress=progress)
        report = verify_workspace(workspace, progress=progress, remember=False)
    finally:
        workspace.close()
    verify = _with_problems(
        report, _copy_problems(copy.missing, copy.corrupt), report.blobs_checked
    )
    return BackupReport(
        make_url(url).render_as_string(hide_password=True),
        "postgresql",
        dump.stat().st_size,
        len(wanted),
        len(copy.copied),
        copy.present,
        copy.bytes_copied,
        copy.missing,
        copy.corrupt,
        False,
        None,
        verify,
        time.perf_counter() - start,
    )


def restore_workspace(
    source: str | os.PathLike[str],
    destination: str | os.PathLike[str] | None = None,
    *,
    force: bool = False,
    progress: Callable[[str, int, int], None] | None = None,
) -> BackupReport:
    """Restore the backup folder ``source`` into a new workspace, then verify it.

    Args:
        source: A folder written by ``backup_workspace``.
        destination: For a folder workspace's backup, the folder to restore into (default: the
            current folder); for a PostgreSQL one, the URL of an empty database (blobs then go to
            the store ``LABLEDGER_STORE`` names).
        force: Replace the catalog of a workspace already there (its blobs are kept).
        progress: Called as ``progress(phase, done, total)``.

    Raises:
        WorkspaceError: ``source`` is not a backup, or the destination holds a workspace.
        ConfigurationError: The destination does not fit the backup's kind.
    """
    root = _backup_root(Path(source).expanduser())
    raw = os.fspath(destination) if destination is not None else "."
    is_url = "://" in raw and not raw.startswith("file://")
    if (root.parent / DUMP_FILE).is_file():
        if not raw.startswith(("postgresql", "postgres")):
            raise ConfigurationError(
                "this is a backup of a PostgreSQL workspace: it restores into a database",
                hint="pass --to postgresql://USER@HOST/EMPTY_DATABASE and set LABLEDGER_STORE "
                "to the blob store to fill",
            )
        return _restore_postgres(root, raw, force=force, progress=progress)
    if is_url:
        raise ConfigurationError(
            "this is a backup of a folder workspace: it restores into a folder",
            hint="pass --to FOLDER",
        )
    return _restore_folder(
        root, Path(raw.removeprefix("file://")).expanduser(), force=force, progress=progress
    )
