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
    from collections.abc import Iterable, Iterator, Sequence

    from sqlalchemy import Connection

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

    def walk(self, ref: str, direction: Direction, depth: int | None = None) -> LineageGraph:
        with self._reader() as conn:
            if direction == "run":
                run = _run_id(conn, ref)
                logged = conn.execute(select(_a.c.id).where(_a.c.run_id == run)).scalars().all()
                return _read_graph(conn, run_walk(run), run, "run", None, logged)
            root = str(find_artifact(conn, ref).id)
            return _read_graph(conn, walk(direction, root, depth), root, direction, depth, [root])

    def artifact_id(self, ref: str) -> str:
        with self._workspace.read() as conn:
            return str(find_artifact(conn, ref).id)

    def repro_facts(self, artifact_ids: Sequence[str], task_ids: Sequence[str]) -> ReproFacts:
        with self._reader() as conn:
            return _read_facts(conn, artifact_ids, task_ids)

    def provenance(self, run_ref: str) -> RunProvenance:
        with self._reader() as conn:
            return _read_provenance(conn, _run_id(conn, run_ref))


def _run_id(conn: Connection, ref: str) -> str:
    row = find_by_id(conn, _r, ref, what="run")
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
) -> LineageGraph:
    """Assemble the graph a walk describes: its edges, then the details of their ends by id.

    ``loose`` are artifact ids that belong in the graph even without an edge (the root, or the
    artifacts a run logged outside its tasks).
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
    artifacts = conn.execute(
        select(_a.c.id, _a.c.name, _a.c.run_id, _a.c.digest, _a.c.format).where(
            _a.c.id.in_(id_set(conn, artifact_ids))
        )
    ).all()
    tasks = conn.execute(
        select(_t.c.id, _t.c.node, _t.c.run_id, _t.c.step, _t.c.status, _t.c.cache_key).where(
            _t.c.id.in_(id_set(conn, task_ids))
        )
    ).all()
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
