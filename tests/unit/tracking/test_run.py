"""Tracked runs: lifecycle, statuses, params, tags, and the ledger entries that seal them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pytest
import sqlalchemy as sa

import labledger
from labledger._foundation.errors import RunStateError, ValidationError
from labledger.tracking import api
from labledger.tracking.query import get_run
from labledger.tracking.run import active_run, end_run, start_run
from labledger.workspace import schema
from labledger.workspace.ledger import iter_entries
from labledger.workspace.records import run_record_digest
from labledger.workspace.verify import verify_workspace

if TYPE_CHECKING:
    from labledger.workspace.workspace import Workspace


def test_a_run_that_ends_normally_is_finished(current: Workspace) -> None:
    with labledger.start_run("fit", params={"lr": 0.1}, tags={"team": "assay"}) as run:
        assert run.status == "running"
        assert active_run() is run
        assert get_run(run.id).status == "running"
    assert run.status == "finished"
    stored = get_run(run.id)
    assert stored.status == "finished"
    assert stored.name == "fit"
    assert stored.kind == "run"
    assert stored.params == {"lr": "0.1"}
    assert stored.tags == {"team": "assay"}
    assert stored.user == current.actor
    assert stored.host == current.host
    assert stored.ended_at is not None
    assert stored.duration_s is not None
    assert stored.duration_s >= 0
    assert stored.error is None
    with pytest.raises(RunStateError):
        active_run()


def test_default_names(current: Workspace) -> None:
    with labledger.start_run() as run:
        pass
    assert run.name.startswith("run-")


def test_an_exception_fails_the_run_with_its_traceback(current: Workspace) -> None:
    with pytest.raises(ZeroDivisionError), labledger.start_run("boom") as run:
        _ = 1 / 0
    stored = get_run(run.id)
    assert stored.status == "failed"
    assert stored.error is not None
    assert "Traceback" in stored.error
    assert "ZeroDivisionError: division by zero" in stored.error


def test_keyboard_interrupt_kills_the_run(current: Workspace) -> None:
    with pytest.raises(KeyboardInterrupt), labledger.start_run("interrupted") as run:
        raise KeyboardInterrupt
    stored = get_run(run.id)
    assert stored.status == "killed"
    assert stored.error == "interrupted"


def test_end_is_idempotent_and_logging_afterwards_is_refused(current: Workspace) -> None:
    run = labledger.start_run("manual")
    run.end()
    run.end("failed")  # already ended: ignored
    assert get_run(run.id).status == "finished"
    with pytest.raises(RunStateError, match="start_run"):
        run.log_metric("x", 1.0)
    with pytest.raises(RunStateError):
        run.log_param("a", 1)
    with pytest.raises(RunStateError):
        run.log_artifact(b"late")
    run.set_tag("note", "tags stay editable")
    assert get_run(run.id).tags == {"note": "tags stay editable"}


def test_end_run_ends_the_innermost_run(current: Workspace) -> None:
    outer = labledger.start_run("outer")
    inner = labledger.start_run("inner")
    assert active_run() is inner
    end_run()
    assert active_run() is outer
    end_run("killed")
    assert get_run(inner.id).status == "finished"
    assert get_run(outer.id).status == "killed"


@pytest.mark.parametrize(
    "call",
    [
        lambda: api.log_param("a", 1),
        lambda: api.log_params({"a": 1}),
        lambda: api.log_metric("m", 1.0),
        lambda: api.log_metrics({"m": 1.0}),
        lambda: api.set_tag("t", "v"),
        lambda: api.set_tags({"t": "v"}),
        lambda: api.log_artifact(b"x"),
        end_run,
    ],
)
def test_module_functions_need_an_active_run(current: Workspace, call: object) -> None:
    with pytest.raises(RunStateError) as caught:
        call()  # type: ignore[operator]
    assert "start_run" in str(caught.value)


def test_module_functions_act_on_the_active_run(current: Workspace) -> None:
    with labledger.start_run("module") as run:
        labledger.log_param("a", 1)
        labledger.log_params({"b": "two", "c": [1, 2]})
        labledger.set_tag("t", 1)
        labledger.set_tags({"u": "v"})
        labledger.log_metric("m", 0.5)
        labledger.log_metrics({"n": 1.5, "o": 2})
        labledger.log_artifact(b"bytes", name="blob")
    stored = get_run(run.id)
    assert stored.params == {"a": "1", "b": "two", "c": "[1,2]"}
    assert stored.tags == {"t": "1", "u": "v"}
    assert stored.metrics == {"m": 0.5, "n": 1.5, "o": 2.0}


def test_params_are_immutable(current: Workspace) -> None:
    with labledger.start_run("params", params={"lr": 0.1}) as run:
        run.log_param("lr", 0.1)  # the same value again is fine
        run.log_params({"lr": 0.1, "depth": 3})
        with pytest.raises(ValidationError) as caught:
            run.log_param("lr", 0.2)
        assert "immutable" in str(caught.value)
        assert caught.value.hint
        with pytest.raises(ValidationError):
            run.log_params({"fresh": 1, "depth": 4})
    # A rejected batch writes nothing.
    assert get_run(run.id).params == {"depth": "3", "lr": "0.1"}


def test_param_values_are_stored_as_text_and_numbers(current: Workspace) -> None:
    with labledger.start_run(
        params={
            "f": 0.5,
            "i": 3,
            "b": True,
            "n": None,
            "s": "gbm",
            "d": {"b": 1, "a": 2},
            "nan": float("nan"),
        }
    ) as run:
        pass
    assert get_run(run.id).params == {
        "b": "True",
        "d": '{"a":2,"b":1}',
        "f": "0.5",
        "i": "3",
        "n": "None",
        "nan": "nan",
        "s": "gbm",
    }
    with current.read() as conn:
        numbers = dict(
            conn.execute(
                sa.select(schema.params.c.key, schema.params.c.value_num).where(
                    schema.params.c.run_id == run.id
                )
            ).all()
        )
    assert numbers == {"b": None, "d": None, "f": 0.5, "i": 3.0, "n": None, "nan": None, "s": None}


@pytest.mark.parametrize("key", ["", "x" * 251, None, 3])
def test_invalid_keys_are_rejected(current: Workspace, key: object) -> None:
    with labledger.start_run() as run:
        with pytest.raises(ValidationError, match="non-empty string"):
            run.log_param(key, 1)  # type: ignore[arg-type]
        with pytest.raises(ValidationError):
            run.set_tag(key, 1)  # type: ignore[arg-type]
        with pytest.raises(ValidationError):
            run.log_metric(key, 1.0)  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        labledger.start_run(params={key: 1})  # type: ignore[dict-item]


def test_tags_can_be_replaced(current: Workspace) -> None:
    with labledger.start_run(tags={"stage": "draft"}) as run:
        run.set_tag("stage", "final")
    assert get_run(run.id).tags == {"stage": "final"}


def test_runs_belong_to_projects(current: Workspace) -> None:
    with labledger.start_run(project="screening") as run:
        pass
    with current.read() as conn:
        project = conn.execute(
            sa.select(schema.runs.c.project_id).where(schema.runs.c.id == run.id)
        ).scalar_one()
    assert project == current.project_id("screening")


def test_the_run_record_is_sealed_in_the_ledger(current: Workspace) -> None:
    with labledger.start_run("sealed", params={"a": 1}) as run:
        for step in range(20):
            run.log_metric("loss", 1 / (step + 1))
        run.log_metric("nan", float("nan"))
        run.log_artifact({"k": "v"}, name="doc")
    with current.read() as conn:
        kinds = [e.kind for e in iter_entries(conn, subject=f"run:{run.id}")]
        (finished,) = iter_entries(conn, subject=f"run:{run.id}", kind="run.finished")
        recomputed = run_record_digest(conn, run.id)
    assert kinds == ["run.started", "run.finished"]
    summary = finished.payload.pop("metrics")
    assert {k: finished.payload[k] for k in ("run_id", "status", "record_digest")} == {
        "run_id": run.id,
        "status": "finished",
        "record_digest": recomputed,
    }
    assert finished.payload["artifacts_recorded"] is True
    assert finished.payload["record_format"] == 2
    assert set(finished.payload["sections"]) == {"run", "params", "metrics", "artifacts"}
    assert summary["loss"] == {
        "count": 20,
        "sum": pytest.approx(sum(1 / (s + 1) for s in range(20))),
        "step": 19,
        "latest": 0.05,
    }
    assert summary["nan"] == {"count": 1, "sum": 0.0, "step": 0, "latest": None}
    assert get_run(run.id).record_digest == recomputed
    assert verify_workspace(current).ok


@pytest.mark.parametrize("status", ["failed", "killed"])
def test_failed_runs_are_sealed_too(current: Workspace, status: str) -> None:
    run = labledger.start_run()
    run.log_metric("x", 1.0)
    run.end(status, error="why")
    with current.read() as conn:
        (finished,) = iter_entries(conn, subject=f"run:{run.id}", kind="run.finished")
        assert finished.payload["record_digest"] == run_record_digest(conn, run.id)
    assert finished.payload["status"] == status
    assert verify_workspace(current).ok


def test_explicit_workspace_without_a_current_one(workspace: Workspace) -> None:
    with start_run("explicit", workspace=workspace) as run:
        run.log_metric("m", 1.0)
    assert get_run(run.id, workspace=workspace).metrics == {"m": 1.0}
    assert "explicit" in repr(run)


def test_a_failed_seal_keeps_the_run_open_and_its_metrics(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    from labledger.workspace import ledger

    run = start_run("flaky-disk", workspace=workspace)
    run.log_metric("loss", 0.5)
    real_append = ledger.append_entry

    def failing_append(*args: Any, **kwargs: Any) -> Any:
        raise OSError("disk full")

    monkeypatch.setattr("labledger.workspace.workspace.append_entry", failing_append)
    with pytest.raises(OSError, match="disk full"):
        run.end()
    assert run.status == "running"
    monkeypatch.setattr("labledger.workspace.workspace.append_entry", real_append)
    run.end()
    assert get_run(run.id, workspace=workspace).status == "finished"
    assert get_run(run.id, workspace=workspace).metrics == {"loss": 0.5}
    assert labledger.verify(workspace=workspace).ok


class _Model:
    pass


@pytest.mark.parametrize("value", [object(), _Model(), [1, _Model()], lambda: 1])
def test_values_that_would_record_a_memory_address_are_refused(
    current: Workspace, value: object
) -> None:
    with labledger.start_run() as run:
        with pytest.raises(ValidationError) as caught:
            run.log_param("model", value)
        with pytest.raises(ValidationError):
            run.set_tag("model", value)
    message = str(caught.value)
    assert "param 'model' " in message
    assert "memory address" in message or "not JSON-able" in message
    assert caught.value.hint
    assert get_run(run.id).params == {}


def test_tags_store_dicts_and_lists_as_canonical_json(current: Workspace) -> None:
    with labledger.start_run(tags={"grid": {"b": [1, 2], "a": "x"}}) as run:
        run.set_tag("layers", [64, 32])
        run.set_tags({"flag": True, "np": np.float64(0.5)})
    assert get_run(run.id).tags == {
        "flag": "True",
        "grid": '{"a":"x","b":[1,2]}',
        "layers": "[64,32]",
        "np": "0.5",
    }


def test_numpy_param_values_are_stored_as_plain_numbers(current: Workspace) -> None:
    with labledger.start_run(params={"lr": np.float64(0.1), "n": np.int64(3)}) as run:
        run.log_param("lr", 0.1)  # the same number, whatever its type
    assert get_run(run.id).params == {"lr": "0.1", "n": "3"}


def test_a_param_conflict_between_int_and_float_names_both_types(current: Workspace) -> None:
    with labledger.start_run() as run:
        run.log_param("k", 1)
        with pytest.raises(ValidationError) as caught:
            run.log_param("k", 1.0)
    assert "param 'k' is already '1' (int)" in str(caught.value)
    assert "not '1.0' (float)" in str(caught.value)


def _heartbeat_at(ws: Workspace, run_id: str) -> float:
    with ws.read() as conn:
        return float(
            conn.execute(
                sa.select(schema.runs.c.heartbeat_at).where(schema.runs.c.id == run_id)
            ).scalar_one()
        )


def test_a_run_that_logs_no_metric_still_sends_heartbeats(workspace: Workspace) -> None:
    import time

    run = start_run("quiet", workspace=workspace)
    run._buffer._heartbeat_every = 0.0  # beat on every tick of the background thread
    first = _heartbeat_at(workspace, run.id)
    deadline = time.monotonic() + 10
    while _heartbeat_at(workspace, run.id) == first and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _heartbeat_at(workspace, run.id) > first
    run.end()


def test_finishing_a_run_another_process_marked_crashed_is_an_error(workspace: Workspace) -> None:
    run = start_run("marked dead", workspace=workspace)
    run.log_metric("loss", 0.5)
    with workspace.write() as conn:
        conn.execute(
            sa.update(schema.runs).where(schema.runs.c.id == run.id).values(status="crashed")
        )
    with pytest.raises(RunStateError, match="no longer running"):
        run.end()
    assert get_run(run.id, workspace=workspace).status == "crashed"
    run._buffer.stop()
