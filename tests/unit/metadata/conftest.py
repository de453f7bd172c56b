"""Fixtures for the metadata tests: a run and an artifact in a fresh workspace."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from labledger.tracking import start_run
from labledger.workspace.ledger import iter_entries

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from labledger.tracking import ActiveRun, Artifact
    from labledger.workspace.ledger import LedgerEntry
    from labledger.workspace.workspace import Workspace


@pytest.fixture
def run(workspace: Workspace) -> Iterator[ActiveRun]:
    """A running run named ``dose response`` with params and a tag; ended afterwards."""
    active = start_run(
        "dose response",
        params={"compound": "staurosporine"},
        tags={"team": "assay"},
        workspace=workspace,
    )
    yield active
    active.end()


@pytest.fixture
def artifact(run: ActiveRun) -> Artifact:
    """An artifact named ``plate-map`` logged by ``run``."""
    return run.log_artifact({"x": 1}, name="plate-map")


@pytest.fixture
def ledger(workspace: Workspace) -> Callable[[str], list[LedgerEntry]]:
    """``ledger(kind)``: the workspace's ledger entries of one kind, in order."""

    def entries(kind: str) -> list[LedgerEntry]:
        with workspace.read() as conn:
            return list(iter_entries(conn, kind=kind))

    return entries
