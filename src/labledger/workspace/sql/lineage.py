"""The SQL lineage store: walks, reproducibility facts and run provenance from the catalog.

Every read runs on one connection whose transaction tells PostgreSQL to follow the indexes.
PostgreSQL plans a recursive query once, from a guess at its size; for a set of seed ids the guess
is large, and it then hash-joins every level against a whole edge table, rebuilding the hash each
time: minutes for a chain a thousand steps deep, where index lookups take milliseconds. Lineage
only ever follows a few edges per node, so for its own transaction it turns hash and merge joins
(and JIT compilation, which such guesses also trigger) off. SQLite needs nothing.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import operator
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, true, union

from labledger._foundation.errors import NotFoundError
from labledger.stores.lineage import (
    ArtifactFacts,
    LineageEdge,
    LineageGraph,
    LineageNode,
    ProvArtifact,
    ProvEdge,
    ProvPipeline,
    ProvRun,
    ProvTask,
    ReproFacts,
    RunProvenance,
    TaskFacts,
)
from labledger.workspace import schema
from labledger.workspace.lookup import find_artifact, find_by_id
from labledger.workspace.sql.idsets import id_set
from labledger.workspace.sql.lineage_walks import closure_up, run_walk, walk

if TYPE_CHECKING:
    from collections.abc import Collection, Iterable, Iterator, Sequence

    from sqlalchemy import ColumnElement, Connection

    from labledger.stores.lineage import Direction
    from labledger.workspace.sql.lineage_walks import Walk
    from labledger.workspace.workspace import Workspace

__all__ = ["SqlLineageStore"]

_a, _t, _i, _o = schema.artifacts, schema.tasks, schema.task_inputs, schema.task_outputs
_r, _p, _v = schema.runs, schema.pipeline_runs, schema.verifications
_first = operator.itemgetter(0)  # sorting rows by id; rows compare slowly as a whole
_POSTGRES_SETTINGS = (
    "SET LOCAL enable_hashjoin = off",
    "SET LOCAL enable_mergejoin = off",
    "SET LOCAL jit = off",
)


class SqlLineageStore:
    """``LineageStore`` over a workspace's catalog."""

    def __init__(self, workspace: Workspace) -> None:
        self._workspace = workspace

    @contextlib.contextmanager
    def _reader(self) -> Iterator[Connection]:
        with self._workspace.read() as conn:
            if conn.dialect.name == "postgresql":
                for statement in _POSTGRES_SETTINGS:
                    conn.exec_driver_sql(statement)
            yield conn

    def walk(
        self,
        ref: str,
        direction: Direction,
        depth: int | None = None,
        *,
        projects: Collection[str] | None = None,
    ) -> LineageGraph:
        with self._reader() as conn:
            if direction == "run":
                run = _run_id(conn, ref, projects)
                logged = conn.execute(select(_a.c.id).where(_a.c.run_id == run)).scalars().all()
                return _read_graph(conn, run_walk(run), run, "run", None, logged, projects)
            root = str(find_artifact(conn, ref, projects=projects).id)
            steps = walk(direction, root, depth)
            return _read_graph(conn, steps, root, direction, depth, [root], projects)

    def artifact_id(self, ref: str, *, projects: Collection[str] | None = None) -> str:
        with self._workspace.read() as conn:
            return str(find_artifact(conn, ref, projects=projects).id)

    def repro_facts(
        self,
        artifact_ids: Sequence[str],
        task_ids: Sequence[str],
        *,
        projects: Collection[str] | None = None,
    ) -> ReproFacts:
        with self._reader() as conn:
            facts = _read_facts(conn, artifact_ids, task_ids)
            return facts if projects is None else _readable_facts(conn, facts, projects)

    def provenance(self, run_ref: str, *, projects: Collection[str] | None = None) -> RunProvenance:
        with self._reader() as conn:
            found = _read_provenance(conn, _run_id(conn, run_ref, projects))
            return found if projects is None else _readable_provenance(conn, found, projects)


def _of_projects(projects: Collection[str]) -> ColumnElement[bool]:
    return _r.c.project_id.in_(sorted(set(projects)))


def _run_id(conn: Connection, ref: str, projects: Collection[str] | None = None) -> str:
    among = None if projects is None else sorted(set(projects))
    row = find_by_id(conn, _r, ref, what="run", among=among)
    if row is None:
        raise NotFoundError(f"no run with id {ref!r}", hint="list runs with `labledger runs list`")
    return str(row.id)


def _read_graph(
    conn: Connection,
    steps: Walk,
    root: str,
    direction: Direction,
    depth: int | None,
    loose: Iterable[str],
    projects: Collection[str] | None = None,
) -> LineageGraph:
    """Assemble the graph a walk describes: its edges, then the details of their ends by id.

    ``loose`` are artifact ids that belong in the graph even without an edge (the root, or the
    artifacts a run logged outside its tasks). With ``projects``, only artifacts of those
    projects and tasks of their runs are nodes, and only edges between two nodes are kept.
    """
    found: list[tuple[str, str, str, bool]] = []
    artifact_ids, task_ids = set(loose), set()
    # Plain tuples: attribute access on rows costs more than the query on large graphs.
    for artifact, task, name, output, cached in conn.execute(steps.edges).all():
        artifact_ids.add(artifact)
        task_ids.add(task)
        found.append(
            (task, artifact, name, bool(cached)) if output else (artifact, task, name, False)
        )
    found.sort()
    artifact_query = select(_a.c.id, _a.c.name, _a.c.run_id, _a.c.digest, _a.c.format).where(
        _a.c.id.in_(id_set(conn, artifact_ids))
    )
    task_query = select(
        _t.c.id, _t.c.node, _t.c.run_id, _t.c.step, _t.c.status, _t.c.cache_key
    ).where(_t.c.id.in_(id_set(conn, task_ids)))
    if projects is not None:
        artifact_query = artifact_query.where(_a.c.project_id.in_(sorted(set(projects))))
        task_query = task_query.where(
            _t.c.run_id.in_(select(_r.c.id).where(_of_projects(projects)))
        )
    artifacts = conn.execute(artifact_query).all()
    tasks = conn.execute(task_query).all()
    if projects is not None:
        kept = {row[0] for row in artifacts} | {row[0] for row in tasks}
        found = [edge for edge in found if edge[0] in kept and edge[1] in kept]
    nodes = [
        LineageNode(a_id, "artifact", name, run_id, digest, fmt)
        for a_id, name, run_id, digest, fmt in sorted(artifacts, key=_first)
    ]
    nodes += [
        LineageNode(t_id, "task", node, run_id, step=step, status=status, cache_key=key)
        for t_id, node, run_id, step, status, key in sorted(tasks, key=_first)
    ]
    return LineageGraph(
        root, direction, depth, tuple(nodes), tuple(LineageEdge(*edge) for edge in found)
    )


def _read_facts(
    conn: Connection, artifact_ids: Sequence[str], task_ids: Sequence[str]
) -> ReproFacts:
    """Every artifact above these nodes with its producer, then their rows and the tasks' flags,
    in three statements whatever the graph's size."""
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
        artifact_id: ArtifactFacts(
            artifact_id, name, digest, kind, producers[artifact_id], bool(checked)
        )
        for artifact_id, name, digest, kind, checked in conn.execute(
            select(_a.c.id, _a.c.name, _a.c.digest, _a.c.kind, verified).where(
                _a.c.id.in_(id_set(conn, producers))
            )
        ).all()
    }
    wanted = {p for p in producers.values() if p is not None} | set(task_ids)
    rows = conn.execute(
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
    first: dict[str, Any] = {}
    inputs: dict[str, list[str]] = {}
    for row in rows:
        first.setdefault(row.id, row)
        bucket = inputs.setdefault(row.id, [])
        if row.artifact_id is not None:
            bucket.append(row.artifact_id)
    tasks = {
        task_id: TaskFacts(
            id=task_id,
            node=row.node,
            run_id=row.run_id,
            code_captured=bool(row.code_captured),
            deterministic=_deterministic(row.options_json),
            pipeline_run=row.pipeline_run is not None,
            has_code_snapshot=row.code_digest is not None,
            has_lock=row.lock_digest is not None,
            replay_error=row.replay_error or None,
            inputs=tuple(inputs[task_id]),
        )
        for task_id, row in first.items()
    }
    return ReproFacts(artifacts, tasks)


def _readable_artifacts(
    conn: Connection, artifact_ids: Iterable[str], projects: Collection[str]
) -> set[str]:
    """Those of ``artifact_ids`` that belong to ``projects``."""
    return set(
        conn.execute(
            select(_a.c.id).where(
                _a.c.id.in_(id_set(conn, set(artifact_ids))),
                _a.c.project_id.in_(sorted(set(projects))),
            )
        ).scalars()
    )


def _readable_tasks(
    conn: Connection, task_ids: Iterable[str], projects: Collection[str]
) -> set[str]:
    """Those of ``task_ids`` whose run belongs to ``projects``."""
    return set(
        conn.execute(
            select(_t.c.id).where(
                _t.c.id.in_(id_set(conn, set(task_ids))),
                _t.c.run_id.in_(select(_r.c.id).where(_of_projects(projects))),
            )
        ).scalars()
    )


def _readable_facts(conn: Connection, facts: ReproFacts, projects: Collection[str]) -> ReproFacts:
    """The facts of nodes of ``projects`` only: a status is judged from what its reader reads."""
    artifacts = _readable_artifacts(conn, facts.artifacts, projects)
    tasks = _readable_tasks(conn, facts.tasks, projects)
    return ReproFacts(
        {key: fact for key, fact in facts.artifacts.items() if key in artifacts},
        {key: fact for key, fact in facts.tasks.items() if key in tasks},
    )


def _readable_provenance(
    conn: Connection, found: RunProvenance, projects: Collection[str]
) -> RunProvenance:
    """A run's provenance without the artifacts of other projects (its tasks are its run's)."""
    artifacts = _readable_artifacts(conn, (a.id for a in found.artifacts), projects)
    return dataclasses.replace(
        found,
        artifacts=tuple(a for a in found.artifacts if a.id in artifacts),
        edges=tuple(e for e in found.edges if e.artifact in artifacts),
        producers={key: task for key, task in found.producers.items() if key in artifacts},
    )


def _deterministic(options_json: str | None) -> bool:
    try:
        options = json.loads(options_json or "{}")
    except ValueError:
        return False
    return not isinstance(options, dict) or options.get("deterministic", True) is not False


def _read_provenance(conn: Connection, run_id: str) -> RunProvenance:
    run = conn.execute(select(_r).where(_r.c.id == run_id)).one()
    pipeline = conn.execute(select(_p).where(_p.c.run_id == run_id)).first()
    steps = run_walk(run_id)
    tasks = conn.execute(select(_t).where(_t.c.id.in_(steps.task_ids)).order_by(_t.c.id)).all()
    artifacts = conn.execute(
        select(_a).where(_a.c.id.in_(steps.artifact_ids)).order_by(_a.c.id)
    ).all()
    edges = conn.execute(steps.edges).all()
    producers = dict(
        conn.execute(
            select(_o.c.artifact_id, _o.c.task_id).where(
                _o.c.artifact_id.in_(steps.artifact_ids), _o.c.produced == true()
            )
        ).all()
    )
    return RunProvenance(
        run=ProvRun(
            run.id, run.name, run.status, run.user, run.started_at, run.ended_at, run.git_commit
        ),
        pipeline=(
            ProvPipeline(
                pipeline.pipeline,
                pipeline.code_digest,
                pipeline.lock_digest,
                pipeline.seed,
                pipeline.reproduces,
            )
            if pipeline is not None
            else None
        ),
        tasks=tuple(
            ProvTask(
                t.id,
                t.node,
                t.step,
                t.status,
                t.fingerprint,
                t.cache_key,
                bool(t.code_captured),
                t.options_json,
                t.cached_from,
                t.started_at,
                t.ended_at,
            )
            for t in tasks
        ),
        artifacts=tuple(
            ProvArtifact(a.id, a.name, a.digest, a.kind, a.format, a.size, a.run_id, a.created_at)
            for a in artifacts
        ),
        edges=tuple(
            ProvEdge(e.artifact, e.task, e.name, bool(e.output), bool(e.cached)) for e in edges
        ),
        producers={str(k): str(v) for k, v in producers.items()},
    )
