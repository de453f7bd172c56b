"""Reproducibility status of artifacts (and tasks), computed from their lineage.

For an artifact, in this order:

- ``broken``: its blob, or the blob of any ancestor artifact, is missing from the store (for a
  tree: the manifest or any entry);
- ``verified``: a ``reproduce`` run re-executed its producing step and got the same digest;
- ``unverifiable``: some ancestor task (its producer included) had its code uncaptured, is
  declared not deterministic, or belongs to a run with no code snapshot or no environment lock,
  or to one that cannot be re-executed (its pipeline had no source file: ``replay_error``); or an
  ancestor is a file input recorded only by reference (``File(path, store=False)``), whose bytes
  the workspace does not keep;
- ``reproducible``: otherwise. Artifacts that no task produced (logged sources) are immutable
  inputs: present, they are reproducible.

A task is ``broken`` or ``unverifiable`` when one of its inputs is, or (unverifiable) when the task
itself is; otherwise ``reproducible``. Verification applies to artifacts only. ``explain_status``
gives an artifact's status with the reasons for it, read from the same facts.

The facts are read in three statements (the upward closure of every node with each artifact's
producer, then the artifacts' digests and the tasks' flags by id), then each status is derived
once, inputs before outputs, so a whole graph costs no more than its closure.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from labledger.lineage.types import ReproStatus
from labledger.workspace.current import get_workspace
from labledger.workspace.presence import missing_digests

if TYPE_CHECKING:
    from labledger.lineage.types import LineageGraph
    from labledger.stores.lineage import ReproFacts, TaskFacts
    from labledger.workspace.workspace import Workspace

__all__ = ["StatusExplanation", "explain_status", "graph_reproducibility", "reproducibility"]


@dataclass(frozen=True, slots=True)
class StatusExplanation:
    """An artifact's reproducibility status and why it has it.

    Attributes:
        status: The status, as ``reproducibility`` gives it.
        reasons: For ``unverifiable``, each thing above the artifact that makes it so (a step's
            code not captured, a step declared not deterministic, a run without code snapshot
            or environment lock or that cannot be re-executed, an input kept by reference only);
            for ``broken``, each missing blob; for ``verified``, the re-execution that matched;
            empty for ``reproducible``.
    """

    status: ReproStatus
    reasons: tuple[str, ...] = ()


def reproducibility(artifact_ref: str, *, workspace: Workspace | None = None) -> ReproStatus:
    """The reproducibility status of one artifact.

    Args:
        artifact_ref: An artifact id, unique id prefix, name (the newest of that name) or digest.
        workspace: Defaults to the current workspace.

    Raises:
        NotFoundError: No artifact matches ``artifact_ref``.
    """
    return explain_status(artifact_ref, workspace=workspace).status


def explain_status(artifact_ref: str, *, workspace: Workspace | None = None) -> StatusExplanation:
    """The reproducibility status of one artifact, with the reasons for it.

    Args:
        artifact_ref: An artifact id, unique id prefix, name (the newest of that name) or digest.
        workspace: Defaults to the current workspace.

    Raises:
        NotFoundError: No artifact matches ``artifact_ref``.
    """
    ws = workspace or get_workspace()
    store = ws.stores.lineage
    root = store.artifact_id(artifact_ref)
    facts = store.repro_facts([root], [])
    status = _judge(facts, ws)[root]
    reasons: dict[str, None] = {}
    # The facts hold the artifact's ancestors only, so each of their flaws is one of its reasons.
    if status is ReproStatus.BROKEN:
        missing = missing_digests(
            ws.store, ((f.digest, f.kind == "tree") for f in facts.artifacts.values())
        )
        for artifact_id in _inputs_first(facts):
            fact = facts.artifacts[artifact_id]
            if fact.digest in missing:
                reasons[
                    f"artifact {fact.name!r} ({artifact_id}): its blob {fact.digest} is "
                    "missing from the blob store"
                ] = None
    elif status is ReproStatus.VERIFIED:
        reasons["re-executed by `labledger reproduce` with the same digest"] = None
    elif status is ReproStatus.UNVERIFIABLE:
        for artifact_id in _inputs_first(facts):
            fact = facts.artifacts[artifact_id]
            task = facts.tasks.get(fact.producer) if fact.producer is not None else None
            for reason in _task_reasons(task) if task is not None else []:
                reasons[reason] = None
            if fact.kind == "reference":
                reasons[
                    f"input {fact.name!r} was recorded by reference only "
                    "(File(path, store=False)): its bytes are not kept"
                ] = None
    return StatusExplanation(status, tuple(reasons))


def graph_reproducibility(
    graph: LineageGraph, *, workspace: Workspace | None = None
) -> dict[str, ReproStatus]:
    """The status of every node of a lineage graph, computed in one pass.

    The pass covers the graph's nodes and all of their ancestors, which a descendants graph does
    not show but which decide its statuses.

    Args:
        graph: A graph from ``ancestors``, ``descendants`` or ``run_lineage``.
        workspace: The workspace the graph was read from; defaults to the current workspace.

    Returns:
        Node id to status, for every node still in the catalog.
    """
    ws = workspace or get_workspace()
    artifact_ids = [node.id for node in graph.nodes if node.kind == "artifact"]
    task_ids = [node.id for node in graph.nodes if node.kind == "task"]
    facts = ws.stores.lineage.repro_facts(artifact_ids, task_ids)
    statuses = _judge(facts, ws)
    return {node.id: statuses[node.id] for node in graph.nodes if node.id in statuses}


def _task_reasons(task: TaskFacts) -> list[str]:
    """Why one task makes what it produced unverifiable, one sentence each."""
    step = f"step {task.node!r} (run {task.run_id})"
    run = f"run {task.run_id}"
    reasons: list[str] = []
    if not task.code_captured:
        reasons.append(f"{step}: its code could not be captured (no source to fingerprint)")
    if not task.deterministic:
        reasons.append(f"{step}: declared not deterministic (@step(deterministic=False))")
    if not task.pipeline_run:
        reasons.append(f"{run}: not a pipeline run, so it has no code snapshot to re-execute")
        return reasons
    if not task.has_code_snapshot:
        reasons.append(f"{run}: ran without a code snapshot")
    if not task.has_lock:
        reasons.append(f"{run}: ran without an environment lock")
    if task.replay_error:
        reasons.append(f"{run}: cannot be re-executed: {task.replay_error}")
    return reasons


def _inputs_first(facts: ReproFacts) -> list[str]:
    """Artifact ids, each after every artifact its producer read (iteratively: chains run deep)."""
    order: list[str] = []
    seen: set[str] = set()

    def inputs_of(artifact_id: str) -> tuple[str, ...]:
        producer = facts.artifacts[artifact_id].producer
        task = facts.tasks.get(producer) if producer is not None else None
        return task.inputs if task is not None else ()

    for start in facts.artifacts:
        if start in seen:
            continue
        seen.add(start)
        stack = [(start, iter(inputs_of(start)))]
        while stack:
            current, pending = stack[-1]
            for child in pending:
                if child not in seen and child in facts.artifacts:
                    seen.add(child)
                    stack.append((child, iter(inputs_of(child))))
                    break
            else:
                stack.pop()
                order.append(current)
    return order


def _judge(facts: ReproFacts, workspace: Workspace) -> dict[str, ReproStatus]:
    """Every artifact's and task's status, from the facts and the store."""
    missing = missing_digests(
        workspace.store, ((f.digest, f.kind == "tree") for f in facts.artifacts.values())
    )
    broken: dict[str, bool] = {}
    shaky: dict[str, bool] = {}

    suspect = {task_id: bool(_task_reasons(task)) for task_id, task in facts.tasks.items()}

    def task_state(task: TaskFacts) -> tuple[bool, bool]:
        return (
            any(broken.get(i, False) for i in task.inputs),
            suspect[task.id] or any(shaky.get(i, False) for i in task.inputs),
        )

    statuses: dict[str, ReproStatus] = {}
    for artifact_id in _inputs_first(facts):
        fact = facts.artifacts[artifact_id]
        task = facts.tasks.get(fact.producer) if fact.producer is not None else None
        task_broken, task_shaky = task_state(task) if task is not None else (False, False)
        broken[artifact_id] = fact.digest in missing or task_broken
        shaky[artifact_id] = task_shaky or fact.kind == "reference"
        statuses[artifact_id] = _status(broken[artifact_id], fact.verified, shaky[artifact_id])
    for task_id, task in facts.tasks.items():
        task_broken, task_shaky = task_state(task)
        statuses[task_id] = _status(task_broken, False, task_shaky)
    return statuses


def _status(broken: bool, verified: bool, shaky: bool) -> ReproStatus:
    if broken:
        return ReproStatus.BROKEN
    if verified:
        return ReproStatus.VERIFIED
    if shaky:
        return ReproStatus.UNVERIFIABLE
    return ReproStatus.REPRODUCIBLE
