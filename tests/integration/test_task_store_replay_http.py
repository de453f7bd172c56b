"""The task store's contract over HTTP, continued: reproducing runs that read files (the unit
tests of ``test_reproduce_inputs``), through a real ``labledger server``: each reproduction re-runs
the pipeline in a new process that opens the server as any remote client."""

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

adopt(globals(), test_reproduce_inputs)


@pytest.fixture
def workspace(tmp_path: Path) -> Iterator[ServedWorkspace]:
    """The unit tests' workspace, reached through a real server."""
    with served_workspace(tmp_path / "served") as remote:
        yield remote
