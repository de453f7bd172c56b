"""Verifying a workspace: the ledger chain, every referenced blob, and every sealed run record."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from labledger._foundation.canonical import canonical_text
from labledger._foundation.digests import CHUNK_SIZE, Hasher
from labledger._foundation.errors import NotFoundError
from labledger.workspace import schema
from labledger.workspace.ledger import iter_entries, verify_chain
from labledger.workspace.records import describe_metric_changes, metric_summary, run_record_digest

if TYPE_CHECKING:
    from collections.abc import Callable

    from sqlalchemy import Connection

    from labledger.workspace.workspace import Workspace

__all__ = ["Problem", "VerifyReport", "verify_workspace"]


@dataclass(frozen=True, slots=True)
class Problem:
    """Something that failed verification: what (ledger entry, blob or run), its id, and why."""

    kind: str
    id: str
    reason: str


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """The outcome of ``verify_workspace``."""

    entries_checked: int
    blobs_checked: int
    runs_checked: int
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _rehash(workspace: Workspace, digest: str) -> str:
    hasher = Hasher()
    with workspace.store.open(digest) as handle:
        while chunk := handle.read(CHUNK_SIZE):
            hasher.update(chunk)
    return hasher.digest


def _changed_run(conn: Connection, run_id: str, sealed_metrics: Any) -> str:
    reason = "its params, metrics or artifacts changed after it was sealed"
    if not isinstance(sealed_metrics, dict):
        return reason  # sealed before runs kept a metric summary
    current = json.loads(canonical_text(metric_summary(conn, run_id)))
    changes = describe_metric_changes(sealed_metrics, current)
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


def verify_workspace(
    workspace: Workspace,
    *,
    blobs: bool = True,
    progress: Callable[[str, int, int], None] | None = None,
) -> VerifyReport:
    """Re-walk the ledger chain, re-hash every blob the catalog references, re-derive run records.

    Args:
        workspace: The workspace to check.
        blobs: Re-hash blobs (the slow part); ``False`` checks only the catalog and ledger.
        progress: Called as ``progress(phase, done, total)``.
    """
    problems: list[Problem] = []
    with workspace.read() as conn:
        checked, chain = verify_chain(conn)
        problems += [Problem("ledger", p.entry_id, f"entry #{p.seq}: {p.reason}") for p in chain]
        # A crashed run is sealed as it stood when it was marked crashed.
        sealed = {
            entry.payload["run_id"]: (entry.payload["record_digest"], entry.payload.get("metrics"))
            for kind in ("run.finished", "run.crashed")
            for entry in iter_entries(conn, kind=kind)
            if "record_digest" in entry.payload
        }
        for done, (run_id, (expected, metrics)) in enumerate(sorted(sealed.items()), 1):
            exists = conn.execute(
                select(schema.runs.c.id).where(schema.runs.c.id == run_id)
            ).scalar()
            if exists is None:
                problems.append(
                    Problem("run", run_id, "sealed in the ledger but missing from the catalog")
                )
            elif run_record_digest(conn, run_id) != expected:
                problems.append(Problem("run", run_id, _changed_run(conn, run_id, metrics)))
            if progress:
                progress("runs", done, len(sealed))
        problems += _unsealed_tasks(conn)
        digests = list(conn.execute(select(schema.blobs.c.digest)).scalars())
    if blobs:
        for done, digest in enumerate(digests, 1):
            try:
                actual = _rehash(workspace, digest)
            except NotFoundError:
                problems.append(Problem("blob", digest, "missing from the store"))
            else:
                if actual != digest:
                    problems.append(Problem("blob", digest, f"its bytes hash to {actual}"))
            if progress:
                progress("blobs", done, len(digests))
    return VerifyReport(checked, len(digests) if blobs else 0, len(sealed), problems)
