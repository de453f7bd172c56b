"""Run records: the canonical summary of a finished run that its ledger entry seals.

The record covers what a run produced and was given (status, params, every metric value, artifacts
and environment), not its tags, which stay editable annotations. ``verify`` recomputes it from the
catalog and compares it with the digest sealed in the ledger, so editing a param or metric row after
the fact is detected.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from labledger._foundation.digests import digest_record
from labledger.workspace import schema

if TYPE_CHECKING:
    from sqlalchemy import Connection

__all__ = ["run_record", "run_record_digest"]


def _float(value: float | None) -> float:
    return float("nan") if value is None else value


def run_record(conn: Connection, run_id: str) -> dict[str, Any]:
    """The canonical record of a run, built from the catalog."""
    runs, params, metrics, artifacts = schema.runs, schema.params, schema.metrics, schema.artifacts
    run = conn.execute(select(runs).where(runs.c.id == run_id)).one()
    param_rows = conn.execute(
        select(params.c.key, params.c.value).where(params.c.run_id == run_id).order_by(params.c.key)
    ).all()
    metric_rows = conn.execute(
        select(metrics.c.key, metrics.c.step, metrics.c.timestamp, metrics.c.value)
        .where(metrics.c.run_id == run_id)
        .order_by(metrics.c.key, metrics.c.step, metrics.c.timestamp, metrics.c.id)
    ).all()
    artifact_rows = conn.execute(
        select(artifacts.c.name, artifacts.c.digest)
        .where(artifacts.c.run_id == run_id)
        .order_by(artifacts.c.name)
    ).all()
    return {
        "id": run.id,
        "name": run.name,
        "status": run.status,
        "started_at": run.started_at,
        "ended_at": run.ended_at,
        "environment": run.environment_digest,
        "git_commit": run.git_commit,
        "params": {row.key: row.value for row in param_rows},
        "metrics": [[row.key, row.step, row.timestamp, _float(row.value)] for row in metric_rows],
        "artifacts": {row.name: row.digest for row in artifact_rows},
    }


def run_record_digest(conn: Connection, run_id: str) -> str:
    """Digest of ``run_record``."""
    return digest_record(run_record(conn, run_id))
