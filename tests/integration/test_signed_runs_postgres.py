"""Runs signed by their user on a server whose catalog is PostgreSQL: the route tests of signed
creates, seals asked for and signed, refusals that write nothing, and the client's retries, run
against a real PostgreSQL server instead of SQLite (asking for a seal runs the finish's write and
rolls it back; a signed seal stores the workspace's checkpoint beside it)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from labledger.workspace.current import set_workspace
from tests.integration.store_conformance import adopt
from tests.unit.server import conftest as server_fixtures
from tests.unit.server import test_http_signed_runs, test_signed_run_routes

if TYPE_CHECKING:
    from collections.abc import Iterator

    from labledger.workspace.workspace import Workspace

pytestmark = pytest.mark.integration

adopt(
    globals(),
    test_signed_run_routes,
    test_http_signed_runs,
    fixtures={
        name: getattr(server_fixtures, name)
        for name in ("service", "team", "app", "client", "as_user")
    },
)


@pytest.fixture
def workspace(pg_workspace: Workspace) -> Iterator[Workspace]:
    """The server's workspace, on a fresh PostgreSQL database."""
    try:
        yield pg_workspace
    finally:
        set_workspace(None)
