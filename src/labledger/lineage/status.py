"""Reproducibility status of artifacts (and tasks), computed from their lineage.

For an artifact, in this order:

- ``broken``: its blob, or the blob of any ancestor artifact, is missing from the store (for a
  tree: the manifest or any entry);
- ``verified``: a ``reproduce`` run re-executed its producing step and got the same digest;
- ``unverifiable``: some ancestor task (its producer included) had its code uncaptured, is
  declared not deterministic, or belongs to a run with no code snapshot or no environment lock;
  or an ancestor is a file input recorded only by reference (``File(path, store=False)``), whose
  bytes the workspace does not keep;
- ``reproducible``: otherwise. Artifacts that no task produced (logged sources) are immutable
  inputs: present, they are reproducible.

A task is ``broken`` or ``unverifiable`` when one of its inputs is, or (unverifiable) when the task
itself is; otherwise ``reproducible``. Verification applies to artifacts only.

The facts are read in three statements (the upward closure of every node with each artifact's
producer, then the artifacts' digests and the tasks' flags by id), then each status is derived
once, inputs before outputs, so a whole graph costs no more than its closure.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

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

__all__ = ["graph_reproducibility", "reproducibility"]

_a, _t, _i, _o = schema.artifacts, schema.tasks, schema.task_inputs, schema.task_outputs
_p, _v = schema.pipeline_runs, schema.verifications


@dataclass(slots=True)
class _ArtifactFacts:
    digest: str
    is_tree: bool
    producer: str | None
    verified: bool
    reference: bool = False  # a file input recorded by path and digest, its bytes not kept


@dataclass(slots=True)
class _TaskFacts:
    suspect: bool  # the task alone makes its outputs unverifiable
    inputs: list[str] = field(default_factory=list)


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
    ws = workspace or get_workspace()
    with lineage_reader(ws) as conn:
        root = str(find_artifact(conn, artifact_ref).id)
        facts = _read_facts(conn, [root], [])
    return _judge(facts, ws)[root]


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
            digest, kind == "tree", producers[artifact_id], bool(checked), kind == "reference"
        )
        for artifact_id, digest, kind, checked in conn.execute(
            select(_a.c.id, _a.c.digest, _a.c.kind, verified).where(
                _a.c.id.in_(id_set(conn, producers))
            )
        ).all()
    }
    wanted = {p for p in producers.values() if p is not None} | set(task_ids)
    task_rows = conn.execute(
        select(
            _t.c.id,
            _t.c.code_captured,
            _t.c.options_json,
            _p.c.run_id,
            _p.c.code_digest,
            _p.c.lock_digest,
            _i.c.artifact_id,
        )
        .select_from(
            _t.outerjoin(_p, _p.c.run_id == _t.c.run_id).outerjoin(_i, _i.c.task_id == _t.c.id)
        )
        .where(_t.c.id.in_(id_set(conn, wanted)))
    ).all()
    tasks: dict[str, _TaskFacts] = {}
    for task_id, captured, options, pipeline_run, code, lock, input_id in task_rows:
        task = tasks.get(task_id)
        if task is None:
            suspect = (
                not captured
                or not _deterministic(options)
                or pipeline_run is None
                or code is None
                or lock is None
            )
            task = tasks[task_id] = _TaskFacts(suspect)
        if input_id is not None:
            task.inputs.append(input_id)
    return _Facts(artifacts, tasks)


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
