"""The run and artifact stores: cursor pages that stay stable while runs are created, retried
batches that change nothing, and references that name one run or say they are ambiguous."""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING

import pytest
import sqlalchemy as sa

import labledger
from labledger._foundation.errors import (
    AmbiguousReferenceError,
    ConflictError,
    NotFoundError,
    RunStateError,
    ValidationError,
)
from labledger.stores.runs import FinishRun, NewRun, RunQuery
from labledger.tracking.filters import check_filter, parse_order_by
from labledger.tracking.query import get_metric_history, get_run, search_runs
from labledger.workspace import schema
from labledger.workspace.verify import verify_workspace

if TYPE_CHECKING:
    from labledger.stores.pages import Page
    from labledger.stores.runs import Run
    from labledger.workspace.workspace import Workspace


def _runs(workspace: Workspace, aucs: list[float | None]) -> list[str]:
    ids = []
    for i, auc in enumerate(aucs):
        with labledger.start_run(f"r{i}", params={"i": i}, workspace=workspace) as run:
            if auc is not None:
                run.log_metric("auc", auc)
        ids.append(run.id)
    return ids


def _new_run(workspace: Workspace, digit: str, name: str) -> NewRun:
    """A run created by the store itself, as another client would create it."""
    new = NewRun(
        id="0" * 8 + "-0000-7000-8000-" + digit * 12,
        project_id=workspace.project_id(),
        name=name,
        kind="run",
        user=workspace.actor,  # the ledger names its writer as the run's author
        host="elsewhere",
        pid=1,
        started_at=time.time(),
    )
    workspace.stores.runs.create_run(new, params=[("lr", "0.1", 0.1)], tags=[("team", "core")])
    return new


def _all_pages(workspace: Workspace, query: RunQuery, size: int) -> list[str]:
    store, ids, token = workspace.stores.runs, [], None
    while True:
        page: Page[Run] = store.search_runs(query, page_token=token, max_results=size)
        assert len(page.items) <= size
        ids += [run.id for run in page.items]
        token = page.next_token
        if token is None:
            return ids


@pytest.mark.parametrize(
    "order_by",
    [[], ["metrics.auc desc"], ["metrics.auc"], ["params.i desc"], ["name", "started_at desc"]],
)
def test_search_pages_give_every_run_once_in_order(
    workspace: Workspace, order_by: list[str]
) -> None:
    # Infinite values are metric values like any other: a page may end on one.
    _runs(workspace, [0.5, None, 0.7, math.inf, 0.5, None, -math.inf, 0.9, 0.1])
    query = RunQuery(order_by=parse_order_by(order_by))
    whole = [run.id for run in workspace.stores.runs.search_runs(query, max_results=100).items]
    assert len(whole) == 9
    for size in (1, 2, 3):
        assert _all_pages(workspace, query, size) == whole
    assert [run.id for run in search_runs(order_by=order_by, workspace=workspace)] == whole


def test_a_search_cursor_is_stable_while_runs_are_created(workspace: Workspace) -> None:
    ids = _runs(workspace, [0.1, 0.2, 0.3, 0.4])
    store, query = workspace.stores.runs, RunQuery(filter=check_filter("metrics.auc > 0"))
    first = store.search_runs(query, max_results=2)
    assert [run.id for run in first.items] == ids[::-1][:2]
    _runs(workspace, [0.5])  # newer than every run listed: before the cursor
    again = store.search_runs(query, page_token=first.next_token, max_results=2)
    assert [run.id for run in again.items] == ids[::-1][2:]
    # A token resumes the same page each time it is used.
    assert store.search_runs(query, page_token=first.next_token, max_results=2) == again


def test_a_token_that_was_not_given_out_is_refused(workspace: Workspace) -> None:
    store = workspace.stores.runs
    with pytest.raises(ValidationError, match="page token"):
        store.search_runs(RunQuery(), page_token="not-a-token")
    run_id = _runs(workspace, [0.1])[0]
    with pytest.raises(ValidationError, match="page token"):
        store.metric_history(run_id, page_token="bm90IGEgdG9rZW4")
    with pytest.raises(ValidationError, match="max_results"):
        store.search_runs(RunQuery(), max_results=0)


def test_metric_history_pages_follow_key_step_and_seq(workspace: Workspace) -> None:
    with labledger.start_run("history", workspace=workspace) as run:
        for step in range(5):
            run.log_metrics({"loss": 1.0 / (step + 1), "acc": step / 10}, step=step)
        run.log_metric("acc", 0.35, step=3)  # the same step again: after the first, by seq
    store = workspace.stores.runs
    whole = store.metric_history(run.id, max_results=100)
    assert whole.next_token is None
    assert [(p.key, p.step) for p in whole.items][:6] == [
        ("acc", 0), ("acc", 1), ("acc", 2), ("acc", 3), ("acc", 3), ("acc", 4),
    ]  # fmt: skip
    assert [p.value for p in whole.items if p.key == "acc" and p.step == 3] == [0.3, 0.35]
    points, token = [], None
    while True:
        page = store.metric_history(run.id, page_token=token, max_results=4)
        points += page.items
        token = page.next_token
        if token is None:
            break
    assert points == whole.items
    only_loss = store.metric_history(run.id, ["loss"], max_results=2)
    assert [p.key for p in only_loss.items] == ["loss", "loss"]
    assert get_metric_history(run.id, workspace=workspace) == whole.items
    with pytest.raises(NotFoundError):
        store.metric_history("0" * 36)


def test_a_retried_batch_changes_nothing(workspace: Workspace) -> None:
    run = _new_run(workspace, "2", "retried")
    store = workspace.stores.runs
    batch = {
        "metrics": [("loss", 0.5, 0, 1.0, 1), ("loss", 0.4, 1, 2.0, 2)],
        "params": [("lr", "0.1", 0.1), ("seed", "7", 7.0)],
        "tags": [("team", "assay")],
    }
    for _ in range(3):  # its reply was lost twice
        store.log_batch(run.id, **batch, batch_id=f"{run.id}:1-2")  # type: ignore[arg-type]
    assert store.metric_history(run.id).items == get_metric_history(run.id, workspace=workspace)
    assert len(store.metric_history(run.id).items) == 2
    stored = get_run(run.id, workspace=workspace)
    assert (stored.metrics, stored.params, stored.tags) == (
        {"loss": 0.4},
        {"lr": "0.1", "seed": "7"},
        {"team": "assay"},
    )
    with pytest.raises(ConflictError, match="param 'lr'"):
        store.log_batch(run.id, params=[("lr", "0.2", 0.2)], metrics=[("loss", 0.1, 2, 3.0, 3)])
    assert len(store.metric_history(run.id).items) == 2  # nothing of that batch was written
    store.finish_run(run.id, FinishRun(status="finished", ended_at=time.time()))
    assert verify_workspace(workspace, remember=False).ok


def test_get_runs_by_prefix_and_an_ambiguous_prefix(workspace: Workspace) -> None:
    ids = _runs(workspace, [0.1, 0.2])
    store = workspace.stores.runs
    assert [run.id for run in store.get_runs([ids[1], ids[0][:30]])] == [ids[1], ids[0]]
    shared = ids[0][: next(i for i, (a, b) in enumerate(zip(*ids, strict=True)) if a != b)]
    assert len(shared) >= 4  # ids made in the same minute share their first digits
    with pytest.raises(AmbiguousReferenceError, match="ambiguous"):
        store.get_runs([shared])
    with pytest.raises(NotFoundError):
        store.get_runs(["f" * 12])


def test_the_seal_refuses_a_run_that_is_not_running(workspace: Workspace) -> None:
    store = workspace.stores.runs
    new = _new_run(workspace, "0", "by hand")
    now = new.started_at
    assert [live.run_id for live in store.running([new.id])] == [new.id]
    store.heartbeat([new.id], now + 5)
    assert store.get_runs([new.id])[0].heartbeat_at == now + 5
    assert store.mark_crashed([new.id], reason="gone", at=now + 10) == [new.id]
    assert store.mark_crashed([new.id], reason="gone", at=now + 11) == []  # sealed already
    crashed = store.get_runs([new.id])[0]
    assert (crashed.status, crashed.error, crashed.ended_at) == ("crashed", "gone", now + 10)
    assert store.running([new.id]) == []
    with pytest.raises(RunStateError, match="no longer running"):
        store.finish_run(new.id, FinishRun(status="finished", ended_at=now + 20))
    assert store.get_runs([new.id])[0].status == "crashed"
    assert verify_workspace(workspace, remember=False).ok


def test_a_batch_after_the_seal_writes_nothing(workspace: Workspace) -> None:
    """A late flush or a retried batch that arrives after the run was sealed changes nothing
    the seal covers; tags, which are editable, still change."""
    store = workspace.stores.runs
    new = _new_run(workspace, "4", "sealed")
    store.log_batch(new.id, metrics=[("loss", 0.5, 0, 1.0, 1)])
    store.finish_run(new.id, FinishRun(status="finished", ended_at=new.started_at + 1))
    sealed = store.get_runs([new.id])[0]
    with pytest.raises(RunStateError, match="has ended"):
        store.log_batch(new.id, metrics=[("loss", 0.1, 1, 2.0, 2)], tags=[("team", "late")])
    with pytest.raises(RunStateError, match="has ended"):
        store.log_batch(new.id, params=[("extra", "1", 1.0)])
    assert store.get_runs([new.id])[0] == sealed  # no metric, param or tag from either batch
    # A batch sent again whose rows are all stored (its first answer was lost) is still a no-op,
    # and other content under a stored seq still a conflict.
    store.log_batch(new.id, metrics=[("loss", 0.5, 0, 1.0, 1)])
    with pytest.raises(ConflictError):
        store.log_batch(new.id, metrics=[("loss", 0.7, 0, 1.0, 1)])
    assert [p.value for p in store.metric_history(new.id).items] == [0.5]
    store.log_batch(new.id, tags=[("team", "after")])
    assert dict(store.get_runs([new.id])[0].tags)["team"] == "after"
    # Nor an artifact: the check is in the artifact's own write too.
    from labledger._foundation.ids import new_id
    from labledger.stores.artifacts import Artifact, NewArtifact

    digest = workspace.store.put(b"late")
    late = Artifact(new_id(), "late.txt", "file", "bytes", digest, 4, new.id, 1.0, "ana")
    with pytest.raises(RunStateError, match="has ended"):
        workspace.stores.artifacts.add_artifacts(
            [NewArtifact(late, workspace.project_id(), ((digest, 4),))]
        )
    assert workspace.stores.artifacts.list_artifacts(run_id=new.id).items == []
    assert verify_workspace(workspace, remember=False).ok


def test_the_seal_reads_back_what_the_writer_does_not_pass(workspace: Workspace) -> None:
    store = workspace.stores.runs
    new = _new_run(workspace, "1", "sealed by the store")
    now = new.started_at
    store.log_batch(new.id, metrics=[("loss", 0.5, 0, now, 1)], tags=[("stage", "qc")])
    digest = store.finish_run(
        new.id, FinishRun(status="finished", ended_at=now + 1, metrics=[("loss", 0.4, 1, now, 2)])
    )
    finished = store.get_runs([new.id])[0]
    assert (finished.status, finished.record_digest) == ("finished", digest)
    assert finished.metrics == {"loss": 0.4}
    assert [run.id for run in search_runs("qc and core", workspace=workspace)] == [new.id]
    assert verify_workspace(workspace, remember=False).ok


def test_artifact_pages_and_references(workspace: Workspace) -> None:
    with labledger.start_run("outputs", workspace=workspace) as run:
        made = [run.log_artifact({"i": i}, name=f"a{i}") for i in range(5)]
        with pytest.raises(ConflictError, match="already has an artifact named 'a0'"):
            run.log_artifact({"i": 9}, name="a0")
    store = workspace.stores.artifacts
    newest_first = sorted(made, key=lambda a: (a.created_at, a.id), reverse=True)
    listed, token = [], None
    while True:
        page = store.list_artifacts(run_id=run.id, page_token=token, max_results=2)
        listed += page.items
        token = page.next_token
        if token is None:
            break
    assert listed == newest_first
    assert store.list_artifacts(kind="nothing").items == []
    assert store.get_artifacts([made[1].id, "a3", made[0].digest]) == [made[1], made[3], made[0]]
    with pytest.raises(NotFoundError):
        store.get_artifacts(["no such artifact"])


def test_a_heartbeat_leaves_an_ended_run_as_it_is(workspace: Workspace) -> None:
    store = workspace.stores.runs
    live, ended = _new_run(workspace, "3", "live"), _new_run(workspace, "4", "ended")
    store.mark_crashed([ended.id], reason="gone", at=ended.started_at + 1)
    store.heartbeat([live.id, ended.id, "no-such-run"], live.started_at + 60)
    runs = schema.runs
    with workspace.read() as conn:
        beats = dict(conn.execute(sa.select(runs.c.id, runs.c.heartbeat_at)).all())
    assert beats == {live.id: live.started_at + 60, ended.id: ended.started_at}
    assert [running.run_id for running in store.running()] == [live.id]


def test_a_run_id_is_created_once(workspace: Workspace) -> None:
    new = _new_run(workspace, "5", "once")
    with pytest.raises(ConflictError, match="exists already"):
        workspace.stores.runs.create_run(new)
    assert [run.name for run in search_runs(workspace=workspace)] == ["once"]


def test_a_negative_zero_is_logged_as_zero_and_the_run_verifies(workspace: Workspace) -> None:
    """SQLite keeps no sign of zero: a run that logged -0.0 (a perfect loss, -log(1)) and sealed
    its own digest of it would read as changed after its seal."""
    with labledger.start_run("perfect", workspace=workspace) as run:
        run.log_metric("loss", -math.log(1.0))
        run.log_metrics({"loss": -0.0, "acc": 1.0})
    history = get_metric_history(run.id, "loss", workspace=workspace)
    assert [math.copysign(1.0, point.value) for point in history] == [1.0, 1.0]
    assert math.copysign(1.0, get_run(run.id, workspace=workspace).metrics["loss"]) == 1.0
    assert verify_workspace(workspace, blobs=False).ok


@pytest.mark.parametrize(
    "batch",
    [
        {"metrics": [("loss", 0.5, 0, 1.0, 1)]},
        {"params": [("lr", "0.1", 0.1)]},
        {"metrics": [("loss", 0.5, 0, 1.0, 1)], "params": [("lr", "0.1", 0.1)]},
        {"tags": [("team", "core")]},
    ],
)
def test_a_batch_for_an_unknown_run_is_not_found_and_writes_nothing(
    workspace: Workspace, batch: dict[str, list[tuple[object, ...]]]
) -> None:
    unknown = "0193a5b0-0000-7000-8000-000000000000"
    with pytest.raises(NotFoundError, match=f"no run with id '?{unknown}"):
        workspace.stores.runs.log_batch(unknown, **batch)  # type: ignore[arg-type]
    with workspace.read() as conn:
        for table in (schema.metrics, schema.params, schema.latest_metrics, schema.tags):
            assert conn.execute(sa.select(sa.func.count()).select_from(table)).scalar() == 0


def test_finishing_an_unknown_run_is_not_found_and_writes_nothing(workspace: Workspace) -> None:
    unknown = "0193a5b0-0000-7000-8000-000000000000"
    seal = FinishRun(status="finished", ended_at=time.time(), metrics=[("loss", 0.5, 0, 1.0, 1)])
    with pytest.raises(NotFoundError, match=f"no run with id '?{unknown}"):
        workspace.stores.runs.finish_run(unknown, seal)
    with workspace.read() as conn:
        for table in (schema.metrics, schema.latest_metrics):
            assert conn.execute(sa.select(sa.func.count()).select_from(table)).scalar() == 0
