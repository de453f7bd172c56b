"""The lineage store's contract over HTTP: every lineage test of the unit suite, run against a
workspace reached through a real ``labledger server``.

Each test's graph is written on the served workspace (see ``served``); every walk, status,
provenance document and blob presence check is read through the server.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tests.integration.served import served_workspace
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
    from pathlib import Path

    from tests.integration.served import ServedWorkspace

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
def workspace(tmp_path: Path) -> Iterator[ServedWorkspace]:
    """The unit tests' workspace, reached through a real server."""
    with served_workspace(tmp_path) as remote:
        yield remote
