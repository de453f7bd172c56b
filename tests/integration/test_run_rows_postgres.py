"""On PostgreSQL a batch of metrics goes in as one statement of column arrays; the rows it writes
are the ones SQLAlchemy's portable multi-row insert writes, replays and conflicts included."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

import pytest

from labledger.workspace.sql import run_rows
from labledger.workspace.verify import verify_workspace
from labledger.workspace.workspace import Workspace
from tests.unit.tracking.test_run_rows import _lifecycle, _rows

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = pytest.mark.integration


@pytest.fixture
def second_postgres_url(_postgres_cluster: Any) -> Iterator[str]:
    """Another new, empty database on the same server, dropped after the test."""
    name = f"labledger_{uuid.uuid4().hex[:16]}"
    _postgres_cluster.admin(f"CREATE DATABASE {name}")
    try:
        yield _postgres_cluster.url(name)
    finally:
        _postgres_cluster.admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def test_the_bulk_and_the_portable_insert_write_the_same_rows(
    pg_workspace: Workspace,
    second_postgres_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert "postgresql" in run_rows._BULK_INSERT_METRICS
    _lifecycle(pg_workspace)
    expected = _rows(pg_workspace)
    assert verify_workspace(pg_workspace, remember=False).ok
    monkeypatch.setattr(run_rows, "_BULK_INSERT_METRICS", {})
    with Workspace.init(second_postgres_url) as portable:
        _lifecycle(portable)
        assert _rows(portable) == expected
        assert verify_workspace(portable, remember=False).ok
