"""The JSON shapes of ``/api/v1/tasks`` (pydantic): pipeline runs, cache lookups, task batches.

Rows travel as the store's named tuples, which JSON writes as arrays in their fields' order (a
``TaskRow`` is ``[id, run_id, node, step, fingerprint, cache_key, status, cached_from, attempts,
started_at, ended_at, params_json, options_json, code_captured, log_digest, error,
logged_digest]``): a flush of hundreds of tasks is then a few tens of kilobytes, and parsing it
costs little. Each list is bounded; a client sends larger work in several requests.
"""

from __future__ import annotations

import json
from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from labledger._foundation.errors import LabledgerError
from labledger._foundation.json_input import MAX_DOCUMENT_BYTES, MAX_JSON_DEPTH, json_depth
from labledger.server.middleware import check_body_text

# Pydantic reads these field types at run time.
from labledger.stores.tasks import (
    CACHE_INDEX_LIMIT,
    ArtifactMatch,
    CachedTask,
    EarlierTask,
    InputArtifact,
    NewArtifact,
    PipelineRunRecord,
    TaskInput,
    TaskOutput,
    TaskRow,
)

__all__ = [
    "MAX_BATCH_ROWS",
    "MAX_FINGERPRINTS",
    "MAX_KEYS",
    "ArtifactMatchesOut",
    "BlobIn",
    "CacheIndexIn",
    "CacheIndexOut",
    "EarlierTasksIn",
    "EarlierTasksOut",
    "FindArtifactsIn",
    "FindCachedIn",
    "FindCachedOut",
    "InputsOut",
    "OutputCheckIn",
    "PipelineRunIn",
    "PipelineRunOut",
    "RemapOut",
    "TaskBatchIn",
    "TaskIdsIn",
    "TasksByIdOut",
    "VerificationsIn",
]

MAX_KEYS = 10_000  # cache keys or task ids in one read
MAX_PROJECTS = 1000  # project ids a read may keep to
MAX_BATCH_ROWS = 20_000  # rows of each kind in one task batch
MAX_FINGERPRINTS = 1000  # step fingerprints in one cache index request
Id = Annotated[str, StringConstraints(min_length=1, max_length=64)]
Digest = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Name = Annotated[str, StringConstraints(min_length=1, max_length=500)]


class BlobIn(BaseModel):
    """A blob a record references, already in the store: ``[digest, size]``."""

    model_config = ConfigDict(extra="forbid")

    digest: Digest
    size: int = Field(ge=0, strict=True)


class PipelineRunIn(BaseModel):
    """What a pipeline run adds to its tracked run (``PipelineRunRecord``), with the blobs of
    its code snapshot."""

    model_config = ConfigDict(extra="forbid")

    run_id: Id
    pipeline: Name
    code_digest: Digest | None = None
    lock_digest: Digest | None = None
    seed: int = Field(ge=-(2**63), lt=2**63, strict=True)
    params_json: str = Field(default="{}", max_length=1_000_000)
    reproduces: Id | None = None
    facts_digest: Digest | None = None
    replay_error: str | None = Field(default=None, max_length=20_000)
    blobs: list[BlobIn] = Field(default_factory=list, max_length=100_000)

    @model_validator(mode="after")
    def _params_object(self) -> Self:
        """Refuse (422) params that are not a JSON object (reproducing the run reads them)."""
        if not _is_json_object(self.params_json):
            raise ValueError("params_json is not a JSON object (or nests too deeply)")
        return self

    def record(self) -> PipelineRunRecord:
        """The store's record."""
        return PipelineRunRecord(
            run_id=self.run_id,
            pipeline=self.pipeline,
            code_digest=self.code_digest,
            lock_digest=self.lock_digest,
            seed=self.seed,
            params_json=self.params_json,
            reproduces=self.reproduces,
            facts_digest=self.facts_digest,
            replay_error=self.replay_error,
        )


class PipelineRunOut(BaseModel):
    """A run's pipeline record; ``null`` when it is not a pipeline run."""

    record: PipelineRunRecord | None


class FindCachedIn(BaseModel):
    """Cache keys to look up in one request (a read), for the asking run."""

    model_config = ConfigDict(extra="forbid")

    keys: list[Digest] = Field(max_length=MAX_KEYS)
    run_id: Id | None = None


class FindCachedOut(BaseModel):
    """Each key's finished tasks, newest first; keys nothing answers are absent.

    A ``CachedTask`` is ``[task_id, run_id, ended_at, logged_digest, record_digest, outputs]``,
    its outputs by name each ``[artifact_id, digest, size, kind, format, materializer,
    schema]``.
    """

    found: dict[str, list[CachedTask]]


class CacheIndexIn(BaseModel):
    """Step fingerprints whose cache entries to fetch in one request (a read)."""

    model_config = ConfigDict(extra="forbid")

    fingerprints: list[Digest] = Field(max_length=MAX_FINGERPRINTS)
    run_id: Id | None = None
    limit: int = Field(default=CACHE_INDEX_LIMIT, ge=0, le=CACHE_INDEX_LIMIT, strict=True)


class CacheIndexOut(BaseModel):
    """The entries of every key of the fingerprints asked about (as ``FindCachedOut``), but
    for the ``truncated`` fingerprints, whose keys are to be looked up one frontier at a time."""

    found: dict[str, list[CachedTask]]
    truncated: list[str]


class TaskBatchIn(BaseModel):
    """One flush of a run's recorder, written in one transaction.

    Rows are arrays in the fields' order of ``TaskRow``, ``TaskInput`` (``[task_id, name,
    artifact_id]``), ``TaskOutput`` (``[task_id, name, artifact_id, produced, materializer]``)
    and ``NewArtifact`` (``[id, project_id, name, kind, format, digest, size, schema_json,
    stats_json, run_id, created_at, created_by]``; the server sets ``project_id`` and
    ``created_by``). ``blobs`` maps each referenced blob's digest to its size; every one must
    be in the store already.
    """

    model_config = ConfigDict(extra="forbid")

    tasks: list[TaskRow] = Field(default_factory=list, max_length=MAX_BATCH_ROWS)
    inputs: list[TaskInput] = Field(default_factory=list, max_length=4 * MAX_BATCH_ROWS)
    outputs: list[TaskOutput] = Field(default_factory=list, max_length=4 * MAX_BATCH_ROWS)
    artifacts: list[NewArtifact] = Field(default_factory=list, max_length=4 * MAX_BATCH_ROWS)
    blobs: dict[str, Annotated[int, Field(ge=0)]] = Field(
        default_factory=dict, max_length=8 * MAX_BATCH_ROWS
    )

    @model_validator(mode="after")
    def _json_objects(self) -> Self:
        """Refuse (422) a row whose JSON text is not a JSON object: stored, it would break
        every later read of the catalog's artifacts or tasks."""
        for where, rows, fields in (
            ("tasks", self.tasks, ("params_json", "options_json")),
            ("artifacts", self.artifacts, ("schema_json", "stats_json")),
        ):
            for index, row in enumerate(rows):
                for field in fields:
                    if not _is_json_object(getattr(row, field)):
                        raise ValueError(
                            f"{where}.{index}.{field} is not a JSON object (or nests too "
                            "deeply, is longer than 256 KiB, or holds a NUL or half a "
                            "surrogate pair)"
                        )
        return self


def _is_json_object(text: str) -> bool:
    """Whether ``text`` is the JSON text of an object, nested no deeper than labledger keeps
    (``{}`` the common case, checked first)."""
    if text == "{}":
        return True
    try:
        value = json.loads(text)
        if "\\u" in text:  # escapes of text no catalog can keep, one level down
            check_body_text(text.encode("utf-8"))
    except (ValueError, RecursionError, LabledgerError):
        return False
    return (
        isinstance(value, dict)
        and json_depth(value) <= MAX_JSON_DEPTH
        and len(text) <= MAX_DOCUMENT_BYTES
    )


class RemapOut(BaseModel):
    """Artifact id in the batch -> the equal artifact recorded instead (another run's)."""

    remap: dict[str, str]


class TaskIdsIn(BaseModel):
    """Task ids to read (a read: the ids travel in the body)."""

    model_config = ConfigDict(extra="forbid")

    task_ids: list[Id] = Field(max_length=MAX_KEYS)


class TasksByIdOut(BaseModel):
    """Tasks by id; unknown ids are absent. Each task is a ``TaskRow`` array."""

    tasks: dict[str, TaskRow]


class InputsOut(BaseModel):
    """Inputs of tasks, as recorded."""

    items: list[InputArtifact]


class EarlierTasksIn(BaseModel):
    """Which earlier tasks to read: of runs of ``pipeline``, named ``nodes``."""

    model_config = ConfigDict(extra="forbid")

    pipeline: Name
    nodes: list[Name] = Field(max_length=MAX_KEYS)
    limit: int = Field(ge=0, le=100_000, strict=True)
    projects: list[Id] | None = Field(
        default=None, max_length=MAX_PROJECTS, description="Only runs of these project ids."
    )


class EarlierTasksOut(BaseModel):
    """Finished or cached tasks of earlier runs, newest first."""

    items: list[EarlierTask]


class FindArtifactsIn(BaseModel):
    """Artifacts to find by name and digest."""

    model_config = ConfigDict(extra="forbid")

    names: list[Name] = Field(max_length=MAX_KEYS)
    digests: list[Digest] = Field(max_length=MAX_KEYS)
    projects: list[Id] | None = Field(
        default=None, max_length=MAX_PROJECTS, description="Only artifacts of these project ids."
    )


class ArtifactMatchesOut(BaseModel):
    """The artifacts found, oldest first."""

    items: list[ArtifactMatch]


class OutputCheckIn(BaseModel):
    """One output of the original run, re-computed (``OutputCheck``)."""

    model_config = ConfigDict(extra="forbid")

    node: Name
    output: Name
    artifact_id: Id
    expected: Digest
    actual: Digest | None
    deterministic: bool


class VerificationsIn(BaseModel):
    """A reproduction of the run in the path by ``rerun_id``, output by output."""

    model_config = ConfigDict(extra="forbid")

    rerun_id: Id
    checks: list[OutputCheckIn] = Field(max_length=100_000)
