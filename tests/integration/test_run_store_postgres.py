"""The run and artifact stores' contract on PostgreSQL: the tracking unit tests of runs, metrics,
params, tags, artifacts, searches and pages, run against a real PostgreSQL server instead of SQLite.

Tests that build their own SQLite workspaces (``workspace_factory``, ``tmp_path``) run on SQLite
here too; those using the ``workspace`` fixture get a fresh PostgreSQL database.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from labledger.workspace.current import set_workspace
from tests.integration.conformance_modules import TRACKING
from tests.integration.store_conformance import adopt
from tests.unit.tracking.conftest import current

if TYPE_CHECKING:
    from collections.abc import Iterator

    from labledger.workspace.workspace import Workspace

pytestmark = pytest.mark.integration


# Tests of the embedded layout: they open catalog.db with sqlite3 themselves.
_SQLITE_ONLY = {"test_swapping_two_values_seq_is_found_by_verify"}


adopt(globals(), *TRACKING, fixtures={"current": current}, skip=_SQLITE_ONLY)


@pytest.fixture
def workspace(pg_workspace: Workspace) -> Iterator[Workspace]:
    """The unit tests' workspace, on a fresh PostgreSQL database."""
    try:
        yield pg_workspace
    finally:
        set_workspace(None)
