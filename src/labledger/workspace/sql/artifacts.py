"""The SQL artifact store: artifacts recorded with their blobs and ledger entries, looked up, listed.

A list is paged by ``(created_at, id)`` of the page's last artifact, newest first.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from labledger._foundation.canonical import canonical_text
from labledger._foundation.errors import ConflictError, ValidationError
from labledger._foundation.json_input import require_small_document
from labledger.stores.artifacts import Artifact, produced_payload
from labledger.stores.pages import Page, decode_key, encode_token
from labledger.workspace import schema
from labledger.workspace.lookup import find_artifact
from labledger.workspace.search_index import refresh_document
from labledger.workspace.sql.run_rows import require_running

if TYPE_CHECKING:
    from collections.abc import Collection, Sequence

    from sqlalchemy import Row

    from labledger.stores.artifacts import NewArtifact
    from labledger.workspace.workspace import Workspace

__all__ = ["SqlArtifactStore", "artifact_from_row"]


_artifacts = schema.artifacts


def artifact_from_row(row: Row[Any]) -> Artifact:
    """The ``Artifact`` of an ``artifacts`` row."""
    return Artifact(
        id=row.id,
        name=row.name,
        kind=row.kind,
        format=row.format,
        digest=row.digest,
        size=row.size,
        run_id=row.run_id,
        created_at=row.created_at,
        created_by=row.created_by,
        schema=json.loads(row.schema_json),
        stats=json.loads(row.stats_json),
    )


def _id_taken(artifact_id: str) -> ConflictError:
    # Says only that the id is taken: nothing about the artifact that holds it or its project.
    return ConflictError(
        f"an artifact with id {artifact_id} exists already",
        hint="create the artifact with a new id, or leave the id out to have one made",
    )


def _clash(run_id: str, name: str) -> ConflictError:
    return ConflictError(
        f"run {run_id} already has an artifact named {name!r}", hint="pass another name="
    )


class SqlArtifactStore:
    """``ArtifactStore`` over a workspace's catalog."""

    def __init__(self, workspace: Workspace) -> None:
        self._workspace = workspace

    def add_artifacts(self, artifacts: Sequence[NewArtifact]) -> list[Artifact]:
        ids = [new.artifact.id for new in artifacts]
        try:
            return self._add_artifacts(artifacts)
        except sa.exc.IntegrityError:
            # Another writer took one of the ids between the check and the insert.
            with self._workspace.read() as conn:
                taken = conn.execute(
                    sa.select(_artifacts.c.id).where(_artifacts.c.id.in_(ids)).limit(1)
                ).scalar()
            if taken is None:
                raise
            raise _id_taken(taken) from None

    def _add_artifacts(self, artifacts: Sequence[NewArtifact]) -> list[Artifact]:
        ws = self._workspace
        named: set[tuple[str, str]] = set()
        seen: set[str] = set()
        with ws.write() as conn:
            bound = {new.artifact.run_id for new in artifacts}
            for run_id in sorted(run for run in bound if run is not None):
                # In this write, so a finish cannot slip in between: a sealed run stays sealed.
                require_running(conn, run_id)
            projects = _run_projects(conn, {new.artifact.run_id for new in artifacts})
            for new in artifacts:
                artifact = new.artifact
                taken = conn.execute(
                    sa.select(_artifacts.c.id).where(_artifacts.c.id == artifact.id)
                ).scalar()
                if taken is not None or artifact.id in seen:
                    raise _id_taken(artifact.id)
                seen.add(artifact.id)
                for blob_digest, blob_size in new.blobs:
                    ws.register_blob(conn, blob_digest, blob_size)
                if artifact.run_id is not None:
                    key = (artifact.run_id, artifact.name)
                    clash = conn.execute(
                        sa.select(_artifacts.c.id).where(
                            _artifacts.c.run_id == artifact.run_id,
                            _artifacts.c.name == artifact.name,
                        )
                    ).scalar()
                    if clash is not None or key in named:
                        raise _clash(*key)
                    named.add(key)
                if artifact.digest not in {d for d, _ in new.blobs}:
                    _require_known_blob(conn, artifact.name, artifact.digest)
                require_small_document(artifact.schema, f"the schema of artifact {artifact.name!r}")
                require_small_document(artifact.stats, f"the stats of artifact {artifact.name!r}")
                # A run's artifact belongs to the run's project.
                project_id = projects.get(artifact.run_id or "", new.project_id)
                conn.execute(
                    _artifacts.insert(),
                    {
                        "id": artifact.id,
                        "project_id": project_id,
                        "name": artifact.name,
                        "kind": artifact.kind,
                        "format": artifact.format,
                        "digest": artifact.digest,
                        "size": artifact.size,
                        "schema_json": canonical_text(artifact.schema),
                        "stats_json": canonical_text(artifact.stats),
                        "run_id": artifact.run_id,
                        "created_at": artifact.created_at,
                        "created_by": artifact.created_by,
                    },
                )
                refresh_document(conn, "artifact", artifact.id)
                produced = produced_payload(artifact, project_id)
                ws.record(conn, "artifact.produced", f"artifact:{artifact.id}", produced)
        return [new.artifact for new in artifacts]

    def get_artifacts(
        self, refs: Sequence[str], *, projects: Collection[str] | None = None
    ) -> list[Artifact]:
        with self._workspace.read() as conn:
            return [artifact_from_row(find_artifact(conn, ref, projects=projects)) for ref in refs]

    def list_artifacts(
        self,
        *,
        run_id: str | None = None,
        kind: str | None = None,
        page_token: str | None = None,
        max_results: int = 100,
        projects: Collection[str] | None = None,
    ) -> Page[Artifact]:
        if not isinstance(max_results, int) or isinstance(max_results, bool) or max_results < 1:
            raise ValidationError(f"max_results must be a positive int, got {max_results!r}")
        table = _artifacts
        query = sa.select(table)
        if run_id is not None:
            reused = (
                sa.select(schema.task_outputs.c.artifact_id)
                .join(schema.tasks, schema.tasks.c.id == schema.task_outputs.c.task_id)
                .where(schema.tasks.c.run_id == run_id)
            )
            query = query.where(sa.or_(table.c.run_id == run_id, table.c.id.in_(reused)))
        if kind is not None:
            query = query.where(table.c.kind == kind)
        if projects is not None:
            query = query.where(table.c.project_id.in_(sorted(set(projects))))
        if page_token is not None:
            created_at, last_id = decode_key(page_token, ["number", "text"])
            query = query.where(
                sa.or_(
                    table.c.created_at < created_at,
                    sa.and_(table.c.created_at == created_at, table.c.id < last_id),
                )
            )
        query = query.order_by(table.c.created_at.desc(), table.c.id.desc()).limit(max_results + 1)
        with self._workspace.read() as conn:
            rows = conn.execute(query).all()
        next_token = None
        if len(rows) > max_results:
            rows = rows[:max_results]
            next_token = encode_token([rows[-1].created_at, rows[-1].id])
        return Page([artifact_from_row(row) for row in rows], next_token)


def _run_projects(conn: sa.Connection, run_ids: set[str | None]) -> dict[str, str]:
    """The project of each of ``run_ids`` that exists (one that does not fails on its key)."""
    wanted = sorted(run_id for run_id in run_ids if run_id is not None)
    if not wanted:
        return {}
    runs = schema.runs
    rows = conn.execute(sa.select(runs.c.id, runs.c.project_id).where(runs.c.id.in_(wanted)))
    return {str(run_id): str(project_id) for run_id, project_id in rows}


def _require_known_blob(conn: sa.Connection, name: str, digest: str) -> None:
    """Refuse an artifact (one recorded by reference) whose digest is no blob the catalog
    knows, as the store refuses any missing blob, rather than fail on the foreign key."""
    known = conn.execute(
        sa.select(schema.blobs.c.digest).where(schema.blobs.c.digest == digest)
    ).scalar()
    if known is None:
        raise ValidationError(
            f"artifact {name!r} names blob {digest}, which is not in the store",
            hint="store the blob first (PUT /api/v1/blobs/{digest}); nothing was recorded",
        )
