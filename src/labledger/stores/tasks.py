"""Pipeline tasks as the stores take and return them: runs of a pipeline, task rows, cache hits.

The row types a flush carries and a lookup returns are named tuples: immutable, and cheap enough
to make several per task on the hot path. The ``TaskStore`` is batch-first: the scheduler asks for a whole ready frontier's cache keys in
one ``find_cached`` call, and the recorder writes a flush of task rows with their edges in one
``record_tasks`` call. Policy stays in the services: the cache key formula, whether a sealed run
vouches for its tasks (``pipelines.cache_evidence``), expiry and blob presence.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

if TYPE_CHECKING:
    from collections.abc import Collection, Mapping, Sequence

__all__ = [
    "CACHE_INDEX_LIMIT",
    "ArtifactMatch",
    "CacheIndex",
    "CachedOutput",
    "CachedTask",
    "EarlierTask",
    "InputArtifact",
    "NewArtifact",
    "OutputCheck",
    "PipelineRunRecord",
    "RunSeal",
    "TaskBatch",
    "TaskInput",
    "TaskOutput",
    "TaskOutputRef",
    "TaskRow",
    "TaskStore",
]


@dataclass(frozen=True, slots=True)
class PipelineRunRecord:
    """What a pipeline run adds to its tracked run.

    Attributes:
        run_id: The tracked run.
        pipeline: The replay target (``module:function`` of the pipeline).
        code_digest: The tree of its source files, if captured.
        lock_digest: The environment lock of the run, if captured.
        seed: The run's seed.
        params_json: Its parameters as canonical JSON text.
        reproduces: The run it re-executes, for a reproduction.
        facts_digest: The blob of what its cache keys were made of, once known.
        replay_error: Why it cannot be re-executed, if it cannot.
    """

    run_id: str
    pipeline: str
    code_digest: str | None
    lock_digest: str | None
    seed: int
    params_json: str
    reproduces: str | None = None
    facts_digest: str | None = None
    replay_error: str | None = None


class TaskRow(NamedTuple):
    """One task as recorded (a row of ``tasks``)."""

    id: str
    run_id: str
    node: str
    step: str
    fingerprint: str
    cache_key: str
    status: str
    cached_from: str | None
    attempts: int
    started_at: float | None
    ended_at: float | None
    params_json: str
    options_json: str
    code_captured: bool
    log_digest: str | None
    error: str | None
    logged_digest: str | None


class TaskInput(NamedTuple):
    """An edge: task ``task_id`` read artifact ``artifact_id`` as input ``name``."""

    task_id: str
    name: str
    artifact_id: str


class TaskOutput(NamedTuple):
    """An edge: task ``task_id`` returned artifact ``artifact_id`` as output ``name``.

    ``produced`` is false when the task reused the artifact (a cache hit, or an equal result
    another run recorded first).
    """

    task_id: str
    name: str
    artifact_id: str
    produced: bool
    materializer: str


class NewArtifact(NamedTuple):
    """An artifact a task produced or a file a task read, as recorded (a row of ``artifacts``)."""

    id: str
    project_id: str
    name: str
    kind: str
    format: str
    digest: str
    size: int
    schema_json: str
    stats_json: str
    run_id: str | None
    created_at: float
    created_by: str


@dataclass(frozen=True, slots=True)
class TaskBatch:
    """One flush of a run's recorder: task rows, their edges, new artifacts and their blobs.

    Attributes:
        tasks: The tasks.
        inputs: What they read.
        outputs: What they returned.
        artifacts: The artifacts they made (and files they read), each once.
        blobs: Digest -> size of every blob the artifacts and tasks reference.
    """

    tasks: Sequence[TaskRow] = ()
    inputs: Sequence[TaskInput] = ()
    outputs: Sequence[TaskOutput] = ()
    artifacts: Sequence[NewArtifact] = ()
    blobs: Mapping[str, int] = field(default_factory=dict)


class CachedOutput(NamedTuple):
    """One output of a cached task: its artifact and how it was stored."""

    artifact_id: str
    digest: str
    size: int
    kind: str
    format: str
    materializer: str
    schema: dict[str, Any]


class CachedTask(NamedTuple):
    """A finished task recorded under a cache key, with the facts that judge whether to reuse it.

    Attributes:
        task_id: The task.
        run_id: Its run.
        ended_at: When it ended.
        logged_digest: The blob of the metrics and tags it logged, if any.
        record_digest: The record digest the catalog holds for its run (``None``: not sealed).
        outputs: Its outputs by name.
    """

    task_id: str
    run_id: str
    ended_at: float | None
    logged_digest: str | None
    record_digest: str | None
    outputs: dict[str, CachedOutput]


# The most lookup rows (a task's output each) ``cache_index`` returns for one fingerprint.
CACHE_INDEX_LIMIT = 2000


@dataclass(frozen=True, slots=True)
class CacheIndex:
    """The cache entries recorded for some steps, found by their fingerprints in one call.

    Attributes:
        found: Cache key -> its finished tasks, newest first, as ``find_cached`` answers them,
            for every key of the fingerprints asked about except the truncated ones.
        truncated: Fingerprints with more entries than the limit: none of their entries are in
            ``found``, so their keys must be looked up with ``find_cached``.
    """

    found: dict[str, list[CachedTask]]
    truncated: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class TaskOutputRef:
    """One output of a run's task, reused ones included.

    Attributes:
        task_id: The task.
        node: The task's name in the run's graph.
        name: The output's name.
        artifact_id: The artifact holding it.
        artifact_name: That artifact's name.
        digest: Its blob.
        produced: Whether this task made it (false: reused).
        artifact_run_id: The run that made the artifact.
    """

    task_id: str
    node: str
    name: str
    artifact_id: str
    artifact_name: str
    digest: str
    produced: bool
    artifact_run_id: str | None


@dataclass(frozen=True, slots=True)
class InputArtifact:
    """An artifact a task read, as recorded: enough to place or compare its bytes."""

    task_id: str
    name: str
    artifact_id: str
    artifact_name: str
    kind: str
    format: str
    digest: str
    schema_json: str


@dataclass(frozen=True, slots=True)
class ArtifactMatch:
    """An artifact found by name and digest."""

    id: str
    name: str
    digest: str
    kind: str


@dataclass(frozen=True, slots=True)
class EarlierTask:
    """A finished or cached task of an earlier run of a pipeline, with its run's seed and facts."""

    task_id: str
    node: str
    fingerprint: str
    params_json: str
    options_json: str
    seed: int
    facts_digest: str | None


@dataclass(frozen=True, slots=True)
class RunSeal:
    """What the ledger and catalog say about a run's seal.

    Attributes:
        seals: The payloads of the run's ``run.finished`` and ``run.crashed`` entries, oldest first,
            as ``(kind, payload)``.
        record_digest: The run's record re-derived from the catalog now, in the format of its
            latest seal (``None`` when it has none).
    """

    seals: tuple[tuple[str, dict[str, Any]], ...]
    record_digest: str | None


@dataclass(frozen=True, slots=True)
class OutputCheck:
    """One output of the original run, re-computed.

    Attributes:
        node: The task's name.
        output: The output's name.
        artifact_id: The original artifact.
        expected: Its digest.
        actual: The re-run's digest (``None`` if the re-run did not produce it).
        deterministic: Whether the step promised equal bytes.
    """

    node: str
    output: str
    artifact_id: str
    expected: str
    actual: str | None
    deterministic: bool

    @property
    def matched(self) -> bool:
        return self.actual == self.expected


class TaskStore(Protocol):
    """Pipeline runs, their tasks and the cache. Each write is one transaction."""

    def create_pipeline_run(
        self, record: PipelineRunRecord, *, blobs: Sequence[tuple[str, int]] = ()
    ) -> None:
        """Record what a pipeline run adds to its tracked run, and register its code ``blobs``
        (``(digest, size)``).

        Raises:
            ConflictError: The run already has a pipeline record.
        """
        ...

    def set_key_facts(self, run_id: str, digest: str, size: int) -> None:
        """Point a pipeline run at the blob of what its cache keys were made of.

        Raises:
            NotFoundError: ``run_id`` is not a pipeline run.
        """
        ...

    def pipeline_run(self, run_id: str) -> PipelineRunRecord | None:
        """The pipeline record of a run; ``None`` when it is not a pipeline run."""
        ...

    def find_cached(
        self, keys: Sequence[str], *, run_id: str | None = None
    ) -> dict[str, list[CachedTask]]:
        """The finished tasks recorded under each of ``keys``, newest first, in one call.

        Only tasks of runs whose record is sealed, or of ``run_id`` (the asking run), and never a
        reproduction's: whether a seal really covers a task is judged by the caller. A key
        nothing answers is absent from the result.
        """
        ...

    def cache_index(
        self,
        fingerprints: Sequence[str],
        *,
        run_id: str | None = None,
        limit: int = CACHE_INDEX_LIMIT,
        projects: Sequence[str] | None = None,
    ) -> CacheIndex:
        """Every cache entry recorded for steps with these ``fingerprints``, in one call.

        The entries ``find_cached`` would answer for any key of these steps (same rules: sealed
        runs or ``run_id``, no reproductions), so a run can judge its keys as it learns them
        without asking again. A fingerprint with more than ``limit`` output rows, or past the
        call's overall bound, is listed as truncated instead.

        Args:
            fingerprints: Step fingerprints.
            run_id: The asking run.
            limit: The most rows (one per task output) for one fingerprint.
            projects: Only runs of these project ids answer; ``None``: every project's.
        """
        ...

    def record_tasks(
        self, batch: TaskBatch, *, projects: Collection[str] | None = None
    ) -> dict[str, str]:
        """Write a batch of task rows, edges, artifacts and blobs in one transaction.

        A finished task whose cache key another task of a run of the same project recorded
        meanwhile reuses that task's artifacts where the bytes are equal (its own are not
        written, its output edges say ``produced=False`` and its ``cached_from`` names the other
        task). Writing a batch again (a retried flush) changes nothing; a task id recorded
        already in another run is a conflict.

        With ``projects`` (project ids), every artifact an edge names that is not among the
        batch's own artifacts must be of one of those projects: one of another project is
        refused exactly as an unknown artifact (a server keeps each user to the projects they
        read). ``None``: any project's.

        Returns:
            Artifact id in the batch -> the id recorded instead, for each reused artifact.

        Raises:
            ConflictError: The batch does not fit what is recorded (a task of an unknown run,
                an edge to an unknown artifact, a name its run has already); nothing is written.
        """
        ...

    def run_tasks(self, run_id: str) -> list[TaskRow]:
        """The tasks of a run, by id (the order they were created in)."""
        ...

    def get_tasks(self, task_ids: Sequence[str]) -> dict[str, TaskRow]:
        """Tasks by id; unknown ids are absent."""
        ...

    def run_outputs(self, run_id: str) -> list[TaskOutputRef]:
        """Every output of a run's tasks, reused ones included, in the order the tasks ran."""
        ...

    def run_file_inputs(
        self, run_id: str, *, projects: Collection[str] | None = None
    ) -> list[InputArtifact]:
        """The files, folders and references a run's tasks read that no task produced, by
        artifact name; only artifacts of ``projects`` (project ids) when given."""
        ...

    def task_inputs(
        self, task_ids: Sequence[str], *, projects: Collection[str] | None = None
    ) -> list[InputArtifact]:
        """Every input of the given tasks; only artifacts of ``projects`` (project ids) when
        given."""
        ...

    def earlier_tasks(
        self,
        pipeline: str,
        nodes: Sequence[str],
        limit: int,
        *,
        projects: Collection[str] | None = None,
    ) -> list[EarlierTask]:
        """Up to ``limit`` finished or cached tasks named ``nodes`` of runs of ``pipeline``
        (reproductions excluded), newest first; only of runs of ``projects`` (project ids)
        when given, kept to in the query so the limit counts only those."""
        ...

    def find_artifacts(
        self,
        names: Sequence[str],
        digests: Sequence[str],
        *,
        projects: Collection[str] | None = None,
    ) -> list[ArtifactMatch]:
        """Artifacts whose name is among ``names`` and digest among ``digests``, oldest first;
        only of ``projects`` (project ids) when given."""
        ...

    def run_seal(self, run_id: str) -> RunSeal:
        """The run's seal entries in the ledger and its record as the catalog holds it now."""
        ...

    def record_verifications(
        self, run_id: str, rerun_id: str, checks: Sequence[OutputCheck]
    ) -> None:
        """Record a reproduction of ``run_id`` by ``rerun_id`` and append ``run.reproduced``.

        Checks without an ``actual`` digest are in the ledger entry but have no row.
        """
        ...
