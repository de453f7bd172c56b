"""Every artifact gets its ``artifact.produced`` ledger entry, at the latest when its run is sealed.

Artifacts logged one by one (``log_artifact``) get theirs at once. Pipeline outputs and recorded
input files are written in batches while a pipeline runs; their entries are appended when the run
is sealed, in the sealing transaction, so the ledger names each artifact and its blob digest and an
inclusion proof can be made for any of them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import and_, bindparam, exists, select

from labledger.workspace import schema
from labledger.workspace.sqlite_driver import driver_connection

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from labledger.workspace.workspace import Workspace

__all__ = ["record_run_artifacts"]

_a, _l = schema.artifacts, schema.ledger
_UNRECORDED = (
    select(_a.c.id, _a.c.name, _a.c.digest)
    .where(
        _a.c.run_id == bindparam("run_id"),
        ~exists().where(
            and_(_l.c.subject == "artifact:" + _a.c.id, _l.c.kind == "artifact.produced")
        ),
    )
    .order_by(_a.c.created_at, _a.c.id)
)


_SQLITE_UNRECORDED = (
    "SELECT a.id, a.name, a.digest FROM artifacts AS a WHERE a.run_id = ? AND NOT EXISTS "
    "(SELECT 1 FROM ledger AS l WHERE l.subject = 'artifact:' || a.id "
    "AND l.kind = 'artifact.produced') ORDER BY a.created_at, a.id"
)


def record_run_artifacts(workspace: Workspace, conn: Connection, run_id: str) -> int:
    """Append ``artifact.produced`` for each of the run's artifacts that lacks one; return how many."""
    db = driver_connection(conn)
    if db is not None:
        rows = db.execute(_SQLITE_UNRECORDED, (run_id,)).fetchall()
    else:
        rows = [tuple(row) for row in conn.execute(_UNRECORDED, {"run_id": run_id})]
    for artifact_id, name, digest in rows:
        workspace.record(
            conn,
            "artifact.produced",
            f"artifact:{artifact_id}",
            {"artifact_id": artifact_id, "name": name, "digest": digest, "run_id": run_id},
        )
    return len(rows)
