"""Lineage as the stores return it: nodes (artifacts and tasks), edges, graphs, statuses."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

__all__ = ["Direction", "LineageEdge", "LineageGraph", "LineageNode", "NodeKind", "ReproStatus"]

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
