"""Every artifact is named in the ledger with its blob digest, at the latest when its run is sealed.

Artifacts logged one by one (``log_artifact``) get an ``artifact.produced`` entry at once. Pipeline
outputs and recorded input files are written in batches while a pipeline runs; they are named
together in one ``artifacts.produced`` entry (payload ``artifacts``: ``[id, name, digest]`` each)
appended in the transaction that seals the run, so an inclusion proof can be made for any of them
and a run of a thousand steps adds one entry, not a thousand.

Beside ``artifacts`` the entry lists, in the same order, each artifact's ``created_at`` as stored
and ``stats_digest`` (see ``artifact_facts``), which ``verify`` holds the rows to; the run's seal
holds their schemas. The items keep their three fields, so proofs read by an older ``verify-proof``
still find their artifact.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import and_, bindparam, exists, select

from labledger.workspace import schema
from labledger.workspace.artifact_facts import stored_digest
from labledger.workspace.sqlite_driver import driver_connection

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from labledger.workspace.workspace import Workspace

__all__ = ["record_run_artifacts"]

_a, _l = schema.artifacts, schema.ledger
_UNRECORDED = (
    select(_a.c.id, _a.c.name, _a.c.digest, _a.c.created_at, _a.c.stats_json)
    .where(
        _a.c.run_id == bindparam("run_id"),
        ~exists().where(
            and_(_l.c.subject == "artifact:" + _a.c.id, _l.c.kind == "artifact.produced")
        ),
    )
    .order_by(_a.c.created_at, _a.c.id)
)


_SQLITE_UNRECORDED = (
    "SELECT a.id, a.name, a.digest, a.created_at, a.stats_json FROM artifacts AS a "
    "WHERE a.run_id = ? AND NOT EXISTS (SELECT 1 FROM ledger AS l "
    "WHERE l.subject = 'artifact:' || a.id AND l.kind = 'artifact.produced') "
    "ORDER BY a.created_at, a.id"
)


def record_run_artifacts(workspace: Workspace, conn: Connection, run_id: str) -> int:
    """Name the run's artifacts that lack an entry in one ``artifacts.produced``; return how many."""
    db = driver_connection(conn)
    if db is not None:
        rows = db.execute(_SQLITE_UNRECORDED, (run_id,)).fetchall()
    else:
        rows = [tuple(row) for row in conn.execute(_UNRECORDED, {"run_id": run_id})]
    if rows:
        workspace.record(
            conn,
            "artifacts.produced",
            f"run:{run_id}",
            {
                "run_id": run_id,
                "artifacts": [list(row[:3]) for row in rows],
                "created_at": [row[3] for row in rows],
                "stats_digest": [stored_digest(row[4]) for row in rows],
            },
        )
    return len(rows)
