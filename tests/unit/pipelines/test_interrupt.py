"""Ctrl-C during a run: the run is marked killed and the exception says what stays cached."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from labledger.pipelines import RunInterrupted
from labledger.tracking import get_run
from tests.unit.pipelines import chatty_pipelines as cp

if TYPE_CHECKING:
    from labledger.workspace.workspace import Workspace


def test_ctrl_c_marks_the_run_killed_and_counts_what_is_kept(workspace: Workspace) -> None:
    cp.chatty.run(workspace=workspace)  # makes ingest and count cached for the next run
    with pytest.raises(RunInterrupted) as raised:
        cp.stopped.run(workspace=workspace, n=3)
    stopped = raised.value
    assert isinstance(stopped, KeyboardInterrupt)
    assert (stopped.finished, stopped.cached) == (0, 2)
    assert get_run(stopped.run_id, workspace=workspace).status == "killed"
    assert f"run {stopped.run_id} was marked killed" in str(stopped)
