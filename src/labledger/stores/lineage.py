"""Lineage as the stores return it: nodes (artifacts and tasks), edges, graphs, statuses."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Literal, Protocol

if TYPE_CHECKING:
    from collections.abc import Collection, Sequence

__all__ = [
    "ArtifactFacts",
    "Direction",
    "LineageEdge",
    "LineageGraph",
    "LineageNode",
    "LineageStore",
    "NodeKind",
    "ProvArtifact",
    "ProvEdge",
    "ProvPipeline",
    "ProvRun",
    "ProvTask",
    "ReproFacts",
    "ReproStatus",
    "RunProvenance",
    "TaskFacts",
]

NodeKind = Literal["artifact", "task"]
Direction = Literal["up", "down", "run"]


class ReproStatus(StrEnum):
    """How far an artifact can be trusted to come out the same again, from its lineage.

    Ordered from best to worst: ``verified`` (re-executed, same digest), ``reproducible`` (every
    ancestor step has its code and environment captured, every input is present), ``unverifiable``
    (a step's code was not captured, it is not deterministic, or its run has no code snapshot or
    environment lock) and ``broken`` (a blob of the artifact or of an ancestor is missing).
    """

    VERIFIED = "verified"
    REPRODUCIBLE = "reproducible"
    UNVERIFIABLE = "unverifiable"
    BROKEN = "broken"


@dataclass(frozen=True, slots=True)
class LineageNode:
    """An artifact or a task in a lineage graph.

    Attributes:
        id: The artifact's or the task's id.
        kind: ``"artifact"`` or ``"task"``.
        name: The artifact's name, or the task's name in its run's graph (its node).
        run_id: The run that produced the artifact (``None`` for one logged outside any run), or
            the task's run.
        digest: The artifact's blob digest; ``None`` for tasks.
        format: The artifact's format (``parquet``, ``tree``...); ``None`` for tasks.
        step: The task's step (qualified function name); ``None`` for artifacts.
        status: The task's status (``finished``, ``cached``, ``failed``, ``skipped``); ``None`` for
            artifacts.
        cache_key: The task's cache key; tasks of one step with one cache key did the same work.
            ``None`` for artifacts.
    """

    id: str
    kind: NodeKind
    name: str
    run_id: str | None
    digest: str | None = None
    format: str | None = None
    step: str | None = None
    status: str | None = None
    cache_key: str | None = None


@dataclass(frozen=True, slots=True)
class LineageEdge:
    """A lineage edge: an artifact read by a task, or a task's output.

    Attributes:
        source: The artifact id (an input edge) or the task id (an output edge).
        target: The task id (an input edge) or the artifact id (an output edge).
        name: The input's or the output's name in the step.
        cached: True on the output edge of a cached task, which reused the artifact rather than
            making it.
    """

    source: str
    target: str
    name: str
    cached: bool = False


@dataclass(frozen=True, slots=True)
class LineageGraph:
    """A part of the lineage graph: artifacts and tasks joined by input and output edges.

    Attributes:
        root: The artifact the graph was walked from, or the run id for a run's graph.
        direction: ``"up"`` (ancestors), ``"down"`` (descendants) or ``"run"`` (one run).
        depth: The most steps walked from the root; ``None`` for no limit.
        nodes: Artifacts and tasks, artifacts first, each in id (creation) order.
        edges: Input edges (artifact to task) and output edges (task to artifact), sorted.
    """

    root: str
    direction: Direction
    depth: int | None
    nodes: tuple[LineageNode, ...]
    edges: tuple[LineageEdge, ...]

    def node(self, node_id: str) -> LineageNode:
        """The node with this id.

        Raises:
            KeyError: The graph has no such node.
        """
        for candidate in self.nodes:
            if candidate.id == node_id:
                return candidate
        raise KeyError(node_id)

    def artifacts(self) -> tuple[LineageNode, ...]:
        """The artifact nodes."""
        return tuple(n for n in self.nodes if n.kind == "artifact")

    def tasks(self) -> tuple[LineageNode, ...]:
        """The task nodes."""
        return tuple(n for n in self.nodes if n.kind == "task")


@dataclass(frozen=True, slots=True)
class ArtifactFacts:
    """What decides an artifact's reproducibility status, as the catalog holds it.

    Attributes:
        id: The artifact's id.
        name: Its name.
        digest: Its blob's digest.
        kind: Its kind (``tree`` and ``reference`` matter here).
        producer: The task that produced it; ``None`` for a source.
        verified: Whether a ``reproduce`` run re-executed its producer and got the same digest.
    """

    id: str
    name: str
    digest: str
    kind: str
    producer: str | None
    verified: bool


@dataclass(frozen=True, slots=True)
class TaskFacts:
    """What decides a task's reproducibility status, as the catalog holds it.

    Attributes:
        id: The task's id.
        node: Its name in its run's graph.
        run_id: Its run.
        code_captured: Whether its step's code was fingerprinted from source.
        deterministic: Whether the step is declared deterministic (the default).
        pipeline_run: Whether its run is a pipeline run (which has a code snapshot to replay).
        has_code_snapshot: Whether that pipeline run kept a code snapshot.
        has_lock: Whether it kept an environment lock.
        replay_error: Why it cannot be re-executed, if it cannot.
        inputs: The artifacts it read.
    """

    id: str
    node: str
    run_id: str
    code_captured: bool
    deterministic: bool
    pipeline_run: bool
    has_code_snapshot: bool
    has_lock: bool
    replay_error: str | None
    inputs: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ReproFacts:
    """The facts behind some nodes' statuses: those nodes, every artifact above them, and every
    task that produced one of those artifacts (and the tasks asked for)."""

    artifacts: dict[str, ArtifactFacts]
    tasks: dict[str, TaskFacts]


@dataclass(frozen=True, slots=True)
class ProvRun:
    """The run a provenance document describes."""

    id: str
    name: str
    status: str
    user: str
    started_at: float
    ended_at: float | None
    git_commit: str | None


@dataclass(frozen=True, slots=True)
class ProvPipeline:
    """The pipeline side of a pipeline run."""

    pipeline: str
    code_digest: str | None
    lock_digest: str | None
    seed: int
    reproduces: str | None


@dataclass(frozen=True, slots=True)
class ProvTask:
    """One task of the run, with what a provenance document tells of it."""

    id: str
    node: str
    step: str
    status: str
    fingerprint: str
    cache_key: str
    code_captured: bool
    options_json: str
    cached_from: str | None
    started_at: float | None
    ended_at: float | None


@dataclass(frozen=True, slots=True)
class ProvArtifact:
    """One artifact the run read, made, reused or logged."""

    id: str
    name: str
    digest: str
    kind: str
    format: str
    size: int
    run_id: str | None
    created_at: float


@dataclass(frozen=True, slots=True)
class ProvEdge:
    """An edge of the run's graph: ``output`` false when the task read the artifact."""

    artifact: str
    task: str
    name: str
    output: bool
    cached: bool


@dataclass(frozen=True, slots=True)
class RunProvenance:
    """Everything a run's provenance document is built from.

    Attributes:
        run: The run.
        pipeline: Its pipeline side; ``None`` for a tracked script.
        tasks: Its tasks, by id.
        artifacts: The artifacts its tasks read or wrote and those it logged, by id.
        edges: Its graph's edges.
        producers: For each of those artifacts that a task produced, that task.
    """

    run: ProvRun
    pipeline: ProvPipeline | None
    tasks: tuple[ProvTask, ...]
    artifacts: tuple[ProvArtifact, ...]
    edges: tuple[ProvEdge, ...]
    producers: dict[str, str]


class LineageStore(Protocol):
    """Reading lineage: walks, the facts behind reproducibility statuses, run provenance.

    References (``ref``) are what users type: an artifact id, unique id prefix, name (the newest
    of that name) or digest; a run id or unique prefix.

    Every read takes ``projects`` (project ids; ``None``: every project), as a server keeps each
    user to the projects they read: an artifact or run of another project is not found, exactly
    as if it did not exist, and nodes of other projects are left out of what is answered.
    """

    def walk(
        self,
        ref: str,
        direction: Direction,
        depth: int | None = None,
        *,
        projects: Collection[str] | None = None,
    ) -> LineageGraph:
        """Ancestors (``up``) or descendants (``down``) of artifact ``ref``, or the graph of run
        ``ref`` (``run``: its tasks, what they read and wrote, and what it logged).

        With ``projects``, the walk still goes through nodes of other projects, but leaves them
        (and their edges) out of the graph: a node beyond one may appear with no edge to it.

        Raises:
            NotFoundError: Nothing matches ``ref``.
            AmbiguousReferenceError: An id prefix matches several.
        """
        ...

    def artifact_id(self, ref: str, *, projects: Collection[str] | None = None) -> str:
        """The id of the artifact ``ref`` names.

        Raises:
            NotFoundError: No artifact matches.
        """
        ...

    def repro_facts(
        self,
        artifact_ids: Sequence[str],
        task_ids: Sequence[str],
        *,
        projects: Collection[str] | None = None,
    ) -> ReproFacts:
        """The facts behind these nodes' statuses (see ``ReproFacts``); unknown ids are left out,
        and so (with ``projects``) are nodes of other projects, asked for or above them: a status
        is then judged from what the reader can read."""
        ...

    def provenance(self, run_ref: str, *, projects: Collection[str] | None = None) -> RunProvenance:
        """What run ``run_ref``'s provenance document is built from (with ``projects``, without
        the artifacts of other projects it read).

        Raises:
            NotFoundError: No run matches.
        """
        ...
