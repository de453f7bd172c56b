"""The recursive SQL behind lineage: which artifacts and tasks lie above or below an artifact.

A walk is a recursive common table expression over artifact ids, the same on SQLite and
PostgreSQL. One level costs two index lookups: upward, artifact -> its producing task
(``task_outputs(artifact_id, produced)``) -> that task's inputs (``task_inputs`` primary key);
downward, artifact -> every task that read it (``task_inputs(artifact_id)``) -> their outputs
(``task_outputs`` primary key). Upward walks follow only the task that produced an artifact, so
the cached tasks that later reused it never appear as second producers.

Without a depth limit the expression carries a constant depth, so ``UNION`` keeps each artifact
once however many paths lead to it (and a malformed cycle cannot loop); with a limit it carries
the real depth and stops there.

The statements return ids only; callers fetch the details of what was found by id (see
``idsets``), which keeps every plan to index lookups whatever a planner guesses about the size of
a recursive result."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, false, literal_column, select, true, union

from labledger.workspace import schema

if TYPE_CHECKING:
    from sqlalchemy import CTE, ColumnElement, CompoundSelect, Select

    from labledger.stores.lineage import Direction

__all__ = ["Walk", "closure_up", "run_walk", "walk", "walk_down", "walk_up"]

_a, _t, _i, _o = schema.artifacts, schema.tasks, schema.task_inputs, schema.task_outputs


@dataclass(frozen=True, slots=True)
class Walk:
    """The statements of one walk, each a subquery to embed in a larger query.

    Attributes:
        artifact_ids: One column ``id``: every artifact reached.
        task_ids: One column: every task passed through.
        edges: The edges between them: columns ``artifact``, ``task``, ``name``, ``output``
            (false: the task read the artifact; true: the task output it) and ``cached`` (the
            output of a cached task, which reused the artifact).
    """

    artifact_ids: Select[Any] | CompoundSelect[Any]
    task_ids: Select[Any]
    edges: CompoundSelect[Any]


def _start(root_id: str, name: str) -> CTE:
    # Selected from the table (not a bound literal) so PostgreSQL types both halves alike.
    return (
        select(_a.c.id.label("id"), literal_column("0").label("depth"))
        .where(_a.c.id == root_id)
        .cte(name, recursive=True)
    )


def _below(cte: CTE, depth: int | None) -> ColumnElement[bool]:
    """Rows of ``cte`` that may still be expanded under the depth limit."""
    return cte.c.depth < depth if depth is not None else true()


def _next_depth(cte: CTE, depth: int | None) -> ColumnElement[int]:
    return cte.c.depth + 1 if depth is not None else literal_column("0")


def _produced_by(cte: CTE) -> ColumnElement[bool]:
    return and_(_o.c.artifact_id == cte.c.id, _o.c.produced == true())


def _edge(source: Any, output: bool, cached: ColumnElement[bool] | None = None) -> Select[Any]:
    """Columns ``artifact``, ``task``, ``name``, ``output``, ``cached`` of an edge table row."""
    return select(
        source.c.artifact_id.label("artifact"),
        source.c.task_id.label("task"),
        source.c.name.label("name"),
        (true() if output else false()).label("output"),
        (cached if cached is not None else false()).label("cached"),
    )


def walk_up(root_id: str, depth: int | None) -> Walk:
    """Ancestors of ``root_id``: producing tasks and what they read, ``depth`` steps at most."""
    start = _start(root_id, "lineage_up")
    level = start.alias("up_level")
    found = start.union(
        select(_i.c.artifact_id, _next_depth(level, depth))
        .select_from(level.join(_o, _produced_by(level)).join(_i, _i.c.task_id == _o.c.task_id))
        .where(_below(level, depth))
    )
    made = found.join(_o, _produced_by(found))
    tasks = select(_o.c.task_id).select_from(made).where(_below(found, depth))
    # IN, not a join: SQLite, with no statistics, would scan task_outputs to join it.
    inputs = _edge(_i, output=False).where(_i.c.task_id.in_(tasks))
    outputs = _edge(_o, output=True).select_from(made).where(_below(found, depth))
    return Walk(select(found.c.id), tasks, union(inputs, outputs))


def walk_down(root_id: str, depth: int | None) -> Walk:
    """Descendants of ``root_id``: every task that read it and what they output, recursively."""
    start = _start(root_id, "lineage_down")
    level = start.alias("down_level")
    found = start.union(
        select(_o.c.artifact_id, _next_depth(level, depth))
        .select_from(
            level.join(_i, _i.c.artifact_id == level.c.id).join(_o, _o.c.task_id == _i.c.task_id)
        )
        .where(_below(level, depth))
    )
    read = found.join(_i, _i.c.artifact_id == found.c.id)
    tasks = select(_i.c.task_id).select_from(read).where(_below(found, depth))
    inputs = _edge(_i, output=False).select_from(read).where(_below(found, depth))
    outputs = (
        _edge(_o, output=True, cached=_o.c.produced == false())
        .select_from(read.join(_o, _o.c.task_id == _i.c.task_id))
        .where(_below(found, depth))
    )
    return Walk(select(found.c.id), tasks, union(inputs, outputs))


def run_walk(run_id: str) -> Walk:
    """One run: its tasks, what they read and wrote, and the artifacts the run logged."""
    tasks = select(_t.c.id).where(_t.c.run_id == run_id)
    inputs = (
        _edge(_i, output=False)
        .select_from(_t.join(_i, _i.c.task_id == _t.c.id))
        .where(_t.c.run_id == run_id)
    )
    outputs = (
        _edge(_o, output=True, cached=_o.c.produced == false())
        .select_from(_t.join(_o, _o.c.task_id == _t.c.id))
        .where(_t.c.run_id == run_id)
    )
    artifacts = union(
        select(_i.c.artifact_id.label("id")).where(_i.c.task_id.in_(tasks)),
        select(_o.c.artifact_id).where(_o.c.task_id.in_(tasks)),
        select(_a.c.id).where(_a.c.run_id == run_id),
    )
    return Walk(artifacts, tasks, union(inputs, outputs))


def walk(direction: Direction, root: str, depth: int | None) -> Walk:
    """The walk a graph of this direction, root and depth was read with."""
    if direction == "up":
        return walk_up(root, depth)
    if direction == "down":
        return walk_down(root, depth)
    return run_walk(root)


def closure_up(seeds: Select[Any] | CompoundSelect[Any]) -> CTE:
    """The artifacts of ``seeds`` (one column) and all their ancestors, each with its producer.

    Columns ``id`` and ``producer`` (the task that produced it; ``NULL`` for a source). Both
    depend on the artifact alone, so ``UNION`` expands each artifact once.
    """
    seed = seeds.subquery("seeds")
    made = _o.alias("seed_made")
    start = (
        select(seed.c[0].label("id"), made.c.task_id.label("producer"))
        .select_from(
            seed.outerjoin(made, and_(made.c.artifact_id == seed.c[0], made.c.produced == true()))
        )
        .cte("lineage_closure", recursive=True)
    )
    level = start.alias("closure_level")
    made = _o.alias("input_made")
    return start.union(
        select(_i.c.artifact_id, made.c.task_id).select_from(
            level.join(_i, _i.c.task_id == level.c.producer).outerjoin(
                made, and_(made.c.artifact_id == _i.c.artifact_id, made.c.produced == true())
            )
        )
    )
