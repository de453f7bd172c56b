"""The task store's contract over HTTP: the pipeline unit tests of the cache, recording, cache
evidence, file inputs, explain and reproduce, run against a workspace reached through a real
``labledger server``.

Every task store call (cache lookups, task batches, pipeline records, seals, reads) goes over
HTTP to the server; the runs and artifacts the pipelines open are still built on the served
workspace (see ``served``). The reproduction tests whose ``project`` fixture differs from
explain's are in ``test_task_store_replay_http``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tests.integration.served import served_workspace
from tests.integration.store_conformance import adopt
from tests.unit.pipelines import (
    test_cache_evidence,
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
    from pathlib import Path

    from tests.integration.served import ServedWorkspace

pytestmark = pytest.mark.integration

# These compare SQLite's driver path with its SQLAlchemy path: they need the local catalog.
_LOCAL_CATALOG_ONLY = {
    "test_driver_and_sqlalchemy_paths_write_and_read_the_same_rows",
    "test_the_driver_path_is_taken_on_sqlite",
}

adopt(
    globals(),
    test_runner,
    test_cache_evidence,
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
    skip=_LOCAL_CATALOG_ONLY,
)


@pytest.fixture
def workspace(tmp_path: Path) -> Iterator[ServedWorkspace]:
    """The unit tests' workspace, reached through a real server."""
    with served_workspace(tmp_path / "served") as remote:
        yield remote
