"""Fixtures for the tracking tests."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from labledger.workspace.current import set_workspace

if TYPE_CHECKING:
    from labledger.workspace.workspace import Workspace


@pytest.fixture
def current(workspace: Workspace) -> Workspace:
    """The test's workspace, made the current one (for calls that take no ``workspace=``)."""
    set_workspace(workspace)
    return workspace
