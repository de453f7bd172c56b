"""The run store's contract over HTTP: the tracking unit tests of runs, metrics, params, tags,
searches, pages and crashed runs, run against a workspace reached through a real
``labledger server``.

Every run store call goes through the server, and so do artifacts and blobs; projects are made on
the served workspace (see ``served``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tests.integration.conformance_modules import TRACKING
from tests.integration.served import served_workspace
from tests.integration.store_conformance import adopt
from tests.unit.tracking.conftest import current

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from tests.integration.served import ServedWorkspace

pytestmark = pytest.mark.integration


# They end with ``labledger.verify()``, which checks a workspace's own catalog and refuses a
# server's; ``test_remote_runs`` verifies the served catalog after runs made through the server.
_LOCAL_CATALOG = {
    "test_a_failed_seal_keeps_the_run_open_and_its_metrics",
    "test_every_value_is_refused_at_the_call_or_kept_and_the_run_ends",
    "test_text_no_catalog_can_store_is_refused_at_the_call",
}

adopt(globals(), *TRACKING, fixtures={"current": current}, skip=_LOCAL_CATALOG)


@pytest.fixture
def workspace(tmp_path: Path) -> Iterator[ServedWorkspace]:
    """The unit tests' workspace, reached through a real server."""
    with served_workspace(tmp_path) as remote:
        yield remote
