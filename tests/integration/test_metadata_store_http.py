"""The metadata and collection stores' contract over HTTP: the metadata unit tests of fields,
values, collections and search, run against a workspace reached through a real
``labledger server``.

Runs and artifacts are made on the served workspace (tracking has no HTTP store yet, see
``served``); every field, value, search and collection call goes through the server.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tests.integration.served import served_workspace
from tests.integration.store_conformance import adopt
from tests.unit.metadata import test_collections, test_fields, test_search, test_values
from tests.unit.metadata.conftest import artifact, ledger, run

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from tests.integration.served import ServedWorkspace

pytestmark = pytest.mark.integration

adopt(
    globals(),
    test_fields,
    test_values,
    test_collections,
    test_search,
    fixtures={"artifact": artifact, "ledger": ledger, "run": run},
    # A server takes a collection's owner only among its users, and this single-user server has
    # none: test_a_collection_is_owned_by_a_user_of_the_server (tests/unit/server/test_routes.py)
    # checks owners over HTTP instead.
    skip={"test_round_trip"},
)


@pytest.fixture
def workspace(tmp_path: Path) -> Iterator[ServedWorkspace]:
    """The unit tests' workspace, reached through a real server."""
    with served_workspace(tmp_path) as remote:
        yield remote
