"""The artifact store's contract over HTTP: the tracking unit tests of artifacts (files, trees,
values, names, lookups, lists, exports, damage), run against a workspace reached through a real
``labledger server``.

Every blob is stored through the server (``PUT /api/v1/blobs/{digest}``) and every artifact is
recorded, looked up and listed through ``/api/v1/artifacts``; runs are made on the served workspace
(tracking runs have no HTTP store here, see ``served``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tests.integration.served import served_workspace
from tests.integration.store_conformance import adopt
from tests.unit.tracking import test_artifact_projects, test_artifacts
from tests.unit.tracking.conftest import current

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from tests.integration.served import ServedWorkspace

pytestmark = pytest.mark.integration

adopt(globals(), test_artifacts, test_artifact_projects, fixtures={"current": current})


@pytest.fixture
def workspace(tmp_path: Path) -> Iterator[ServedWorkspace]:
    """The unit tests' workspace, reached through a real server."""
    with served_workspace(tmp_path) as remote:
        yield remote
