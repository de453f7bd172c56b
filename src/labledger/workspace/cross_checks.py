"""Cross-checks between catalog rows and the ledger entries that speak of them, both ways.

- Every run has its ``run.started`` entry; every run that ended has its seal (``run.finished`` or
  ``run.crashed``), and a run marked sealed in the catalog has one.
- Every artifact has an ``artifact.produced`` entry naming the same blob digest. Runs sealed before
  artifacts were all recorded (their ``run.finished`` payload lacks ``artifacts_recorded``) keep
  their artifacts covered by the sealed record alone.
- Reverse: an entry about a run or an artifact whose row is gone is reported.

The entries are gathered while ``walk_chain`` walks the whole ledger, never through an index.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from labledger.workspace import schema

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from labledger.workspace.ledger import LedgerEntry

__all__ = ["EntryIndex", "cross_check"]

_SEALS = ("run.finished", "run.crashed")


@dataclass(slots=True)
class EntryIndex:
    """The entries ``cross_check`` needs, collected from one walk of the ledger."""

    started: set[str] = field(default_factory=set)
    seals: dict[str, tuple[str, dict[str, Any]]] = field(default_factory=dict)
    produced: dict[str, str] = field(default_factory=dict)  # artifact id -> digest

    def visit(self, entry: LedgerEntry) -> None:
        """Note ``entry`` if it is about a run or an artifact."""
        kind, payload = entry.kind, entry.payload
        if kind == "run.started":
            self.started.add(str(payload.get("run_id")))
        elif kind in _SEALS:
            self.seals[str(payload.get("run_id"))] = (kind, payload)
        elif kind == "artifact.produced":
            self.produced[str(payload.get("artifact_id"))] = str(payload.get("digest"))


def _run_problems(conn: Connection, index: EntryIndex) -> list[tuple[str, str, str]]:
    r = schema.runs
    problems: list[tuple[str, str, str]] = []
    seen: set[str] = set()
    for run_id, status, record_digest in conn.execute(
        select(r.c.id, r.c.status, r.c.record_digest)
    ):
        seen.add(run_id)
        if run_id not in index.started:
            problems.append(("run", run_id, "its run.started entry is missing from the ledger"))
        if status != "running" and run_id not in index.seals:
            what = "is marked sealed" if record_digest is not None else f"ended ({status})"
            problems.append(
                ("run", run_id, f"it {what}, but the ledger holds no seal for it (run.finished)")
            )
    for run_id in sorted((index.started | set(index.seals)) - seen):
        problems.append(("run", run_id, "the ledger records it, but its row is gone"))
    return problems


def _artifact_problems(conn: Connection, index: EntryIndex) -> list[tuple[str, str, str]]:
    a = schema.artifacts
    recorded_runs = {
        run_id for run_id, (_, payload) in index.seals.items() if payload.get("artifacts_recorded")
    }
    problems: list[tuple[str, str, str]] = []
    seen: set[str] = set()
    for artifact_id, name, digest, run_id in conn.execute(
        select(a.c.id, a.c.name, a.c.digest, a.c.run_id)
    ):
        seen.add(artifact_id)
        produced = index.produced.get(artifact_id)
        if produced is None:
            if run_id is None or run_id in recorded_runs:
                problems.append(
                    (
                        "artifact",
                        artifact_id,
                        f"artifact {name!r} has no artifact.produced entry in the ledger",
                    )
                )
        elif produced != digest:
            problems.append(
                (
                    "artifact",
                    artifact_id,
                    f"artifact {name!r} points at blob {digest}, but its artifact.produced "
                    f"entry says {produced}",
                )
            )
    for artifact_id in sorted(set(index.produced) - seen):
        problems.append(
            ("artifact", artifact_id, "the ledger records it as produced, but its row is gone")
        )
    return problems


def cross_check(conn: Connection, index: EntryIndex) -> list[tuple[str, str, str]]:
    """``(kind, id, reason)`` for each disagreement between rows and entries."""
    return _run_problems(conn, index) + _artifact_problems(conn, index)
