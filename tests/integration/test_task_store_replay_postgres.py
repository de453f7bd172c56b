"""The task store's contract on PostgreSQL, continued: reproducing runs that read files (the
unit tests of ``test_reproduce_inputs``), on a fresh PostgreSQL database."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from labledger.workspace import current
from tests.integration.store_conformance import adopt
from tests.unit.pipelines import test_reproduce_inputs

if TYPE_CHECKING:
    from collections.abc import Iterator

    from labledger.workspace.workspace import Workspace

pytestmark = pytest.mark.integration

adopt(globals(), test_reproduce_inputs)


@pytest.fixture
def workspace(pg_workspace: Workspace) -> Iterator[Workspace]:
    """The unit tests' workspace, on a fresh PostgreSQL database."""
    try:
        yield pg_workspace
    finally:
        current.set_workspace(None)
