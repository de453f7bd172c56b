"""The ledger tip a checkpoint is signed over never gets ahead of what was committed: a write that
signs a checkpoint and then rolls back (its commit lost, a later statement failing) leaves the tip,
in memory and in the state folder, where the ledger is, so the next seals carry checkpoints."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

import labledger
from labledger.workspace.ledger import iter_entries
from labledger.workspace.tip import save_tip
from labledger.workspace.verify import verify_workspace

if TYPE_CHECKING:
    from labledger.workspace.workspace import Workspace


class _CommitLost(Exception):
    pass


def _seal_checkpoints(workspace: Workspace) -> list[bool]:
    """For each ``run.finished`` entry, whether it carries a checkpoint."""
    with workspace.read() as conn:
        return ["checkpoint" in entry.payload for entry in iter_entries(conn, kind="run.finished")]


@pytest.mark.parametrize("saved", [False, True], ids=["in-memory", "saved-to-disk"])
def test_a_seal_rolled_back_after_its_checkpoint_leaves_the_tip_at_the_ledger(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch, saved: bool
) -> None:
    labledger.start_run("before", workspace=workspace).end()
    run = labledger.start_run("lost", workspace=workspace)
    run.log_metric("loss", 0.5)
    run.log_artifact({"weights": [1, 2]}, name="model")
    record = workspace.record

    def failing(conn: Any, kind: str, subject: str, payload: dict[str, Any]) -> Any:
        entry = record(conn, kind, subject, payload)
        if kind == "run.finished":
            if saved:  # the tip was written to the state folder inside the failed write
                assert workspace.ledger_tip is not None
                save_tip(workspace, workspace.ledger_tip)
            raise _CommitLost("the connection dropped at COMMIT")
        return entry

    monkeypatch.setattr(workspace, "record", failing)
    with pytest.raises(_CommitLost):
        run.end()
    monkeypatch.setattr(workspace, "record", record)
    run.end()  # tried again: the ledger gets the seal's entries anew, at the same seqs
    labledger.start_run("after", workspace=workspace).end()
    assert _seal_checkpoints(workspace) == [True, True, True]
    workspace.ledger_tip = None  # what the state folder holds must be right too
    labledger.start_run("reopened", workspace=workspace).end()
    assert _seal_checkpoints(workspace) == [True, True, True, True]
    assert verify_workspace(workspace, remember=False).ok
