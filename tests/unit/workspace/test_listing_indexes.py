"""Pages listed newest first are read through an index in that order, whatever the catalog's
size: no page of runs or artifacts sorts every row of a project first."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
import sqlalchemy as sa

from labledger.stores.runs import RunQuery
from labledger.tracking.filter_parser import parse_filter
from labledger.workspace.workspace import Workspace

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

_INDEXES = {
    "runs": "ix_runs_project_id_id",
    "artifacts": "ix_artifacts_project_id_created_at_id",
}


@pytest.fixture
def ws(tmp_path: Path) -> Iterator[Workspace]:
    workspace = Workspace.init(tmp_path)
    try:
        yield workspace
    finally:
        workspace.close()


def _plans(ws: Workspace, read: Callable[[], Any]) -> list[str]:
    """The query plan of every SELECT of runs or artifacts that ``read`` makes."""
    seen: list[tuple[str, Any]] = []

    def capture(conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT") and (
            "FROM runs" in statement or "FROM artifacts" in statement
        ):
            seen.append((statement, parameters))

    engine = ws.catalog.reader
    sa.event.listen(engine, "before_cursor_execute", capture)
    try:
        read()
    finally:
        sa.event.remove(engine, "before_cursor_execute", capture)
    assert seen, "the read made no SELECT of runs or artifacts"
    plans = []
    with engine.connect() as conn:
        for statement, parameters in seen:
            rows = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters).all()
            plans.append(" / ".join(str(row[-1]) for row in rows))
    return plans


@pytest.mark.parametrize("status", [None, "finished"])
def test_a_projects_runs_are_listed_through_an_index_in_their_order(
    ws: Workspace, status: str | None
) -> None:
    project = ws.project_id()
    node = None if status is None else parse_filter(f"attributes.status = '{status}'")
    for query in (RunQuery(project_id=project, filter=node), RunQuery(filter=node)):
        for plan in _plans(ws, lambda q=query: ws.stores.runs.search_runs(q, max_results=100)):
            assert "TEMP B-TREE FOR ORDER BY" not in plan, plan


@pytest.mark.parametrize("order", ["started_at DESC", "started_at"])
def test_runs_sorted_by_start_time_are_read_through_an_index(ws: Workspace, order: str) -> None:
    from labledger.tracking.filters import parse_order_by

    query = RunQuery(order_by=parse_order_by([order]))
    for plan in _plans(ws, lambda: ws.stores.runs.search_runs(query, max_results=100)):
        assert "TEMP B-TREE FOR ORDER BY" not in plan, plan
        assert "ix_runs_started_at_id" in plan, plan


@pytest.mark.parametrize("projects", [None, "mine"])
def test_artifacts_are_listed_through_an_index_in_their_order(
    ws: Workspace, projects: str | None
) -> None:
    among = None if projects is None else [ws.project_id()]
    for plan in _plans(ws, lambda: ws.stores.artifacts.list_artifacts(projects=among)):
        assert "TEMP B-TREE FOR ORDER BY" not in plan, plan


def _migrated_from(tmp_path: Path, revision: str, *statements: str) -> dict[str, set[str]]:
    """The index names of ``runs`` and ``artifacts`` once a new catalog, taken back to
    ``revision`` by ``statements``, is migrated to the head again."""
    Workspace.init(tmp_path).close()
    ws = Workspace.open(tmp_path)
    with ws.catalog.writer.begin() as conn:
        for statement in statements:
            conn.exec_driver_sql(statement)
        conn.exec_driver_sql(f"UPDATE alembic_version SET version_num = '{revision}'")
    ws.close()
    assert Workspace.migrate(tmp_path).from_revision == revision
    ws = Workspace.open(tmp_path)
    try:
        with ws.catalog.reader.connect() as conn:
            inspector = sa.inspect(conn)
            return {
                table: {index["name"] for index in inspector.get_indexes(table)}
                for table in ("runs", "artifacts")
            }
    finally:
        ws.close()


def test_a_catalog_at_revision_0010_gains_the_listing_indexes(tmp_path: Path) -> None:
    dropped = (*_INDEXES.values(), "ix_artifacts_created_at_id", "ix_runs_status_id")
    names = _migrated_from(
        tmp_path,
        "0010",
        *(f"DROP INDEX {name}" for name in dropped),
        "CREATE INDEX ix_runs_status ON runs (status)",
    )
    for table, name in _INDEXES.items():
        assert name in names[table]
    assert "ix_artifacts_created_at_id" in names["artifacts"]
    assert "ix_runs_status_id" in names["runs"]
    assert "ix_runs_status" not in names["runs"]


def test_a_catalog_at_revision_0011_gains_the_start_time_index(tmp_path: Path) -> None:
    names = _migrated_from(tmp_path, "0011", "DROP INDEX ix_runs_started_at_id")
    assert "ix_runs_started_at_id" in names["runs"]
