"""What steps print and log: echoed live when asked, kept per task, and read back by run."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import pytest

from labledger._foundation.errors import NotFoundError
from labledger.pipelines import LocalExecutor, get_task_logs
from tests.unit.pipelines import chatty_pipelines as cp

if TYPE_CHECKING:
    from labledger.workspace.workspace import Workspace


def test_echo_prefixes_each_line_with_its_step(
    workspace: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    cp.chatty.run(workspace=workspace, echo=True)
    out, err = capsys.readouterr()
    assert out == ""
    assert err.splitlines() == [
        "[ingest] loaded 3 rows",
        "[ingest] WARNING chatty: 1 rows have no label",
        "[ingest] no newline at the end",
        "[count] counted 3",
    ]


def test_without_echo_a_run_stays_quiet_and_still_captures(
    workspace: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    result = cp.chatty.run(workspace=workspace)
    assert capsys.readouterr() == ("", "")
    logs = {log.node: log.text for log in get_task_logs(result.run_id, workspace=workspace)}
    assert logs["ingest"].startswith("loaded 3 rows\n")
    assert "WARNING chatty: 1 rows have no label" in logs["ingest"]
    assert logs["count"] == "counted 3\n"
    assert logs["quiet"] == ""


def test_steps_on_a_thread_pool_keep_their_lines_apart(
    workspace: Workspace, capsys: pytest.CaptureFixture[str]
) -> None:
    result = cp.chorus.run(workspace=workspace, executor=LocalExecutor(max_workers=4), echo=True)
    nodes = {0: "talk", 1: "talk_2", 2: "talk_3", 3: "talk_4"}
    echoed = capsys.readouterr().err.splitlines()
    assert len(echoed) == 4 * 200
    for line in echoed:
        match = re.fullmatch(r"\[(\w+)\] part (\d) line \d+", line)
        assert match is not None, line
        assert match.group(1) == nodes[int(match.group(2))]
    for log in get_task_logs(result.run_id, workspace=workspace):
        part = next(p for p, node in nodes.items() if node == log.node)
        assert log.text == "".join(f"part {part} line {i}\n" for i in range(200))


def test_logs_by_run_prefix_and_step_and_cached_tasks_show_the_original(
    workspace: Workspace,
) -> None:
    first = cp.chatty.run(workspace=workspace)
    again = cp.chatty.run(workspace=workspace)
    only = get_task_logs(again.run_id[:13], "count", workspace=workspace)
    assert [(log.node, log.status, log.text) for log in only] == [
        ("count", "cached", "counted 3\n")
    ]
    assert only[0].cached_from == first.tasks["count"].task_id
    assert only[0].cached_from_run == first.run_id
    every = get_task_logs(first.run_id, workspace=workspace)
    assert [log.node for log in every] == ["ingest", "count", "quiet"]
    assert all(log.cached_from is None for log in every)


def test_an_unknown_step_names_the_runs_steps(workspace: Workspace) -> None:
    result = cp.chatty.run(workspace=workspace)
    with pytest.raises(NotFoundError, match="its steps: ingest, count, quiet"):
        get_task_logs(result.run_id, "cont", workspace=workspace)
    with pytest.raises(NotFoundError, match="no run with id"):
        get_task_logs("0123456789ab", workspace=workspace)
