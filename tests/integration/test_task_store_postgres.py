"""The task store's contract on PostgreSQL: the pipeline unit tests of the cache, recording, cache
evidence, file inputs, explain and reproduce, run against a real PostgreSQL server instead of
SQLite.

The unit tests reach the store through the public pipeline API (and ``ws.stores.tasks``); here
their ``workspace`` is a fresh PostgreSQL database, so both backends answer the same tests. The
reproduction tests whose ``project`` fixture differs from explain's are in
``test_task_store_replay_postgres``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from labledger.workspace import current
from tests.integration.store_conformance import adopt
from tests.unit.pipelines import (
    test_cache_evidence,
    test_cache_index,
    test_explain,
    test_file_inputs,
    test_reproduce,
    test_runner,
    test_step_logging,
    test_step_output,
    test_task_store,
)

if TYPE_CHECKING:
    from collections.abc import Iterator

    from labledger.workspace.workspace import Workspace

pytestmark = pytest.mark.integration


# These compare SQLite's driver path with its SQLAlchemy path: nothing to run on PostgreSQL.
_SQLITE_ONLY = {
    "test_driver_and_sqlalchemy_paths_write_and_read_the_same_rows",
    "test_the_driver_path_is_taken_on_sqlite",
}

adopt(
    globals(),
    test_runner,
    test_cache_evidence,
    test_cache_index,
    test_task_store,
    test_explain,
    test_reproduce,
    test_file_inputs,
    test_step_logging,
    test_step_output,
    fixtures={
        "project": test_explain.project,
        "study": test_reproduce.study,
        "here": test_file_inputs.here,
    },
    skip=_SQLITE_ONLY,
)


@pytest.fixture
def workspace(pg_workspace: Workspace) -> Iterator[Workspace]:
    """The unit tests' workspace, on a fresh PostgreSQL database."""
    try:
        yield pg_workspace
    finally:
        current.set_workspace(None)
