"""Recording tasks in the catalog, in batches: a task costs a few row inserts, not a transaction.

Rows of finished, cached and failed tasks collect in memory and are written together once the
oldest of them has waited ``flush_interval`` seconds, once the tasks among them took that long to
compute, and when the run ends. So a crash loses at most about ``flush_interval`` seconds of
computed work, and never leaves a row without its bytes (blobs are stored before their rows); the
lost tasks simply run again next time.

Two runs that compute the same task at once both succeed; whichever records second links the
artifacts the first made instead of making its own, so each result is recorded once.
"""

from __future__ import annotations

import json
import time
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from labledger._foundation.canonical import canonical_json, canonical_text
from labledger._foundation.errors import LabledgerError
from labledger._foundation.ids import new_id
from labledger.pipelines.cache import OutputRef
from labledger.workspace import schema
from labledger.workspace.search_index import index_new_artifacts
from labledger.workspace.sqlite_driver import driver_connection, insert_sql

if TYPE_CHECKING:
    import sqlite3
    from collections.abc import Callable, Mapping

    from sqlalchemy import Connection, Table

    from labledger.materializers import Stored
    from labledger.pipelines.cache import CacheHit
    from labledger.pipelines.task import TaskResult
    from labledger.tracking.step_log import StepLog
    from labledger.workspace.blobstore import BlobStore
    from labledger.workspace.workspace import Workspace

__all__ = ["TaskRecord", "TaskRecorder", "read_step_log"]


def read_step_log(store: BlobStore, digest: str | None) -> StepLog | None:
    """The metrics and tags a task logged, from their blob; ``None`` if it is gone or unreadable."""
    if digest is None:
        return None
    from labledger.tracking.step_log import StepLog

    try:
        with store.open(digest) as handle:
            record = json.loads(handle.read())
    except (OSError, ValueError, LabledgerError):
        return None
    return StepLog.from_record(record) if isinstance(record, dict) else None


_t, _o, _a = schema.tasks, schema.task_outputs, schema.artifacts
_RECORDED = (
    select(_t.c.id, _t.c.cache_key, _o.c.name, _o.c.artifact_id, _a.c.digest)
    .select_from(_t.join(_o, _o.c.task_id == _t.c.id).join(_a, _a.c.id == _o.c.artifact_id))
    .where(_t.c.status == "finished", _o.c.produced.is_(True))
)


class _DriverInsert:
    """An ``INSERT`` of dict rows, which hold every column, straight to the sqlite3 driver."""

    def __init__(self, table: Table, *, ignore: bool = False) -> None:
        columns = [column.name for column in table.columns]
        self.sql = insert_sql(table, columns, ignore=ignore)
        self.values = itemgetter(*columns)

    def run(self, db: sqlite3.Connection, rows: list[dict[str, Any]]) -> None:
        db.executemany(self.sql, map(self.values, rows))


_SQLITE_INSERTS = {
    "blobs": _DriverInsert(schema.blobs, ignore=True),
    "artifacts": _DriverInsert(schema.artifacts),
    "tasks": _DriverInsert(schema.tasks),
    "task_inputs": _DriverInsert(schema.task_inputs),
    "task_outputs": _DriverInsert(schema.task_outputs),
}


class TaskRecord:
    """What the runner knows of a task before it is recorded."""

    __slots__ = ("cache_key", "fingerprint", "id", "node", "options_json", "params_json", "step")

    def __init__(
        self,
        *,
        node: str,
        step: str,
        fingerprint: str,
        cache_key: str,
        params_json: str,
        options_json: str,
    ) -> None:
        self.id = new_id()
        self.node = node
        self.step = step
        self.fingerprint = fingerprint
        self.cache_key = cache_key
        self.params_json = params_json
        self.options_json = options_json


class TaskRecorder:
    """Collects task rows for one run and writes them in batches."""

    def __init__(
        self,
        workspace: Workspace,
        run_id: str,
        *,
        code_captured: bool = True,
        flush_interval: float = 0.1,
        before_write: Callable[[], None] | None = None,
    ) -> None:
        self.workspace = workspace
        self.run_id = run_id
        self.project_id = workspace.project_id()
        self.code_captured = code_captured
        self.flush_interval = flush_interval
        self.before_write = before_write
        self._oldest: float | None = None  # when the oldest unwritten row was added
        self._work = 0.0  # seconds of computation the unwritten rows hold
        self._tasks: list[dict[str, Any]] = []
        self._inputs: list[dict[str, Any]] = []
        self._outputs: list[dict[str, Any]] = []
        self._artifacts: list[dict[str, Any]] = []
        self._blobs: dict[str, int] = {}
        self._produced: dict[str, str] = {}  # cache key -> task id, for tasks made in this batch
        self.remap: dict[str, str] = {}  # our artifact id -> the one another run recorded first

    def _task_row(
        self, record: TaskRecord, status: str, *, code_captured: bool, **extra: Any
    ) -> dict[str, Any]:
        row: dict[str, Any] = {
            "id": record.id,
            "run_id": self.run_id,
            "node": record.node,
            "step": record.step,
            "fingerprint": record.fingerprint,
            "cache_key": record.cache_key,
            "status": status,
            "cached_from": None,
            "attempts": 0,
            "started_at": None,
            "ended_at": time.time(),
            "params_json": record.params_json,
            "options_json": record.options_json,
            "code_captured": code_captured,
            "log_digest": None,
            "error": None,
            "logged_digest": None,
        }
        row.update(extra)
        if self._oldest is None:
            self._oldest = time.monotonic()
        if row["started_at"] is not None and row["ended_at"] is not None:
            self._work += row["ended_at"] - row["started_at"]
        return row

    def _input_rows(self, record: TaskRecord, inputs: Mapping[str, str]) -> None:
        self._inputs.extend(
            {"task_id": record.id, "name": name, "artifact_id": artifact_id}
            for name, artifact_id in inputs.items()
        )

    def _store_logged(self, result: TaskResult) -> str | None:
        if result.logged is None:
            return None
        data = canonical_json(result.logged.as_record())
        digest = self.workspace.store.put(data)
        self._blobs[digest] = len(data)
        return digest

    def _artifact(self, stored: Stored, name: str, now: float) -> str:
        """Collect the row of a new artifact holding ``stored`` (and its blobs); returns its id."""
        artifact_id = new_id()
        for digest, size in stored.blobs or ((stored.digest, stored.size),):
            self._blobs[digest] = size
        self._artifacts.append(
            {
                "id": artifact_id,
                "project_id": self.project_id,
                "name": name,
                "kind": stored.kind,
                "format": stored.format,
                "digest": stored.digest,
                "size": stored.size,
                "schema_json": canonical_text(stored.schema),
                "stats_json": canonical_text(stored.stats),
                "run_id": self.run_id,
                "created_at": now,
                "created_by": self.workspace.actor,
            }
        )
        return artifact_id

    def source(self, stored: Stored, name: str) -> str:
        """Register a file or folder a task read as a new artifact of this run; returns its id."""
        artifact_id = self._artifact(stored, name, time.time())
        if self._oldest is None:
            self._oldest = time.monotonic()
        return artifact_id

    def cached(
        self, record: TaskRecord, hit: CacheHit, inputs: Mapping[str, str], *, code_captured: bool
    ) -> dict[str, OutputRef]:
        """Record a task answered from the cache; returns its outputs."""
        self._tasks.append(
            self._task_row(
                record,
                "cached",
                code_captured=code_captured,
                cached_from=hit.task_id,
                logged_digest=hit.logged_digest,
            )
        )
        self._input_rows(record, inputs)
        for name, ref in hit.outputs.items():
            self._outputs.append(
                {
                    "task_id": record.id,
                    "name": name,
                    "artifact_id": ref.artifact_id,
                    "produced": False,
                    "materializer": ref.stored.materializer,
                }
            )
        return hit.outputs

    def finished(
        self,
        record: TaskRecord,
        result: TaskResult,
        inputs: Mapping[str, str],
        *,
        code_captured: bool,
        single_output: bool,
    ) -> dict[str, OutputRef]:
        """Record a task that ran; returns its outputs as new artifacts."""
        now = time.time()
        self._tasks.append(
            self._task_row(
                record,
                "finished",
                code_captured=code_captured,
                attempts=result.attempts,
                started_at=result.started_at,
                ended_at=result.ended_at,
                log_digest=result.log_digest,
                logged_digest=self._store_logged(result),
            )
        )
        if result.log_digest is not None:
            self._blobs[result.log_digest] = result.log_size
        self._input_rows(record, inputs)
        self._produced[record.cache_key] = record.id
        refs: dict[str, OutputRef] = {}
        for name, stored in result.outputs.items():
            artifact_id = self._artifact(
                stored, record.node if single_output else f"{record.node}.{name}", now
            )
            self._outputs.append(
                {
                    "task_id": record.id,
                    "name": name,
                    "artifact_id": artifact_id,
                    "produced": True,
                    "materializer": stored.materializer,
                }
            )
            refs[name] = OutputRef(artifact_id, stored)
        return refs

    def failed(
        self, record: TaskRecord, result: TaskResult, inputs: Mapping[str, str], *, status: str
    ) -> None:
        """Record a task that failed (``failed``) or never ran because an input failed."""
        self._tasks.append(
            self._task_row(
                record,
                status,
                code_captured=self.code_captured,
                attempts=result.attempts,
                started_at=result.started_at or None,
                ended_at=result.ended_at or time.time(),
                log_digest=result.log_digest,
                error=(result.traceback or result.error or "")[-20_000:] or None,
            )
        )
        if result.log_digest is not None:
            self._blobs[result.log_digest] = result.log_size
        self._input_rows(record, inputs)

    def maybe_flush(self) -> None:
        """Write the collected rows when they have waited, or hold work, past ``flush_interval``."""
        if self._oldest is not None and (
            self._work >= self.flush_interval
            or time.monotonic() - self._oldest >= self.flush_interval
        ):
            self.flush()

    def _link_duplicates(self, conn: Connection) -> None:
        """Reuse what another run recorded meanwhile for the same cache keys."""
        if not self._produced:
            return
        query = _RECORDED.where(_t.c.cache_key.in_(list(self._produced)))
        theirs: dict[str, tuple[str, dict[str, tuple[str, str]]]] = {}
        for found in conn.execute(query):
            outputs = theirs.setdefault(found.cache_key, (found.id, {}))[1]
            outputs[found.name] = (found.artifact_id, found.digest)
        if not theirs:
            return
        ours = {self._produced[key]: value for key, value in theirs.items()}
        digests = {row["id"]: row["digest"] for row in self._artifacts}
        linked: set[str] = set()
        for row in self._outputs:
            if row["task_id"] in ours and row["produced"]:
                other = ours[row["task_id"]][1].get(row["name"])
                # Only equal bytes are the same result: a step that is not deterministic keeps
                # its own artifact.
                if other is not None and other[1] == digests.get(row["artifact_id"]):
                    self.remap[row["artifact_id"]] = other[0]
                    row["produced"] = False
                    linked.add(row["task_id"])
        for row in self._tasks:
            if row["id"] in linked:
                row["cached_from"] = ours[row["id"]][0]
        self._artifacts = [row for row in self._artifacts if row["id"] not in self.remap]

    def flush(self) -> None:
        """Write every collected row in one transaction."""
        if not self._tasks and not self._artifacts:
            return
        if self.before_write is not None:
            # The blobs these rows reference become durable before the rows are committed.
            self.before_write()
        ws = self.workspace
        with ws.write() as conn:
            self._link_duplicates(conn)
            for rows in (self._inputs, self._outputs):
                for row in rows:
                    row["artifact_id"] = self.remap.get(row["artifact_id"], row["artifact_id"])
            now = time.time()
            blobs = [{"digest": d, "size": s, "created_at": now} for d, s in self._blobs.items()]
            # On SQLite straight to the driver: thousands of rows a second, for which
            # SQLAlchemy's per-row parameter handling would cost more than the inserts.
            db = driver_connection(conn)
            for table, rows in (
                (schema.blobs, blobs),
                (schema.artifacts, self._artifacts),
                (schema.tasks, self._tasks),
                (schema.task_inputs, self._inputs),
                (schema.task_outputs, self._outputs),
            ):
                if not rows:
                    continue
                if db is not None:
                    _SQLITE_INSERTS[table.name].run(db, rows)
                elif table is schema.blobs:
                    ws.insert_ignore(conn, table, rows)
                else:
                    conn.execute(table.insert(), rows)
            index_new_artifacts(conn, self._artifacts)
        self._tasks, self._inputs, self._outputs, self._artifacts = [], [], [], []
        self._blobs, self._produced = {}, {}
        self._oldest, self._work = None, 0.0
