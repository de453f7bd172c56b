"""Checking a backup (or a restored workspace) once it is written.

A copy at this labledger's schema revision is opened as a workspace as it stands and checked with
``verify_workspace``: the ledger, its anchors, every sealed run record. A copy of a catalog at an
older revision cannot be read with this labledger's schema; ``verify_outdated_copy`` checks what
needs no schema (SQLite's ``integrity_check``, the revision, the blobs' bytes) and leaves the ledger
to ``labledger verify`` after ``labledger migrate``.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from labledger._foundation.settings import resolve_settings
from labledger.workspace.backup_blobs import rehash_blobs
from labledger.workspace.backup_sqlite import CATALOG_FILE, integrity_problems
from labledger.workspace.catalog import HEAD_REVISION
from labledger.workspace.verify import Problem, VerifyReport, verify_workspace
from labledger.workspace.workspace import Workspace

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from labledger.workspace.checkpoints import Checkpoint

__all__ = [
    "OUTDATED_ANCHOR",
    "copy_problems",
    "is_outdated",
    "not_verified",
    "verify_folder",
    "verify_outdated_copy",
    "with_problems",
]


def is_outdated(revision: str | None) -> bool:
    """Whether a catalog at ``revision`` is older than this labledger's schema."""
    return revision is not None and revision < HEAD_REVISION


def not_verified(revision: str | None) -> list[str]:
    """The anchor naming what a copy at ``revision`` did not verify (none for a current one)."""
    return [f"schema revision {revision}: ledger not verified"] if is_outdated(revision) else []


# Named in an outdated copy's report: what was checked instead of the ledger.
OUTDATED_ANCHOR = "sqlite integrity_check"


def with_problems(report: VerifyReport, extra: list[Problem], blobs_checked: int) -> VerifyReport:
    """``report`` with ``extra`` problems first (once each) and ``blobs_checked`` blobs."""
    seen = {(p.kind, p.id) for p in extra}
    problems = extra + [p for p in report.problems if (p.kind, p.id) not in seen]
    return dataclasses.replace(report, problems=problems, blobs_checked=blobs_checked)


def copy_problems(missing: list[str], corrupt: list[str]) -> list[Problem]:
    """The problems of a blob copy: blobs missing from the source, or corrupt there."""
    return [
        *(Problem("blob", d, "missing from the source store and its trash") for d in missing),
        *(Problem("blob", d, "corrupt in the source store: not copied") for d in corrupt),
    ]


def verify_folder(
    root: Path,
    *,
    checkpoint: Checkpoint | None,
    rehash: list[str] | None,
    extra: list[Problem],
    progress: Callable[[str, int, int], None] | None,
) -> VerifyReport:
    """Verify the workspace folder ``root`` as it stands, re-hashing ``rehash`` (``None``: all)."""
    # Opened without Workspace.open's revision check: the caller knows the copy is current, and
    # nothing here writes, so the copy is checked exactly as it was written.
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
        return with_problems(report, extra, report.blobs_checked)
    found = rehash_blobs(root / "objects", rehash, progress=progress)
    return with_problems(report, extra + [Problem("blob", d, r) for d, r in found], len(rehash))


def verify_outdated_copy(
    root: Path,
    *,
    revision: str,
    rehash: list[str],
    extra: list[Problem],
    progress: Callable[[str, int, int], None] | None,
) -> VerifyReport:
    """Check a copy of a catalog at the older schema ``revision`` without reading its tables.

    SQLite's ``integrity_check`` reads every page, table and index of ``root/catalog.db`` (when
    there is one: a PostgreSQL dump is checked by ``pg_restore --list`` instead); the blobs in
    ``rehash`` are re-hashed. The ledger and the run records are not verified: ``labledger
    migrate`` and then ``labledger verify`` do that on the restored workspace.
    """
    problems = list(extra)
    anchors = [f"schema revision {revision}: ledger not verified"]
    catalog = root / CATALOG_FILE
    if catalog.is_file():
        problems += [Problem("catalog", CATALOG_FILE, p) for p in integrity_problems(catalog)]
        anchors.insert(0, OUTDATED_ANCHOR)
    found = rehash_blobs(root / "objects", rehash, progress=progress)
    problems += [Problem("blob", d, r) for d, r in found]
    return VerifyReport(0, len(rehash), 0, problems, anchors=anchors)
