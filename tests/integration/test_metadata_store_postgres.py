"""The metadata store's contract on PostgreSQL: the metadata unit tests of fields, values,
collections and search, run against a real PostgreSQL server instead of SQLite."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from labledger.workspace import current
from tests.integration.store_conformance import adopt
from tests.unit.metadata import test_collections, test_fields, test_search, test_values
from tests.unit.metadata.conftest import artifact, ledger, run

if TYPE_CHECKING:
    from collections.abc import Iterator

    from labledger.workspace.workspace import Workspace

pytestmark = pytest.mark.integration

adopt(
    globals(),
    test_fields,
    test_values,
    test_collections,
    test_search,
    fixtures={
        "artifact": artifact,
        "ledger": ledger,
        "run": run,
    },
)


@pytest.fixture
def workspace(pg_workspace: Workspace) -> Iterator[Workspace]:
    """The unit tests' workspace, on a fresh PostgreSQL database."""
    try:
        yield pg_workspace
    finally:
        current.set_workspace(None)
