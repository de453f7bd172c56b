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
from typing import TYPE_CHECKING

from labledger._foundation.canonical import canonical_json, canonical_text
from labledger._foundation.digests import digest_bytes
from labledger._foundation.errors import LabledgerError
from labledger._foundation.ids import new_id
from labledger.pipelines.cache import OutputRef
from labledger.stores.tasks import NewArtifact, TaskBatch, TaskInput, TaskOutput, TaskRow
from labledger.workspace.blobstore import put_many

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

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
        project_id: str | None = None,
    ) -> None:
        self.workspace = workspace
        self.run_id = run_id
        # The run's project: what the run makes is filed where the run is.
        self.project_id = project_id or workspace.project_id()
        self.code_captured = code_captured
        self.flush_interval = flush_interval
        self.before_write = before_write
        self._oldest: float | None = None  # when the oldest unwritten row was added
        self._work = 0.0  # seconds of computation the unwritten rows hold
        self._tasks: list[TaskRow] = []
        self._inputs: list[TaskInput] = []
        self._outputs: list[TaskOutput] = []
        self._artifacts: list[NewArtifact] = []
        self._blobs: dict[str, int] = {}
        self._logged: dict[str, bytes] = {}  # blobs of what tasks logged, stored at the flush
        self.remap: dict[str, str] = {}  # our artifact id -> the one another run recorded first

    def _task_row(
        self,
        record: TaskRecord,
        status: str,
        *,
        code_captured: bool,
        cached_from: str | None = None,
        attempts: int = 0,
        started_at: float | None = None,
        ended_at: float | None = None,
        log_digest: str | None = None,
        error: str | None = None,
        logged_digest: str | None = None,
    ) -> TaskRow:
        if ended_at is None:
            ended_at = time.time()
        if self._oldest is None:
            self._oldest = time.monotonic()
        if started_at is not None:
            self._work += ended_at - started_at
        return TaskRow(
            record.id,
            self.run_id,
            record.node,
            record.step,
            record.fingerprint,
            record.cache_key,
            status,
            cached_from,
            attempts,
            started_at,
            ended_at,
            record.params_json,
            record.options_json,
            code_captured,
            log_digest,
            error,
            logged_digest,
        )

    def _input_rows(self, record: TaskRecord, inputs: Mapping[str, str]) -> None:
        self._inputs.extend(
            TaskInput(record.id, name, artifact_id) for name, artifact_id in inputs.items()
        )

    def _store_logged(self, result: TaskResult) -> str | None:
        """The digest of the blob of what the task logged; stored with the next flush (in one
        batch with the others: against a server, not a round trip per step)."""
        if result.logged is None:
            return None
        data = canonical_json(result.logged.as_record())
        digest = digest_bytes(data)
        self._logged[digest] = data
        self._blobs[digest] = len(data)
        return digest

    def _artifact(self, stored: Stored, name: str, now: float) -> str:
        """Collect the row of a new artifact holding ``stored`` (and its blobs); returns its id."""
        artifact_id = new_id()
        for digest, size in stored.blobs or ((stored.digest, stored.size),):
            self._blobs[digest] = size
        self._artifacts.append(
            NewArtifact(
                id=artifact_id,
                project_id=self.project_id,
                name=name,
                kind=stored.kind,
                format=stored.format,
                digest=stored.digest,
                size=stored.size,
                schema_json=canonical_text(stored.schema),
                stats_json=canonical_text(stored.stats),
                run_id=self.run_id,
                created_at=now,
                created_by=self.workspace.actor,
            )
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
        self._outputs.extend(
            TaskOutput(record.id, name, ref.artifact_id, False, ref.stored.materializer)
            for name, ref in hit.outputs.items()
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
        refs: dict[str, OutputRef] = {}
        for name, stored in result.outputs.items():
            artifact_id = self._artifact(
                stored, record.node if single_output else f"{record.node}.{name}", now
            )
            self._outputs.append(
                TaskOutput(record.id, name, artifact_id, True, stored.materializer)
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

    def flush(self) -> None:
        """Write every collected row in one store call (one transaction).

        A result another run recorded meanwhile under the same cache key, with equal bytes, is
        linked instead of recorded again; ``remap`` says which artifacts were replaced.
        """
        if not self._tasks and not self._artifacts:
            return
        if self._logged:
            put_many(self.workspace.store, list(self._logged.values()))
            self._logged = {}
        if self.before_write is not None:
            # The blobs these rows reference become durable before the rows are committed.
            self.before_write()
        remap = self.remap
        inputs, outputs = self._inputs, self._outputs
        if remap:
            # Tasks that read a result an earlier flush linked read the linked artifact.
            inputs = [
                row._replace(artifact_id=remap[row.artifact_id])
                if row.artifact_id in remap
                else row
                for row in inputs
            ]
            outputs = [
                row._replace(artifact_id=remap[row.artifact_id])
                if row.artifact_id in remap
                else row
                for row in outputs
            ]
        batch = TaskBatch(self._tasks, inputs, outputs, self._artifacts, self._blobs)
        remap.update(self.workspace.stores.tasks.record_tasks(batch))
        self._tasks, self._inputs, self._outputs, self._artifacts = [], [], [], []
        self._blobs = {}
        self._oldest, self._work = None, 0.0
