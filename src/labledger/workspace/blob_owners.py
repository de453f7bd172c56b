"""Who needs a blob: the artifacts, task logs and code snapshots that refer to a digest.

``verify`` names them in its findings, with what to do, so a report says "artifact 'model.skops'
of run 01a2...'s step train" instead of a bare digest.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import or_, select

from labledger.workspace import schema

if TYPE_CHECKING:
    from collections.abc import Iterable

    from sqlalchemy import Connection

__all__ = ["BLOB_HINT", "describe_owners"]

BLOB_HINT = (
    "put it back from a backup without touching the catalog (`labledger restore BACKUP "
    "--blobs-only`), or make it again: re-run the pipeline with `labledger run ... --no-cache`, "
    "or log the artifact again"
)


def describe_owners(conn: Connection, digests: Iterable[str]) -> dict[str, str]:
    """Digest -> a short description of what refers to it (empty when nothing does)."""
    wanted = sorted(set(digests))
    owners: dict[str, list[str]] = {d: [] for d in wanted}
    if not wanted:
        return {}
    a, o, t = schema.artifacts, schema.task_outputs, schema.tasks
    for digest, name, artifact_id, run_id, node in conn.execute(
        select(a.c.digest, a.c.name, a.c.id, a.c.run_id, t.c.node)
        .select_from(a.outerjoin(o, o.c.artifact_id == a.c.id).outerjoin(t, t.c.id == o.c.task_id))
        .where(a.c.digest.in_(wanted))
    ):
        where = f" of run {run_id}" if run_id else ""
        step = f", step {node}" if node else ""
        owners[digest].append(f"artifact {name!r} ({artifact_id}){where}{step}")
    for log_digest, logged, node, run_id in conn.execute(
        select(t.c.log_digest, t.c.logged_digest, t.c.node, t.c.run_id).where(
            or_(t.c.log_digest.in_(wanted), t.c.logged_digest.in_(wanted))
        )
    ):
        for digest, what in ((log_digest, "output log"), (logged, "logged values")):
            if digest in owners:
                owners[digest].append(f"the {what} of step {node} in run {run_id}")
    p = schema.pipeline_runs
    for run_id, code, lock, facts in conn.execute(
        select(p.c.run_id, p.c.code_digest, p.c.lock_digest, p.c.facts_digest).where(
            or_(
                p.c.code_digest.in_(wanted),
                p.c.lock_digest.in_(wanted),
                p.c.facts_digest.in_(wanted),
            )
        )
    ):
        for digest, what in (
            (code, "code snapshot"),
            (lock, "environment lock"),
            (facts, "key facts"),
        ):
            if digest in owners:
                owners[digest].append(f"the {what} of run {run_id}")
    return {d: "; ".join(dict.fromkeys(found)) for d, found in owners.items()}
