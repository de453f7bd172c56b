"""The lineage store's contract on PostgreSQL: every lineage test of the unit suite, run against
a real PostgreSQL server instead of SQLite.

The unit tests reach the store through the public lineage API; here their ``workspace`` is a
fresh PostgreSQL database, so both backends answer the same tests.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from labledger.workspace import current
from tests.integration.store_conformance import adopt
from tests.unit.lineage import (
    test_export,
    test_exports,
    test_lineage_projects,
    test_prov,
    test_queries,
    test_status,
    test_views,
)
from tests.unit.lineage.conftest import study

if TYPE_CHECKING:
    from collections.abc import Iterator

    from labledger.workspace.workspace import Workspace

pytestmark = pytest.mark.integration

adopt(
    globals(),
    test_queries,
    test_status,
    test_prov,
    test_views,
    test_exports,
    test_export,
    test_lineage_projects,
    fixtures={"study": study},
)


@pytest.fixture
def workspace(pg_workspace: Workspace) -> Iterator[Workspace]:
    """The unit tests' workspace, on a fresh PostgreSQL database."""
    try:
        yield pg_workspace
    finally:
        current.set_workspace(None)
