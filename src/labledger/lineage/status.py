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

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, true, union

from labledger.lineage.idsets import id_set
from labledger.lineage.reading import lineage_reader
from labledger.lineage.traversal import closure_up
from labledger.lineage.types import ReproStatus
from labledger.workspace import schema
from labledger.workspace.current import get_workspace
from labledger.workspace.lookup import find_artifact
from labledger.workspace.presence import missing_digests

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from labledger.lineage.types import LineageGraph
    from labledger.workspace.workspace import Workspace

__all__ = ["StatusExplanation", "explain_status", "graph_reproducibility", "reproducibility"]

_a, _t, _i, _o = schema.artifacts, schema.tasks, schema.task_inputs, schema.task_outputs
_p, _v = schema.pipeline_runs, schema.verifications


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


@dataclass(slots=True)
class _ArtifactFacts:
    digest: str
    is_tree: bool
    producer: str | None
    verified: bool
    reference: bool = False  # a file input recorded by path and digest, its bytes not kept
    name: str = ""


@dataclass(slots=True)
class _TaskFacts:
    reasons: list[str]  # why the task alone makes its outputs unverifiable (none: it does not)
    inputs: list[str] = field(default_factory=list)

    @property
    def suspect(self) -> bool:
        return bool(self.reasons)


@dataclass(slots=True)
class _Facts:
    artifacts: dict[str, _ArtifactFacts]
    tasks: dict[str, _TaskFacts]


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
    with lineage_reader(ws) as conn:
        root = str(find_artifact(conn, artifact_ref).id)
        facts = _read_facts(conn, [root], [])
    status = _judge(facts, ws)[root]
    reasons: dict[str, None] = {}
    # The facts hold the artifact's ancestors only, so each of their flaws is one of its reasons.
    if status is ReproStatus.BROKEN:
        missing = missing_digests(
            ws.store, ((f.digest, f.is_tree) for f in facts.artifacts.values())
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
            for reason in task.reasons if task is not None else []:
                reasons[reason] = None
            if fact.reference:
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
    with lineage_reader(ws) as conn:
        facts = _read_facts(conn, artifact_ids, task_ids)
    statuses = _judge(facts, ws)
    return {node.id: statuses[node.id] for node in graph.nodes if node.id in statuses}


def _read_facts(conn: Connection, artifact_ids: list[str], task_ids: list[str]) -> _Facts:
    """What decides these nodes' statuses: every artifact above them, and every producing task."""
    seeds = union(
        id_set(conn, artifact_ids, "artifact_ids"),
        select(_i.c.artifact_id).where(_i.c.task_id.in_(id_set(conn, task_ids, "task_ids"))),
    )
    closure = closure_up(seeds)
    producers: dict[str, str | None] = {}
    for artifact_id, producer in conn.execute(select(closure.c.id, closure.c.producer)).all():
        if producers.get(artifact_id) is None:
            producers[artifact_id] = producer
    verified = (
        select(_v.c.artifact_id)
        .where(_v.c.artifact_id == _a.c.id, _v.c.matched == true())
        .exists()
        .label("verified")
    )
    artifacts = {
        artifact_id: _ArtifactFacts(
            digest, kind == "tree", producers[artifact_id], bool(checked), kind == "reference", name
        )
        for artifact_id, name, digest, kind, checked in conn.execute(
            select(_a.c.id, _a.c.name, _a.c.digest, _a.c.kind, verified).where(
                _a.c.id.in_(id_set(conn, producers))
            )
        ).all()
    }
    wanted = {p for p in producers.values() if p is not None} | set(task_ids)
    task_rows = conn.execute(
        select(
            _t.c.id,
            _t.c.node,
            _t.c.run_id,
            _t.c.code_captured,
            _t.c.options_json,
            _p.c.run_id.label("pipeline_run"),
            _p.c.code_digest,
            _p.c.lock_digest,
            _p.c.replay_error,
            _i.c.artifact_id,
        )
        .select_from(
            _t.outerjoin(_p, _p.c.run_id == _t.c.run_id).outerjoin(_i, _i.c.task_id == _t.c.id)
        )
        .where(_t.c.id.in_(id_set(conn, wanted)))
    ).all()
    tasks: dict[str, _TaskFacts] = {}
    for row in task_rows:
        task = tasks.get(row.id)
        if task is None:
            task = tasks[row.id] = _TaskFacts(_task_reasons(row))
        if row.artifact_id is not None:
            task.inputs.append(row.artifact_id)
    return _Facts(artifacts, tasks)


def _task_reasons(row: Any) -> list[str]:
    """Why one task makes what it produced unverifiable, one sentence each."""
    step = f"step {row.node!r} (run {row.run_id})"
    run = f"run {row.run_id}"
    reasons: list[str] = []
    if not row.code_captured:
        reasons.append(f"{step}: its code could not be captured (no source to fingerprint)")
    if not _deterministic(row.options_json):
        reasons.append(f"{step}: declared not deterministic (@step(deterministic=False))")
    if row.pipeline_run is None:
        reasons.append(f"{run}: not a pipeline run, so it has no code snapshot to re-execute")
        return reasons
    if row.code_digest is None:
        reasons.append(f"{run}: ran without a code snapshot")
    if row.lock_digest is None:
        reasons.append(f"{run}: ran without an environment lock")
    if row.replay_error:
        reasons.append(f"{run}: cannot be re-executed: {row.replay_error}")
    return reasons


def _deterministic(options_json: str | None) -> bool:
    try:
        options = json.loads(options_json or "{}")
    except ValueError:
        return False
    return not isinstance(options, dict) or options.get("deterministic", True) is not False


def _inputs_first(facts: _Facts) -> list[str]:
    """Artifact ids, each after every artifact its producer read (iteratively: chains run deep)."""
    order: list[str] = []
    seen: set[str] = set()

    def inputs_of(artifact_id: str) -> list[str]:
        producer = facts.artifacts[artifact_id].producer
        task = facts.tasks.get(producer) if producer is not None else None
        return task.inputs if task is not None else []

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


def _judge(facts: _Facts, workspace: Workspace) -> dict[str, ReproStatus]:
    """Every artifact's and task's status, from the facts and the store."""
    missing = missing_digests(
        workspace.store, ((f.digest, f.is_tree) for f in facts.artifacts.values())
    )
    broken: dict[str, bool] = {}
    shaky: dict[str, bool] = {}

    def task_state(task: _TaskFacts) -> tuple[bool, bool]:
        return (
            any(broken.get(i, False) for i in task.inputs),
            task.suspect or any(shaky.get(i, False) for i in task.inputs),
        )

    statuses: dict[str, ReproStatus] = {}
    for artifact_id in _inputs_first(facts):
        fact = facts.artifacts[artifact_id]
        task = facts.tasks.get(fact.producer) if fact.producer is not None else None
        task_broken, task_shaky = task_state(task) if task is not None else (False, False)
        broken[artifact_id] = fact.digest in missing or task_broken
        shaky[artifact_id] = task_shaky or fact.reference
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
