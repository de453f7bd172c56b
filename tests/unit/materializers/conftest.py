"""Blob stores the materializer tests run against: in memory and in a local folder."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from labledger.workspace.local_store import LocalBlobStore
from labledger.workspace.memory_store import MemoryBlobStore

if TYPE_CHECKING:
    from pathlib import Path

    from labledger.workspace.blobstore import BlobStore


@pytest.fixture(params=["memory", "local"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
    if request.param == "memory":
        return MemoryBlobStore()
    return LocalBlobStore(tmp_path / "objects")
