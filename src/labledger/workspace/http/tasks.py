"""``HttpTaskStore``: the ``TaskStore`` of a server's workspace, over ``/api/v1/tasks``.

One request per store call, as the store is batch-first: a ready frontier's cache keys in one
lookup, a recorder's flush in one batch. Rows travel as arrays (the named tuples' fields in
order). Reads and the writes that are safe to repeat (a task batch, the key facts) are retried
after a transport failure; creating a pipeline run and recording a reproduction are not, so a lost
answer is reported rather than risking a second ledger entry.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from pydantic import BaseModel

from labledger._foundation.errors import LabledgerError, NotFoundError
from labledger.stores.tasks import (
    CACHE_INDEX_LIMIT,
    ArtifactMatch,
    CachedTask,
    CacheIndex,
    EarlierTask,
    InputArtifact,
    PipelineRunRecord,
    RunSeal,
    TaskOutputRef,
    TaskRow,
)

if TYPE_CHECKING:
    from collections.abc import Collection, Sequence

    from labledger.stores.tasks import OutputCheck, TaskBatch
    from labledger.workspace.http.client import Client

__all__ = ["HttpTaskStore"]

_ROUTE = "/api/v1/tasks"
_MAX_IDS = 10_000  # the server's bound on keys or ids in one read
_PAGE = 1000
T = TypeVar("T")
_FOUND = dict[str, dict[str, list[CachedTask]]]
_MAX_FINGERPRINTS = 1000  # the server's bound on fingerprints in one cache index request


class _Index(BaseModel):
    found: dict[str, list[CachedTask]]
    truncated: list[str]


@dataclass(frozen=True, slots=True)
class _Page(Generic[T]):
    """One page of a list route."""

    items: list[T]
    next_page_token: str | None


class HttpTaskStore:
    """Pipeline runs, their tasks and the cache, through a labledger server."""

    def __init__(self, client: Client) -> None:
        self._client = client
        self._indexes = True  # false once the server turns out to have no cache index

    # -- pipeline runs -----------------------------------------------------------------------

    def create_pipeline_run(
        self, record: PipelineRunRecord, *, blobs: Sequence[tuple[str, int]] = ()
    ) -> None:
        body = {
            "run_id": record.run_id,
            "pipeline": record.pipeline,
            "code_digest": record.code_digest,
            "lock_digest": record.lock_digest,
            "seed": record.seed,
            "params_json": record.params_json,
            "reproduces": record.reproduces,
            "facts_digest": record.facts_digest,
            "replay_error": record.replay_error,
            "blobs": [{"digest": digest, "size": size} for digest, size in blobs],
        }
        self._client.call("POST", f"{_ROUTE}/pipeline-runs", body)

    def set_key_facts(self, run_id: str, digest: str, size: int) -> None:
        self._client.call(
            "PUT",
            f"{_ROUTE}/pipeline-runs/{run_id}/key-facts",
            {"digest": digest, "size": size},
            idempotent=True,
        )

    def pipeline_run(self, run_id: str) -> PipelineRunRecord | None:
        found = self._client.call("GET", f"{_ROUTE}/pipeline-runs/{run_id}", model=dict)
        record = found.get("record")
        return None if record is None else PipelineRunRecord(**record)

    # -- the cache ---------------------------------------------------------------------------

    def find_cached(
        self, keys: Sequence[str], *, run_id: str | None = None
    ) -> dict[str, list[CachedTask]]:
        unique = list(dict.fromkeys(keys))
        found: dict[str, list[CachedTask]] = {}
        for start in range(0, len(unique), _MAX_IDS):
            body = {"keys": unique[start : start + _MAX_IDS], "run_id": run_id or None}
            answer = self._client.call(
                "POST", f"{_ROUTE}/cache/find", body, _FOUND, idempotent=True
            )
            found.update(answer["found"])
        return found

    def cache_index(
        self,
        fingerprints: Sequence[str],
        *,
        run_id: str | None = None,
        limit: int = CACHE_INDEX_LIMIT,
        projects: Sequence[str] | None = None,
    ) -> CacheIndex:
        """One request per 1,000 fingerprints. ``projects`` is the server's to decide: it
        answers from the projects the signed-in user may read. A server without the route (an
        older one) answers every fingerprint as truncated: its keys are then looked up."""
        unique = list(dict.fromkeys(fingerprints))
        if not self._indexes:
            return CacheIndex({}, tuple(unique))
        found: dict[str, list[CachedTask]] = {}
        truncated: list[str] = []
        for start in range(0, len(unique), _MAX_FINGERPRINTS):
            body = {
                "fingerprints": unique[start : start + _MAX_FINGERPRINTS],
                "run_id": run_id or None,
                "limit": limit,
            }
            try:
                answer: _Index = self._client.call(
                    "POST", f"{_ROUTE}/cache/index", body, _Index, idempotent=True
                )
            except LabledgerError as exc:
                # 404 or 405 (a route this server does not have), and nothing else.
                if not isinstance(exc, NotFoundError) and type(exc) is not LabledgerError:
                    raise
                self._indexes = False
                return CacheIndex({}, tuple(unique))
            found.update(answer.found)
            truncated.extend(answer.truncated)
        return CacheIndex(found, tuple(truncated))

    # -- recording ---------------------------------------------------------------------------

    def record_tasks(
        self, batch: TaskBatch, *, projects: Collection[str] | None = None
    ) -> dict[str, str]:
        # ``projects`` is the server's to apply: it keeps every request to the projects the
        # signed-in user reads.
        del projects
        if not batch.tasks and not batch.artifacts:
            return {}
        body = {
            "tasks": list(batch.tasks),
            "inputs": list(batch.inputs),
            "outputs": list(batch.outputs),
            "artifacts": list(batch.artifacts),
            "blobs": dict(batch.blobs),
        }
        # A flush written twice changes nothing (the store's promise): safe to send again.
        answer = self._client.call("POST", f"{_ROUTE}/batches", body, dict, idempotent=True)
        return {str(k): str(v) for k, v in answer["remap"].items()}

    def record_verifications(
        self, run_id: str, rerun_id: str, checks: Sequence[OutputCheck]
    ) -> None:
        body = {
            "rerun_id": rerun_id,
            "checks": [
                {
                    "node": check.node,
                    "output": check.output,
                    "artifact_id": check.artifact_id,
                    "expected": check.expected,
                    "actual": check.actual,
                    "deterministic": check.deterministic,
                }
                for check in checks
            ],
        }
        self._client.call("POST", f"{_ROUTE}/runs/{run_id}/verifications", body)

    # -- reads -------------------------------------------------------------------------------

    def run_tasks(self, run_id: str) -> list[TaskRow]:
        return self._pages(f"{_ROUTE}/runs/{run_id}/tasks", TaskRow)

    def get_tasks(self, task_ids: Sequence[str]) -> dict[str, TaskRow]:
        ids = list(dict.fromkeys(task_ids))
        found: dict[str, TaskRow] = {}
        for start in range(0, len(ids), _MAX_IDS):
            answer = self._client.call(
                "POST",
                f"{_ROUTE}/by-id",
                {"task_ids": ids[start : start + _MAX_IDS]},
                dict[str, dict[str, TaskRow]],
                idempotent=True,
            )
            found.update(answer["tasks"])
        return found

    def run_outputs(self, run_id: str) -> list[TaskOutputRef]:
        return self._pages(f"{_ROUTE}/runs/{run_id}/outputs", TaskOutputRef)

    def run_file_inputs(
        self, run_id: str, *, projects: Collection[str] | None = None
    ) -> list[InputArtifact]:
        # The server keeps the inputs to the projects the signed-in user reads.
        del projects
        return self._pages(f"{_ROUTE}/runs/{run_id}/file-inputs", InputArtifact)

    def task_inputs(
        self, task_ids: Sequence[str], *, projects: Collection[str] | None = None
    ) -> list[InputArtifact]:
        # The server keeps the inputs to the projects the signed-in user reads.
        del projects
        ids = list(dict.fromkeys(task_ids))
        found: list[InputArtifact] = []
        for start in range(0, len(ids), _MAX_IDS):
            answer = self._client.call(
                "POST",
                f"{_ROUTE}/inputs",
                {"task_ids": ids[start : start + _MAX_IDS]},
                dict[str, list[InputArtifact]],
                idempotent=True,
            )
            found.extend(answer["items"])
        return found

    def earlier_tasks(
        self,
        pipeline: str,
        nodes: Sequence[str],
        limit: int,
        *,
        projects: Collection[str] | None = None,
    ) -> list[EarlierTask]:
        body: dict[str, Any] = {
            "pipeline": pipeline,
            "nodes": list(dict.fromkeys(nodes)),
            "limit": limit,
        }
        if projects is not None:
            body["projects"] = sorted(set(projects))
        answer = self._client.call(
            "POST", f"{_ROUTE}/earlier", body, dict[str, list[EarlierTask]], idempotent=True
        )
        return list(answer["items"])

    def find_artifacts(
        self,
        names: Sequence[str],
        digests: Sequence[str],
        *,
        projects: Collection[str] | None = None,
    ) -> list[ArtifactMatch]:
        body: dict[str, Any] = {"names": sorted(set(names)), "digests": sorted(set(digests))}
        if not body["names"] or not body["digests"] or (projects is not None and not projects):
            return []
        if projects is not None:
            body["projects"] = sorted(set(projects))
        answer = self._client.call(
            "POST",
            f"{_ROUTE}/artifacts/find",
            body,
            dict[str, list[ArtifactMatch]],
            idempotent=True,
        )
        return list(answer["items"])

    def run_seal(self, run_id: str) -> RunSeal:
        seal: RunSeal = self._client.call("GET", f"{_ROUTE}/runs/{run_id}/seal", model=RunSeal)
        return seal

    def close(self) -> None:
        """Nothing to release: the client's connections belong to the workspace."""

    def _pages(self, route: str, item: type[T]) -> list[T]:
        """Every item of a paginated list route, following its page tokens."""
        items: list[T] = []
        params: dict[str, Any] = {"max_results": _PAGE}
        while True:
            page: _Page[T] = self._client.call(
                "GET",
                route,
                model=_Page[item],  # type: ignore[valid-type]
                params=params,
            )
            items.extend(page.items)
            token = page.next_page_token
            if not token:
                return items
            params = {"max_results": _PAGE, "page_token": token}
