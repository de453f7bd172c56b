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
    from pathlib import Path

    from tests.integration.served import ServedWorkspace

pytestmark = pytest.mark.integration

# Tests that need the served workspace's own catalog, with the reason each is not run here.
NOT_OVER_HTTP = {
    # They compare SQLite's driver path with its SQLAlchemy path.
    "test_driver_and_sqlalchemy_paths_write_and_read_the_same_rows": "the local SQLite catalog",
    "test_the_driver_path_is_taken_on_sqlite": "the local SQLite catalog",
    # It counts the SQL statements the local catalog runs (over HTTP: one artifacts/find).
    "test_artifacts_of_many_file_inputs_are_found_in_one_query": "the local catalog's statements",
    # verify() checks a workspace's own catalog and refuses a server (`labledger verify -w URL`
    # holds a server to its history instead).
    "test_editing_a_task_row_after_the_run_fails_verify": "verify() of the catalog itself",
    "test_run_is_sealed_in_the_ledger_and_verifies": "verify() of the catalog itself",
    "test_a_forged_logged_digest_breaks_the_seal_and_is_never_reused": "verify() of the catalog",
    "test_a_cached_step_brings_the_metrics_it_logged_marked_as_reused": "verify() of the catalog",
    # A run against a server looks up no frontier: it fetches its steps' entries at once
    # (cache_index; tests/unit/server/test_remote_pipeline_requests counts its requests).
    "test_the_runner_looks_up_each_ready_frontier_in_one_call": "a lookup per frontier",
    "test_a_frontier_asks_the_blob_store_once": "a presence question per frontier",
    # The server decides which projects answer (those the signed-in user may read).
    "test_projects_limit_the_runs_that_answer": "projects chosen by the caller",
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
    skip=NOT_OVER_HTTP,
)


@pytest.fixture
def workspace(tmp_path: Path) -> Iterator[ServedWorkspace]:
    """The unit tests' workspace, reached through a real server."""
    with served_workspace(tmp_path / "served") as remote:
        yield remote
