"""The task store's contract over HTTP, continued: reproducing runs that read files (the unit
tests of ``test_reproduce_inputs``), through a real ``labledger server``."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tests.integration.served import served_workspace
from tests.integration.store_conformance import adopt
from tests.unit.pipelines import test_reproduce_inputs

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from tests.integration.served import ServedWorkspace

pytestmark = pytest.mark.integration

# Each reproduction re-runs the pipeline in a new process that opens the server as any remote
# client: its tracked run needs runs over HTTP. The tests that reach no re-run are kept.
NEEDS_A_REMOTE_RERUN = {
    "test_a_failing_rerun_says_which_step_and_where_its_log_is",
    "test_a_folder_input_is_written_back_whole",
    "test_a_path_above_the_working_folder_is_read_from_the_recorded_copy",
    "test_a_reproduction_that_differs_is_never_served_from_the_cache",
    "test_absolute_and_dotdot_paths_are_mapped_to_the_recorded_bytes",
    "test_an_unchanged_reference_input_is_read_where_it_was",
    "test_relative_inputs_are_read_as_recorded_from_another_folder",
    "test_reproduce_never_writes_to_the_users_files",
}

adopt(globals(), test_reproduce_inputs, skip=NEEDS_A_REMOTE_RERUN)


@pytest.fixture
def workspace(tmp_path: Path) -> Iterator[ServedWorkspace]:
    """The unit tests' workspace, reached through a real server."""
    with served_workspace(tmp_path / "served") as remote:
        yield remote
