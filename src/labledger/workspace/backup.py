"""Backing up a workspace while it is in use, and restoring a backup.

A backup is taken in an order that makes it consistent without stopping writers:

1. **The catalog first**, as one snapshot: SQLite's online backup API in one step (see
   ``backup_sqlite``), or ``pg_dump`` of an exported snapshot (see ``backup_postgres``).
2. **Then the blobs that snapshot references** (table ``blobs``: artifacts, the files and manifests
   of folder artifacts, code snapshots, environments). A writer stores a blob *before* it commits
   the row naming it, so each blob the snapshot names was in the store when the snapshot was taken;
   only ``gc`` or damage can have removed it since, and a blob ``gc`` moved to the trash is read there.
   Blobs go to ``DEST/.labledger/objects`` incrementally (see ``backup_blobs``).
3. **Then the catalog is put in place** (so an interrupted backup leaves the previous one whole),
   with the workspace key and ``backup.json`` (see ``backup_report``), and the backup is verified
   (see ``backup_verify``).

A backup only reads the workspace, so it also works on a catalog at an older schema revision
(``open_for_backup``): the copy keeps that revision, and restoring it gives it back, for
``labledger migrate`` to upgrade. Such a copy is checked without the current schema.

A backup of a folder workspace is itself a workspace folder: ``labledger verify -w DEST`` works on it.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy.exc import SQLAlchemyError

from labledger._foundation.errors import (
    ConfigurationError,
    SchemaOutdatedError,
    WorkspaceNotFoundError,
)
from labledger._foundation.settings import WORKSPACE_DIRNAME, resolve_settings
from labledger.workspace.backup_blobs import copy_blobs, rehash_blobs
from labledger.workspace.backup_postgres import (
    DUMP_FILE,
    check_dump,
    dump_catalog,
)
from labledger.workspace.backup_report import (
    BACKUP_FILE,
    BACKUP_FORMAT,
    BackupReport,
    write_manifest,
)
from labledger.workspace.backup_restore import restore_workspace
from labledger.workspace.backup_sqlite import (
    CATALOG_FILE,
    copy_key,
    install_catalog,
    prepare_folder,
    snapshot_revision,
    snapshot_sqlite,
    sqlite_path,
    with_references,
)
from labledger.workspace.backup_verify import (
    copy_problems,
    is_outdated,
    not_verified,
    verify_folder,
    verify_outdated_copy,
)
from labledger.workspace.catalog import check_revision
from labledger.workspace.checkpoints import Checkpoint, latest_checkpoint, make_checkpoint
from labledger.workspace.verify import Problem, VerifyReport
from labledger.workspace.workspace import Workspace

if TYPE_CHECKING:
    from collections.abc import Callable


__all__ = [
    "BACKUP_FILE",
    "BACKUP_FORMAT",
    "BackupReport",
    "backup_workspace",
    "open_for_backup",
    "restore_workspace",
]


def open_for_backup(uri: str | os.PathLike[str] | None = None) -> Workspace:
    """Open a workspace to back it up: as ``Workspace.open``, but a catalog at an older schema
    revision is accepted too (a backup only reads it), so it can be backed up before
    ``labledger migrate``.

    Raises:
        WorkspaceNotFoundError: No workspace there, or a database without a labledger schema.
        WorkspaceUnreadableError: The catalog does not answer, or is newer than this labledger.
    """
    settings = resolve_settings(uri)
    if settings.server_url is not None:
        raise ConfigurationError(
            f"a backup copies the catalog and blobs themselves, which a server's API does not "
            f"hand out ({settings.server_url})",
            hint="on the server's host, run `labledger backup DEST -w <the server's folder or "
            "database URL>` (LABLEDGER_STORE names a store in S3)",
        )
    if settings.root is not None and not (settings.root / CATALOG_FILE).is_file():
        raise WorkspaceNotFoundError(
            f"{settings.root} has no {CATALOG_FILE}",
            hint="run `labledger init` to create the workspace",
        )
    workspace = Workspace(settings)
    try:
        check_revision(workspace.catalog)
    except SchemaOutdatedError:
        pass  # read as it is: the backup copies it at its own revision
    except BaseException:
        workspace.close()
        raise
    return workspace


def _checkpoint(workspace: Workspace) -> Checkpoint | None:
    try:
        return make_checkpoint(workspace)
    except (SQLAlchemyError, OSError):
        # A workspace this user may only read: the newest checkpoint it stored stands in.
        with workspace.read() as conn:
            return latest_checkpoint(conn)


# -- backup --------------------------------------------------------------------------------------


def _check_destination(workspace: Workspace, destination: Path) -> None:
    source = workspace.settings.root
    target = (destination / WORKSPACE_DIRNAME).resolve()
    if source is not None and (target == source.resolve() or source.resolve() in target.parents):
        raise ConfigurationError(
            f"{destination} is the workspace itself or inside it",
            hint="back up to a folder outside the workspace, ideally on another disk",
        )


def backup_workspace(
    workspace: Workspace,
    destination: str | os.PathLike[str],
    *,
    rehash_all: bool = False,
    progress: Callable[[str, int, int], None] | None = None,
) -> BackupReport:
    """Back up ``workspace`` into the folder ``destination`` while it is in use, then verify it.

    A second backup into the same folder copies only blobs it does not hold yet. A catalog at an
    older schema revision (see ``open_for_backup``) is copied as it is, without a checkpoint (the
    backup writes nothing to it), and its copy is checked without the current schema (see
    ``verify_outdated_copy``): ``report.outdated`` says so.

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
    prepare_folder(root)
    postgres = workspace.catalog.dialect == "postgresql"
    revision = workspace.catalog.revision()
    checkpoint = None if is_outdated(revision) else _checkpoint(workspace)
    if postgres:
        partial = dest / f"{DUMP_FILE}.partial"
        wanted = dump_catalog(workspace, partial)
    else:
        partial = root / f"{CATALOG_FILE}.partial"
        wanted = snapshot_sqlite(sqlite_path(workspace.catalog.url), partial)
        revision = snapshot_revision(partial)  # the copy's own, whatever the source is at now
        if is_outdated(revision):
            checkpoint = None
        else:
            wanted = with_references(workspace, partial, wanted)
    copy = copy_blobs(
        workspace.store, wanted, root / "objects", rehash_present=rehash_all, progress=progress
    )
    extra = copy_problems(copy.missing, copy.corrupt)
    # Copied blobs were hashed as they were written (and fsynced): reading them back again would
    # double the cost; --rehash-all re-reads everything.
    rehash = list(wanted) if rehash_all else []
    if postgres:
        final = dest / DUMP_FILE
        os.replace(partial, final)
        check_dump(final)
        found = rehash_blobs(root / "objects", copy.copied, progress=progress)
        problems = extra + [Problem("blob", d, r) for d, r in found]
        anchors = ["pg_restore --list", *not_verified(revision)]
        verify = VerifyReport(0, len(copy.copied), 0, problems, anchors=anchors)
    else:
        final = root / CATALOG_FILE
        install_catalog(partial, final)
    key_copied = copy_key(workspace.settings.root, root)
    if not postgres and is_outdated(revision):
        verify = verify_outdated_copy(
            root, revision=str(revision), rehash=rehash, extra=extra, progress=progress
        )
    elif not postgres:
        verify = verify_folder(
            root,
            checkpoint=checkpoint,
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
        revision or "",
    )
    write_manifest(dest, report, workspace)
    return report
