"""On PostgreSQL, ``metrics.run_id`` has no foreign key (revision 0013): the write that adds a
run's metrics checks the run itself, so a batch for an unknown run is still refused whole."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
import sqlalchemy as sa

from labledger._foundation.errors import NotFoundError
from labledger.stores.runs import FinishRun
from labledger.workspace import schema
from labledger.workspace.workspace import Workspace

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.integration

_KEY = "fk_metrics_run_id_runs"


def _keys(ws: Workspace) -> set[str]:
    with ws.read() as conn:
        return {key["name"] for key in sa.inspect(conn).get_foreign_keys("metrics")}


def test_a_new_catalog_has_no_key_and_refuses_an_unknown_run(pg_workspace: Workspace) -> None:
    assert _KEY not in _keys(pg_workspace)
    unknown = "0193a5b0-0000-7000-8000-000000000000"
    row = ("loss", 0.5, 0, 1.0, 1)
    with pytest.raises(NotFoundError, match="no run with id"):
        pg_workspace.stores.runs.log_batch(unknown, metrics=[row])
    with pytest.raises(NotFoundError, match="no run with id"):
        pg_workspace.stores.runs.log_batch(unknown, tags=[("team", "core")])
    seal = FinishRun(status="finished", ended_at=1.0, metrics=[row])
    with pytest.raises(NotFoundError, match="no run with id"):  # the seal's last rows too
        pg_workspace.stores.runs.finish_run(unknown, seal)
    with pg_workspace.read() as conn:
        for table in (schema.metrics, schema.latest_metrics, schema.tags):
            assert conn.execute(sa.select(sa.func.count()).select_from(table)).scalar() == 0


def test_a_catalog_at_revision_0012_loses_the_key(
    fresh_postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LABLEDGER_STORE", str(tmp_path / "objects"))
    Workspace.init(fresh_postgres_url).close()
    engine = sa.create_engine(fresh_postgres_url)
    with engine.begin() as conn:
        conn.exec_driver_sql(
            f"ALTER TABLE metrics ADD CONSTRAINT {_KEY} FOREIGN KEY (run_id) REFERENCES runs (id)"
        )
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = '0012'")
    engine.dispose()
    assert Workspace.migrate(fresh_postgres_url).from_revision == "0012"
    ws = Workspace.open(fresh_postgres_url)
    try:
        assert _KEY not in _keys(ws)
    finally:
        ws.close()
