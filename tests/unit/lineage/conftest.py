"""Fixtures for the lineage tests: the study graph in a fresh workspace."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tests.unit.lineage.graphs import Study, build_study

if TYPE_CHECKING:
    from labledger.workspace.workspace import Workspace


@pytest.fixture
def study(workspace: Workspace) -> Study:
    """The multi-run study graph of ``tests.unit.lineage.graphs``."""
    return build_study(workspace)
