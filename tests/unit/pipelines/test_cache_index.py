"""The cache index: every entry of a run's steps fetched at once, by step fingerprint, and keys
judged from it as the run learns them, with the same answers a lookup per key gives."""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlalchemy as sa

from labledger.pipelines.cache import CacheReader
from labledger.workspace import schema
from tests.unit.pipelines import sample_pipelines as sp
from tests.unit.pipelines.test_task_store import clocked

if TYPE_CHECKING:
    from labledger.pipelines.types import PipelineRun
    from labledger.workspace.workspace import Workspace


def _fingerprints(workspace: Workspace, run: PipelineRun) -> dict[str, str]:
    """Cache key -> step fingerprint of each task of ``run``."""
    rows = workspace.stores.tasks.run_tasks(run.run_id)
    return {row.cache_key: row.fingerprint for row in rows}


def test_the_index_holds_what_lookups_of_each_key_find(workspace: Workspace) -> None:
    sp.arithmetic.run(workspace=workspace, cache=False)
    second = sp.arithmetic.run(workspace=workspace, cache=False)
    other = sp.arithmetic.run(workspace=workspace, n=7)  # other keys of the same steps
    keys = _fingerprints(workspace, second) | _fingerprints(workspace, other)
    store = workspace.stores.tasks
    index = store.cache_index([*set(keys.values()), "blake3:" + "0" * 64])
    assert index.truncated == ()
    assert index.found == store.find_cached(list(keys))
    assert all(len(index.found[key]) == 2 for key in _fingerprints(workspace, second))


def test_a_fingerprint_with_more_entries_than_the_limit_is_truncated(
    workspace: Workspace,
) -> None:
    first = clocked.run(workspace=workspace, cache=False)
    clocked.run(workspace=workspace, cache=False)
    numbers = sp.arithmetic.run(workspace=workspace)
    (fingerprint,) = set(_fingerprints(workspace, first).values())
    other = set(_fingerprints(workspace, numbers).values())
    index = workspace.stores.tasks.cache_index([fingerprint, *other], limit=1)
    assert fingerprint in index.truncated
    assert first.tasks["now"].cache_key not in index.found
    # A step with one row (one task, one output) fits the limit; the others are truncated.
    keys = _fingerprints(workspace, numbers)
    fitting = {key for key, fp in keys.items() if fp not in index.truncated}
    assert fitting and set(index.found) == fitting
    assert workspace.stores.tasks.cache_index([fingerprint], limit=2).truncated == ()


def test_the_index_follows_the_lookup_rules_for_unsealed_runs(workspace: Workspace) -> None:
    first = sp.arithmetic.run(workspace=workspace, cache=False)
    second = sp.arithmetic.run(workspace=workspace, cache=False)
    with workspace.write() as conn:
        conn.execute(
            sa.update(schema.runs)
            .where(schema.runs.c.id == second.run_id)
            .values(record_digest=None)
        )
    fingerprints = set(_fingerprints(workspace, first).values())
    key = first.tasks["numbers"].cache_key
    store = workspace.stores.tasks
    assert [t.run_id for t in store.cache_index(fingerprints).found[key]] == [first.run_id]
    mine = store.cache_index(fingerprints, run_id=second.run_id).found[key]
    assert [t.run_id for t in mine] == [second.run_id, first.run_id]
    assert mine == store.find_cached([key], run_id=second.run_id)[key]


def test_projects_limit_the_runs_that_answer(workspace: Workspace) -> None:
    run = sp.arithmetic.run(workspace=workspace)
    fingerprints = set(_fingerprints(workspace, run).values())
    store = workspace.stores.tasks
    everyone = store.cache_index(fingerprints)
    assert store.cache_index(fingerprints, projects=[workspace.project_id()]) == everyone
    assert store.cache_index(fingerprints, projects=["no-such-project"]).found == {}


def test_a_hit_found_through_the_index_equals_the_hit_a_lookup_finds(
    workspace: Workspace,
) -> None:
    older = clocked.run(workspace=workspace, cache=False).tasks["now"]
    newer = clocked.run(workspace=workspace, cache=False).tasks["now"]
    run = sp.arithmetic.run(workspace=workspace)
    # The newest result of one key lost its bytes: both ways fall back to the older one.
    workspace.store.delete(newer.digests["out"])
    keys = _fingerprints(workspace, run)
    keys[newer.cache_key] = workspace.stores.tasks.get_tasks([newer.task_id])[
        newer.task_id
    ].fingerprint
    outputs = {outcome.cache_key: tuple(outcome.outputs) for outcome in run.tasks.values()}
    wanted = {key: (outputs.get(key, ("out",)), None) for key in keys}
    with CacheReader(workspace, "another-run") as looked_up:
        by_lookup = looked_up.find(wanted)
    with CacheReader(workspace, "another-run") as primed:
        primed.prime(set(keys.values()))
        by_index = {}
        for key, want in wanted.items():  # one key at a time, as a chain learns them
            by_index.update(primed.find({key: want}, fingerprints=keys))
    assert by_index == by_lookup
    assert set(by_index) == set(keys)
    assert by_index[newer.cache_key].task_id == older.task_id


def test_a_primed_reader_asks_the_store_nothing_more(workspace: Workspace) -> None:
    run = sp.arithmetic.run(workspace=workspace)
    keys = _fingerprints(workspace, run)
    with CacheReader(workspace, "another-run") as reader:
        reader.prime(set(keys.values()))
        store = reader._tasks

        def refuse(*_: object, **__: object) -> None:
            raise AssertionError("looked up a key the index holds")

        store.find_cached = refuse  # type: ignore[method-assign]
        for key in keys:
            assert reader.find(
                {key: (tuple(run.tasks[_node(run, key)].outputs), None)}, fingerprints=keys
            )
        # A key of a step the index does not hold is looked up.
        store.find_cached = lambda *a, **k: {}  # type: ignore[method-assign]
        assert reader.find({"other": (("out",), None)}, fingerprints={"other": "fp"}) == {}


def _node(run: PipelineRun, key: str) -> str:
    return next(node for node, outcome in run.tasks.items() if outcome.cache_key == key)
