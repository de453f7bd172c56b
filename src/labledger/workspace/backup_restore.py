"""Restoring a backup: a folder backup into a workspace folder, a PostgreSQL one into an empty
database and its blob store, each verified once restored.

A backup of a catalog at an older schema revision is restored at that revision (for ``labledger
migrate`` to upgrade) and checked without the current schema (see ``backup_verify``).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import make_url

from labledger._foundation.errors import ConfigurationError, WorkspaceError
from labledger._foundation.settings import WORKSPACE_DIRNAME, resolve_settings
from labledger.workspace.backup_blobs import copy_blobs, upload_blobs
from labledger.workspace.backup_postgres import DUMP_FILE, database_is_empty, restore_catalog
from labledger.workspace.backup_report import BackupReport, backup_checkpoint
from labledger.workspace.backup_sqlite import (
    CATALOG_FILE,
    copy_key,
    install_catalog,
    prepare_folder,
    snapshot_revision,
    snapshot_sqlite,
)
from labledger.workspace.backup_verify import (
    copy_problems,
    is_outdated,
    not_verified,
    verify_folder,
    verify_outdated_copy,
    with_problems,
)
from labledger.workspace.local_store import LocalBlobStore
from labledger.workspace.verify import VerifyReport, verify_workspace
from labledger.workspace.workspace import Workspace, make_store

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["restore_workspace"]


def _backup_root(source: Path) -> Path:
    root = source if source.name == WORKSPACE_DIRNAME else source / WORKSPACE_DIRNAME
    if (root / CATALOG_FILE).is_file() or (root.parent / DUMP_FILE).is_file():
        return root
    raise WorkspaceError(
        f"no backup at {source}: it holds neither {WORKSPACE_DIRNAME}/{CATALOG_FILE} nor {DUMP_FILE}",
        hint="pass the folder that `labledger backup` wrote (the one with backup.json)",
    )


def _restore_folder(
    root: Path, target: Path, *, force: bool, progress: Callable[[str, int, int], None] | None
) -> BackupReport:
    start = time.perf_counter()
    target_root = target / WORKSPACE_DIRNAME
    if target_root.resolve() == root.resolve():
        raise ConfigurationError(f"{target} is the backup itself", hint="restore to another folder")
    if (target_root / CATALOG_FILE).exists() and not force:
        raise WorkspaceError(
            f"{target} already holds a workspace",
            hint="restore into a new folder, or pass --force to replace its catalog and key "
            "(stop everything that uses it first)",
        )
    prepare_folder(target_root)
    partial = target_root / f"{CATALOG_FILE}.partial"
    wanted = snapshot_sqlite(root / CATALOG_FILE, partial)
    revision = snapshot_revision(partial)
    source = LocalBlobStore(root / "objects")
    copy = copy_blobs(source, wanted, target_root / "objects", progress=progress)
    install_catalog(partial, target_root / CATALOG_FILE)
    key_copied = copy_key(root, target_root)
    extra = copy_problems(copy.missing, copy.corrupt)
    if is_outdated(revision):
        # A backup taken before an upgrade: restored at its own revision, for `labledger migrate`.
        verify = verify_outdated_copy(
            target_root, revision=str(revision), rehash=list(wanted), extra=extra, progress=progress
        )
    else:
        verify = verify_folder(
            target_root,
            # The checkpoint written with the backup: the restored ledger must still extend it.
            checkpoint=backup_checkpoint(root.parent),
            rehash=None,
            extra=extra,
            progress=progress,
        )
    return BackupReport(
        str(target),
        "sqlite",
        (target_root / CATALOG_FILE).stat().st_size,
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
        revision or "",
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
        extra = copy_problems(copy.missing, copy.corrupt)
        revision = workspace.catalog.revision()
        if is_outdated(revision):
            # Each blob was hashed as it was put into the store; the ledger waits for a migration.
            verify = VerifyReport(0, len(copy.copied), 0, extra, anchors=not_verified(revision))
        else:
            report = verify_workspace(workspace, progress=progress, remember=False)
            verify = with_problems(report, extra, report.blobs_checked)
    finally:
        workspace.close()
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
        revision or "",
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
