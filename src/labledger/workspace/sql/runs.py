"""The SQL run store: tracked runs created, logged to in batches, sealed, and read back.

Each write is one transaction with its ledger entries. The rows themselves are written by
``run_rows`` (the SQLite driver's fast paths live there); the reads are ``run_reads``; the seal's
record is built by ``workspace.records``.
"""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from labledger._foundation.errors import ConflictError
from labledger.stores.runs import MetricsSeal, started_payload
from labledger.workspace import schema
from labledger.workspace.artifact_entries import record_run_artifacts
from labledger.workspace.checkpoints import ensure_workspace_key, seal_checkpoint, write_checkpoint
from labledger.workspace.client_signatures import client_signatures
from labledger.workspace.records import metrics_digest, run_record, seal_fields
from labledger.workspace.search_index import index_finished_run, index_run
from labledger.workspace.sql.batch_groups import BatchGroups
from labledger.workspace.sql.carried_digests import CarriedDigests
from labledger.workspace.sql.run_reads import find_runs, metric_page, run_page, running_runs
from labledger.workspace.sql.run_rows import (
    check_replayed_metrics,
    finish_run,
    in_seq_order,
    insert_metric_groups,
    insert_metrics,
    insert_params,
    insert_run,
    latest_rows,
    lock_run,
    no_such_run,
    require_running_or_stored,
    touch_heartbeat,
    upsert_latest_metrics,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

    from sqlalchemy import Connection

    from labledger.stores.pages import Page
    from labledger.stores.runs import (
        BlobRef,
        FinishRun,
        MetricPoint,
        MetricRow,
        NewRun,
        ParamRow,
        Run,
        RunLiveness,
        RunQuery,
        TagRow,
    )
    from labledger.workspace.sql.batch_groups import GroupedBatch
    from labledger.workspace.workspace import Workspace

__all__ = ["SqlRunStore"]

_runs = schema.runs


class _Ungrouped(Exception):
    """A group of batches that must be written one by one."""


class SqlRunStore:
    """``RunStore`` over a workspace's catalog."""

    def __init__(self, workspace: Workspace) -> None:
        self._workspace = workspace
        # SQLite writes one transaction at a time: concurrent batches of metrics go in together
        # (see batch_groups). PostgreSQL writes them side by side.
        self._groups = (
            BatchGroups(self._write_alone, self._write_together)
            if workspace.catalog.dialect == "sqlite"
            else None
        )
        self._carried = CarriedDigests()  # filled where the workspace carries run digests

    # -- writes ------------------------------------------------------------------------------

    def create_run(
        self,
        run: NewRun,
        *,
        params: Sequence[ParamRow] = (),
        tags: Sequence[TagRow] = (),
        blobs: Sequence[BlobRef] = (),
    ) -> None:
        ws = self._workspace
        row: dict[str, Any] = {
            "id": run.id,
            "project_id": run.project_id,
            "name": run.name,
            "kind": run.kind,
            "status": "running",
            "user": run.user,
            "host": run.host,
            "pid": run.pid,
            "started_at": run.started_at,
            "ended_at": None,
            "heartbeat_at": run.started_at,
            "environment_digest": run.environment_digest,
            "git_commit": run.git_commit,
            "git_dirty": run.git_dirty,
        }
        try:
            with ws.write() as conn:
                for digest, size in blobs:
                    # Registered on every run: the transaction that first registered it may have
                    # rolled back.
                    ws.register_blob(conn, digest, size)
                insert_run(
                    conn,
                    row,
                    [(run.id, *param) for param in params],
                    [(run.id, *tag) for tag in tags],
                )
                ws.record(conn, "run.started", f"run:{run.id}", started_payload(run))
        except (sa.exc.IntegrityError, sqlite3.IntegrityError):
            with ws.read() as conn:
                taken = conn.execute(sa.select(_runs.c.id).where(_runs.c.id == run.id)).first()
            if taken is None:
                raise
            raise ConflictError(
                f"a run with id {run.id} exists already", hint="start the run with a new id"
            ) from None

    def log_batch(
        self,
        run_id: str,
        *,
        metrics: Sequence[MetricRow] = (),
        params: Sequence[ParamRow] = (),
        tags: Sequence[TagRow] = (),
        batch_id: str | None = None,
    ) -> None:
        # No table of applied batches: the rows say whether a batch was applied, and a replay
        # must hold what they hold (see run_rows), so ``batch_id`` only names the batch.
        del batch_id
        if metrics and not params and not tags and self._groups is not None:
            self._groups.write(run_id, in_seq_order(metrics))
            return
        ws = self._workspace
        fresh = False
        with ws.write() as conn:
            if (metrics or params) and not require_running_or_stored(conn, run_id, metrics, params):
                # Sent again after the run ended, every row stored already: a no-op (tags,
                # which stay editable, are still written).
                metrics, params = (), ()
            if params:
                insert_params(conn, [(run_id, *param) for param in params])
            if metrics:
                metrics = in_seq_order(metrics)
                fresh = self._write_metrics(conn, run_id, metrics)
            if tags:
                status = conn.execute(
                    sa.select(_runs.c.status).where(_runs.c.id == run_id)
                ).scalar()
                if status is None:
                    raise no_such_run(run_id)
                rows = [{"run_id": run_id, "key": key, "value": value} for key, value in tags]
                ws.upsert(conn, schema.tags, rows, ["run_id", "key"])
                if status != "running":
                    # A running run is indexed when it ends; an ended one now.
                    index_run(conn, run_id)
        if fresh:
            self._carry(run_id, metrics)

    def _write_alone(self, batch: GroupedBatch) -> None:
        fresh = False
        with self._workspace.write() as conn:
            if require_running_or_stored(conn, batch.run_id, batch.rows, ()):
                fresh = self._write_metrics(conn, batch.run_id, batch.rows)
        if fresh:
            self._carry(batch.run_id, batch.rows)

    def _write_together(self, batches: Sequence[GroupedBatch]) -> bool:
        try:
            with self._workspace.write() as conn:
                if not insert_metric_groups(conn, [(b.run_id, b.rows) for b in batches]):
                    raise _Ungrouped  # rolls back what the group wrote
        except _Ungrouped:
            return False
        for batch in batches:
            self._carry(batch.run_id, batch.rows)
        return True

    def _carry(self, run_id: str, rows: Sequence[MetricRow]) -> None:
        """Note committed new ``rows`` in their run's carried digest (see carried_digests)."""
        if self._workspace.carries_run_digests:
            self._carried.add(run_id, rows)

    @staticmethod
    def _write_metrics(conn: Connection, run_id: str, rows: Sequence[MetricRow]) -> bool:
        """Write ``rows`` (sorted by seq); whether every one was new."""
        fresh = insert_metrics(conn, run_id, rows)
        if not fresh:
            # Some seqs were stored already: the batch may show its rows as the latest values
            # only if they are what is stored (else this raises, and the batch writes nothing).
            check_replayed_metrics(conn, run_id, rows)
        upsert_latest_metrics(conn, run_id, latest_rows(rows))
        return fresh

    def finish_run(self, run_id: str, seal: FinishRun) -> str:
        ws = self._workspace
        ensure_workspace_key(ws)
        known = self._carried.take(run_id)
        if seal.metrics_seal is None and known is None:
            # The run's rows are read back before the write, which then reads only the rows
            # stored since: a long run's seal holds the other writers up for moments.
            with ws.read() as conn:
                known = metrics_digest(conn, run_id)
        with ws.write() as conn:
            lock_run(conn, run_id)
            if seal.metrics:
                self._write_metrics(conn, run_id, in_seq_order(seal.metrics))
            metrics = seal.metrics_seal
            if metrics is None:
                digest = metrics_digest(conn, run_id, known=known)
                metrics = MetricsSeal(digest.count, digest.digest, digest.summary())
            if seal.run is not None:
                new = seal.run
                row: dict[str, Any] = {
                    "id": new.id,
                    "name": new.name,
                    "started_at": new.started_at,
                    "environment_digest": new.environment_digest,
                    "git_commit": new.git_commit,
                    "kind": new.kind,
                }
            else:
                found = conn.execute(sa.select(_runs).where(_runs.c.id == run_id)).first()
                row = {} if found is None else dict(found._mapping)
            row.update(status=seal.status, ended_at=seal.ended_at)
            sealed = seal_fields(
                run_record(conn, run_id, run=row, params=seal.params, metrics=metrics)
            )
            record = sealed["record_digest"]
            finish_run(
                conn,
                run_id,
                status=seal.status,
                ended_at=seal.ended_at,
                error=seal.error,
                record_digest=record,
            )
            if seal.params is not None and seal.tags is not None and seal.run is not None:
                index_finished_run(
                    conn,
                    run_id,
                    name=seal.run.name,
                    kind=seal.run.kind,
                    params=seal.params,
                    tags=seal.tags,
                )
            else:
                index_run(conn, run_id)
            record_run_artifacts(ws, conn, run_id)
            payload = {
                "run_id": run_id,
                "status": seal.status,
                "error": seal.error,  # held to the run's row by verify
                **sealed,
                "metrics": metrics.summary,
                # Every artifact of the run is named by a produced entry (verify checks).
                "artifacts_recorded": True,
            }
            if client_signatures() is None:
                # A signed checkpoint of the ledger up to this seal travels inside it.
                checkpoint = seal_checkpoint(ws, conn)
                if checkpoint is not None:
                    payload["checkpoint"] = checkpoint
                ws.record(conn, "run.finished", f"run:{run_id}", payload)
            else:
                # The client signs the seal, so its payload is what the rows give, and nothing
                # that depends on the ledger's head when it lands: the workspace's checkpoint
                # is stored beside it instead.
                ws.record(conn, "run.finished", f"run:{run_id}", payload)
                if ws.workspace_signer is not None:
                    write_checkpoint(ws, conn)
        return str(record)

    def heartbeat(self, run_ids: Sequence[str], at: float) -> None:
        if not run_ids:
            return
        with self._workspace.write() as conn:
            touch_heartbeat(conn, run_ids, at)

    def mark_crashed(self, run_ids: Sequence[str], *, reason: str, at: float) -> list[str]:
        ws = self._workspace
        sealed_ids: list[str] = []
        if not run_ids:
            return sealed_ids
        with ws.write() as conn:
            for run_id in run_ids:
                changed = conn.execute(
                    sa.update(_runs)
                    .where(_runs.c.id == run_id, _runs.c.status == "running")
                    .values(status="crashed", ended_at=at, error=reason)
                ).rowcount
                if not changed:
                    continue
                # Sealed as it stands: the tasks it finished stay usable from the cache (a re-run
                # resumes), and edits made after this are seen by `verify`.
                sealed = seal_fields(run_record(conn, run_id))
                conn.execute(
                    sa.update(_runs)
                    .where(_runs.c.id == run_id)
                    .values(record_digest=sealed["record_digest"])
                )
                record_run_artifacts(ws, conn, run_id)
                ws.record(
                    conn,
                    "run.crashed",
                    f"run:{run_id}",
                    {"run_id": run_id, "error": reason, **sealed, "artifacts_recorded": True},
                )
                sealed_ids.append(run_id)
        return sealed_ids

    # -- reads -------------------------------------------------------------------------------

    def get_runs(
        self, refs: Sequence[str], *, project_ids: Sequence[str] | None = None
    ) -> list[Run]:
        with self._workspace.read() as conn:
            return find_runs(conn, refs, among=project_ids)

    def search_runs(
        self, query: RunQuery, *, page_token: str | None = None, max_results: int = 100
    ) -> Page[Run]:
        with self._workspace.read() as conn:
            return run_page(conn, query, page_token, max_results)

    def metric_history(
        self,
        run_id: str,
        keys: Sequence[str] | None = None,
        *,
        page_token: str | None = None,
        max_results: int = 1000,
    ) -> Page[MetricPoint]:
        with self._workspace.read() as conn:
            return metric_page(conn, run_id, keys, page_token, max_results)

    def running(self, run_ids: Sequence[str] | None = None) -> list[RunLiveness]:
        with self._workspace.read() as conn:
            return running_runs(conn, run_ids)
