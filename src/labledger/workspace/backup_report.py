"""What a backup or restore did: the ``BackupReport``, and the ``backup.json`` written beside a
backup (the report, the source, and the checkpoint the backup's ledger must extend)."""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from labledger._foundation.errors import LabledgerError
from labledger._foundation.settings import WORKSPACE_DIRNAME
from labledger.workspace.backup_postgres import DUMP_FILE
from labledger.workspace.backup_sqlite import CATALOG_FILE
from labledger.workspace.catalog import HEAD_REVISION
from labledger.workspace.checkpoints import Checkpoint

if TYPE_CHECKING:
    from pathlib import Path

    from labledger.workspace.verify import VerifyReport
    from labledger.workspace.workspace import Workspace

__all__ = [
    "BACKUP_FILE",
    "BACKUP_FORMAT",
    "BackupReport",
    "backup_checkpoint",
    "write_manifest",
]

BACKUP_FILE = "backup.json"
BACKUP_FORMAT = "labledger-backup/1"


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
        checkpoint: The ledger's checkpoint at backup time (``None`` for a restore, and for a
            catalog at an older schema revision, which a backup does not write to).
        verify: The check of the result (see ``verify_workspace``).
        seconds: How long it took.
        revision: The schema revision of the catalog copied (``""``: not known).
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
    revision: str = ""

    @property
    def ok(self) -> bool:
        """Every referenced blob was copied and the result verified."""
        return not (self.missing or self.corrupt) and self.verify is not None and self.verify.ok

    @property
    def outdated(self) -> bool:
        """The catalog is at an older schema revision than this labledger's: its ledger and runs
        were not verified (``labledger migrate``, then ``labledger verify``, does that)."""
        return bool(self.revision) and self.revision < HEAD_REVISION


def backup_checkpoint(backup: Path) -> Checkpoint | None:
    """The checkpoint the ``backup.json`` in ``backup`` holds (``None``: none, or unreadable)."""
    try:
        document = json.loads((backup / BACKUP_FILE).read_text(encoding="utf-8"))
        held = document.get("checkpoint") if isinstance(document, dict) else None
        return Checkpoint.from_dict(held) if held else None
    except (OSError, ValueError, LabledgerError):
        return None


def write_manifest(destination: Path, report: BackupReport, workspace: Workspace) -> None:
    """Write ``backup.json`` into ``destination`` (whole or not at all)."""
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
            "file": f"{WORKSPACE_DIRNAME}/{CATALOG_FILE}"
            if report.catalog_kind == "sqlite"
            else DUMP_FILE,
            "bytes": report.catalog_bytes,
            "schema_revision": report.revision,
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
            "ledger": not report.outdated,
        },
        "seconds": round(report.seconds, 3),
    }
    partial = destination / f"{BACKUP_FILE}.partial"
    partial.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n")
    os.replace(partial, destination / BACKUP_FILE)
