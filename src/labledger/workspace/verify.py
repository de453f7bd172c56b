"""Verifying a workspace: the ledger and its anchors, rows against entries, runs, and blobs.

One pass over the whole ledger checks its chain, signatures and key history, and computes its
Merkle root at every size an anchor names (a checkpoint given, the ones the catalog keeps, what
this user last verified). Then rows are cross-checked with the entries about them, every sealed run
record is re-derived, and every blob the catalog references is re-hashed.
"""

from __future__ import annotations

import sqlite3
import struct
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.exc import DBAPIError

from labledger._foundation.digests import CHUNK_SIZE, Hasher
from labledger._foundation.errors import NotFoundError, ValidationError
from labledger.workspace import schema
from labledger.workspace.anchors import (
    check_checkpoint,
    check_remembered,
    check_stored,
    stored_checkpoint_sizes,
)
from labledger.workspace.blob_owners import BLOB_HINT, describe_owners
from labledger.workspace.checkpoints import workspace_id
from labledger.workspace.cross_checks import EntryIndex, cross_check
from labledger.workspace.ledger import count_entries, walk_chain
from labledger.workspace.log_tree import tree_size
from labledger.workspace.records import run_record_digest, sealed_format
from labledger.workspace.references import referenced_blobs, tree_entries
from labledger.workspace.run_changes import describe_run_changes
from labledger.workspace.tip import Tip, save_tip
from labledger.workspace.verify_state import VerifiedState, load_state, save_state

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from sqlalchemy import Connection

    from labledger.workspace.checkpoints import Checkpoint
    from labledger.workspace.ledger import ChainWalk
    from labledger.workspace.trusted_keys import TrustedKey
    from labledger.workspace.workspace import Workspace

__all__ = ["Problem", "VerifyReport", "verify_workspace"]

LEDGER_HINT = (
    "the ledger was changed behind labledger: restore the catalog from a backup "
    "(`labledger restore BACKUP --force`) and compare it with a checkpoint kept elsewhere "
    "(`--checkpoint`); if you restored an older backup on purpose, `labledger verify --forget` "
    "starts over from what is there now"
)
RUN_HINT = (
    "rows of a sealed run were edited: restore the catalog from a backup; until then do not "
    "trust this run's results (the pipeline cache no longer reuses its steps)"
)
CATALOG_HINT = (
    "the catalog database is damaged: restore it from a backup (`labledger restore`); "
    "`sqlite3 catalog.db .recover` salvages what is readable, and `labledger verify` on the "
    "result shows what the ledger and blobs still vouch for"
)
ROW_HINT = (
    "catalog rows and the ledger disagree: the ledger says what happened; restore the catalog "
    "from a backup, or find who edited it"
)


@dataclass(frozen=True, slots=True)
class Problem:
    """Something that failed verification: what (ledger entry, blob, run...), its id, why, and
    what to do about it."""

    kind: str
    id: str
    reason: str
    hint: str = ""


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """The outcome of ``verify_workspace``."""

    entries_checked: int
    blobs_checked: int
    runs_checked: int
    problems: list[Problem] = field(default_factory=list)
    tree_size: int = 0
    tree_root: str = ""
    anchors: list[str] = field(default_factory=list)
    signers: dict[str, int] = field(default_factory=dict)
    """How many entries each actor signed with their own key (each signature checked)."""

    @property
    def ok(self) -> bool:
        return not self.problems


def _rehash(workspace: Workspace, digest: str) -> tuple[str, int]:
    hasher = Hasher()
    size = 0
    with workspace.store.open(digest) as handle:
        while chunk := handle.read(CHUNK_SIZE):
            hasher.update(chunk)
            size += len(chunk)
    return hasher.digest, size


def _changed_run(conn: Connection, run_id: str, payload: Mapping[str, Any]) -> str:
    reason = "rows of this run changed after it was sealed"
    changes = describe_run_changes(conn, run_id, payload)
    return f"{reason}: {'; '.join(changes)}" if changes else reason


def _unsealed_tasks(conn: Connection) -> list[Problem]:
    """Finished tasks of runs that ended without a seal: rows no run vouches for.

    Every run that ends is sealed, a crashed one when it is marked crashed; so such a row was
    written around labledger. It is never used from the cache, and is reported here.
    """
    t, r = schema.tasks, schema.runs
    rows = conn.execute(
        select(t.c.id, t.c.node, t.c.run_id)
        .select_from(t.join(r, r.c.id == t.c.run_id))
        .where(t.c.status == "finished", r.c.record_digest.is_(None), r.c.status != "running")
    ).all()
    return [
        Problem(
            "task",
            task_id,
            f"task {node!r} of run {run_id} claims to have finished, but its run was never "
            "sealed: it is not used from the cache; delete it, or find who wrote it",
        )
        for task_id, node, run_id in rows
    ]


def _check_blobs(
    workspace: Workspace,
    referenced: dict[str, bool],
    sizes: dict[str, int],
    progress: Callable[[str, int, int], None] | None,
) -> dict[str, str]:
    """Digest -> what is wrong, for each referenced blob (and each tree's entries) not intact."""
    bad: dict[str, str] = {}
    todo = list(referenced)
    seen = set(todo)
    done = 0
    while todo:
        digest = todo.pop()
        try:
            actual, size = _rehash(workspace, digest)
        except NotFoundError:
            bad[digest] = "missing from the store"
        except ValidationError:
            bad[digest] = "the catalog names it as a blob, but it is not a digest"
        else:
            if actual != digest:
                bad[digest] = f"its bytes are corrupt (they hash to {actual})"
            elif digest in sizes and sizes[digest] != size:
                bad[digest] = f"the catalog says it holds {sizes[digest]} bytes, it holds {size}"
            elif referenced.get(digest):
                fresh = [d for d in tree_entries(workspace.store, digest) if d not in seen]
                seen.update(fresh)
                todo += fresh
        done += 1
        if progress:
            progress("blobs", done, len(seen))
    return bad


# What digesting a run's rows raises when a row holds a value of the wrong type.
_UNREADABLE_ROW = (struct.error, TypeError, AttributeError, ValueError)


def _sealed_runs(
    conn: Connection, index: EntryIndex, progress: Callable[[str, int, int], None] | None
) -> list[Problem]:
    problems: list[Problem] = []
    # A crashed run is sealed as it stood when it was marked crashed.
    sealed = {
        run_id: payload
        for run_id, (_, payload) in index.seals.items()
        if "record_digest" in payload
    }
    for done, (run_id, payload) in enumerate(sorted(sealed.items()), 1):
        exists = conn.execute(select(schema.runs.c.id).where(schema.runs.c.id == run_id)).scalar()
        try:
            current = (
                run_record_digest(conn, run_id, record_format=sealed_format(payload))
                if exists is not None
                else None
            )
        except _UNREADABLE_ROW as exc:
            # A value of a type no writer stores (text where a number goes, bytes for a key):
            # put there in the database, after the seal.
            reason = (
                f"its rows hold a value of a type labledger never writes ({exc}): changed in "
                "the database after it was sealed"
            )
            problems.append(Problem("run", run_id, reason, RUN_HINT))
            current = None
        if current is not None and current != payload["record_digest"]:
            problems.append(Problem("run", run_id, _changed_run(conn, run_id, payload), RUN_HINT))
        if progress:
            progress("runs", done, len(sealed))
    return problems


def _anchors(
    conn: Connection,
    workspace: Workspace,
    checkpoint: Checkpoint | None,
    trusted: Sequence[TrustedKey] | None,
    remembered: VerifiedState | None,
    progress: Callable[[str, int, int], None] | None,
) -> tuple[ChainWalk, EntryIndex, list[Problem], list[str]]:
    """Walk the ledger once and hold it against every anchor; also return what it was held to."""
    stored = stored_checkpoint_sizes(conn)
    sizes = set(stored) | {tree_size(conn)}
    if checkpoint is not None:
        sizes.add(checkpoint.size)
    if remembered is not None:
        sizes.add(remembered.size)
    index = EntryIndex()
    total = count_entries(conn)
    walk = walk_chain(
        conn,
        trusted=trusted,
        sizes=sizes,
        visit=index.visit,
        progress=(lambda done: progress("ledger", done, total)) if progress else None,
    )
    problems = [
        Problem(
            "ledger",
            p.entry_id or "trusted keys",
            f"entry #{p.seq}: {p.reason}" if p.seq else p.reason,
            LEDGER_HINT,
        )
        for p in walk.problems
    ]
    own_id = workspace_id(conn)
    anchors: list[str] = []
    if not problems:
        # The catalog's own checkpoints and tree are evidence only while the entries are sound;
        # a broken entry already explains why they no longer match.
        problems += [
            Problem("ledger", "stored checkpoints", reason, LEDGER_HINT)
            for reason in check_stored(conn, walk, stored)
        ]
    if checkpoint is not None:
        anchors.append(f"the given checkpoint ({checkpoint.size} entries)")
        problems += [
            Problem("checkpoint", checkpoint.root[:16], reason, LEDGER_HINT)
            for reason in check_checkpoint(walk, checkpoint, own_id, trusted)
        ]
    if remembered is not None:
        anchors.append(f"your last verify ({remembered.size} entries)")
        problems += [
            Problem("ledger", "last verified", reason, LEDGER_HINT)
            for reason in check_remembered(walk, remembered, own_id)
        ]
    if trusted is not None:
        anchors.append(f"{len(trusted)} trusted key(s)")
    return walk, index, problems, anchors


def verify_workspace(
    workspace: Workspace,
    *,
    blobs: bool = True,
    progress: Callable[[str, int, int], None] | None = None,
    checkpoint: Checkpoint | None = None,
    trusted: Sequence[TrustedKey] | None = None,
    remember: bool = True,
) -> VerifyReport:
    """Re-walk the ledger, hold it to its anchors, cross-check rows, re-derive runs, re-hash blobs.

    Args:
        workspace: The workspace to check.
        blobs: Re-hash blobs (the slow part); ``False`` checks only the catalog and ledger.
        progress: Called as ``progress(phase, done, total)``.
        checkpoint: A checkpoint the ledger must extend (a consistency check).
        trusted: Pinned public keys: only they (and keys they rotated to) may sign.
        remember: Hold the ledger to what this user last verified, and when everything is in
            order, remember it now (see ``verify_state``).
    """
    remembered = load_state(workspace) if remember else None
    damage = _integrity_problems(workspace)
    if damage:
        return VerifyReport(0, 0, 0, damage)
    try:
        return _verify(workspace, blobs, progress, checkpoint, trusted, remember, remembered)
    except (DBAPIError, sqlite3.DatabaseError) as exc:
        reason = _first_line(exc)
        problem = Problem(
            "catalog", workspace.catalog.safe_url, f"cannot be read: {reason}", CATALOG_HINT
        )
        return VerifyReport(0, 0, 0, [problem])


def _dangling_rows(conn: Connection) -> list[Problem]:
    """Rows pointing at rows that do not exist (SQLite): never written by labledger, whose
    connections enforce foreign keys."""
    if conn.dialect.name != "sqlite":
        return []  # PostgreSQL enforces them on every write
    return [
        Problem(
            "catalog",
            f"{table} row {rowid}",
            f"it refers to a {parent} row that does not exist",
            ROW_HINT,
        )
        for table, rowid, parent, _ in conn.exec_driver_sql("PRAGMA foreign_key_check").fetchmany(
            50
        )
    ]


def _first_line(exc: BaseException) -> str:
    """The driver's own message of a database error, first line only."""
    return (str(getattr(exc, "orig", exc)).strip().splitlines() or ["unknown error"])[0]


def _integrity_problems(workspace: Workspace) -> list[Problem]:
    """SQLite's own check of every page, table and index, before anything else reads them."""
    if workspace.catalog.dialect != "sqlite":
        return []
    try:
        with workspace.read() as conn:
            found = [str(r[0]) for r in conn.exec_driver_sql("PRAGMA integrity_check(20)")]
    except (DBAPIError, sqlite3.DatabaseError) as exc:
        found = [_first_line(exc)]
    if found == ["ok"]:
        return []
    shown = "; ".join(found[:5]) + (f" (and {len(found) - 5} more)" if len(found) > 5 else "")
    return [
        Problem(
            "catalog",
            workspace.catalog.safe_url,
            f"SQLite's integrity check fails: {shown}",
            CATALOG_HINT,
        )
    ]


def _verify(
    workspace: Workspace,
    blobs: bool,
    progress: Callable[[str, int, int], None] | None,
    checkpoint: Checkpoint | None,
    trusted: Sequence[TrustedKey] | None,
    remember: bool,
    remembered: VerifiedState | None,
) -> VerifyReport:
    with workspace.read() as conn:
        if conn.dialect.name == "postgresql":
            # One snapshot for the whole check, as SQLite's read transaction gives: rows and
            # entries committed meanwhile by other writers must not look like missing halves.
            conn.execution_options(isolation_level="REPEATABLE READ")
        walk, index, problems, anchors = _anchors(
            conn, workspace, checkpoint, trusted, remembered, progress
        )
        problems += [Problem(*found, ROW_HINT) for found in cross_check(conn, index)]
        problems += _dangling_rows(conn)
        problems += _sealed_runs(conn, index, progress)
        problems += _unsealed_tasks(conn)
        referenced = referenced_blobs(conn)
        # The digests the produced entries name, as the full walk read them (not through the
        # ledger's kind index, which referenced_blobs uses).
        for digest in index.produced.values():
            referenced.setdefault(digest, False)
        own_id = workspace_id(conn)
        digests: list[str] = []
        if blobs:
            sizes = {
                d: s for d, s in conn.execute(select(schema.blobs.c.digest, schema.blobs.c.size))
            }
            bad = _check_blobs(workspace, referenced, sizes, progress)
            digests = list(referenced)
            owners = describe_owners(conn, bad)
            for digest, reason in bad.items():
                owner = owners.get(digest) or "nothing the catalog names (an orphan)"
                problems.append(Problem("blob", digest, f"{reason}; needed by {owner}", BLOB_HINT))
    sealed_count = sum(1 for _, payload in index.seals.values() if "record_digest" in payload)
    report = VerifyReport(
        walk.checked,
        len(digests),
        sealed_count,
        problems,
        tree_size=walk.checked,
        tree_root=walk.root,
        anchors=anchors,
        signers=dict(sorted(index.signers.items())),
    )
    if remember and report.ok:
        keys = [[actor, key, entry] for (actor, key), entry in sorted(walk.registered.items())]
        save_state(workspace, VerifiedState(own_id, walk.checked, walk.root, time.time(), keys))
        # What was just derived from every entry is also where checkpoints continue from.
        tip = Tip(own_id, walk.checked, walk.head, walk.builder, dirty=True)
        current = workspace.ledger_tip
        if current is None or current.workspace != own_id or current.size <= tip.size:
            workspace.ledger_tip = tip
            save_tip(workspace, tip)
    return report
