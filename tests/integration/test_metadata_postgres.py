"""Metadata, search (the tsvector path) and collections against a real PostgreSQL server."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from labledger._foundation.errors import NotFoundError, ValidationError
from labledger.metadata import (
    add_to_collection,
    create_collection,
    define_field,
    get_collection,
    get_metadata,
    index_run,
    missing_required,
    search,
    set_metadata,
    update_field,
)
from labledger.tracking import start_run
from labledger.workspace.ledger import iter_entries, verify_chain

if TYPE_CHECKING:
    from labledger.workspace.workspace import Workspace

pytestmark = pytest.mark.integration


@pytest.fixture
def screen(pg_workspace: Workspace) -> dict[str, str]:
    ws = pg_workspace
    define_field("concentration_um", "number", unit="uM", minimum=0, maximum=100, workspace=ws)
    define_field("cell_line", "enum", choices=["HeLa", "U2OS"], workspace=ws)
    define_field("acquired", "date", required=True, workspace=ws)
    ids = {}
    for key, name, conc, line, day in [
        ("low", "viability screen low", 1, "HeLa", "2024-01-10"),
        ("high", "viability screen high", 50, "HeLa", "2024-03-01T09:00:00+01:00"),
        ("u2os", "imaging run", 20, "U2OS", "2024-02-15"),
    ]:
        run = start_run(name, params={"compound": "staurosporine"}, workspace=ws)
        set_metadata(
            run.id, {"concentration_um": conc, "cell_line": line, "acquired": day}, workspace=ws
        )
        if key == "high":
            artifact = run.log_artifact({"wells": 384}, name="plate-map")
            ids["plate"] = artifact.id
        run.end()
        ids[key] = run.id
    return ids


def _ids(hits: list[Any]) -> set[str]:
    return {hit.id for hit in hits}


def test_values_round_trip_and_validate(pg_workspace: Workspace, screen: dict[str, str]) -> None:
    ws = pg_workspace
    assert get_metadata(screen["high"], workspace=ws) == {
        "acquired": "2024-03-01T08:00:00+00:00",
        "cell_line": "HeLa",
        "concentration_um": 50.0,
    }
    with pytest.raises(ValidationError, match="outside its bounds 0 to 100 uM"):
        set_metadata(screen["low"], {"cell_line": "U2OS", "concentration_um": 500}, workspace=ws)
    assert get_metadata(screen["low"], workspace=ws)["cell_line"] == "HeLa"
    with pytest.raises(NotFoundError, match="no metadata field named 'ph'"):
        set_metadata(screen["low"], {"ph": 7}, workspace=ws)
    assert missing_required(screen["plate"], workspace=ws) == ["acquired"]
    with pytest.raises(ValidationError, match="3 stored value\\(s\\) lie outside"):
        update_field("concentration_um", maximum=10, minimum=2, workspace=ws)
    with ws.read() as conn:
        entries = list(iter_entries(conn, kind="metadata.set"))
        assert len(entries) == 3
        assert verify_chain(conn)[1] == []


def test_full_text_search_uses_tsvector(pg_workspace: Workspace, screen: dict[str, str]) -> None:
    ws = pg_workspace
    assert _ids(search("viability", workspace=ws)) == {screen["low"], screen["high"]}
    assert _ids(search("screens", workspace=ws)) == {screen["low"], screen["high"]}
    assert _ids(search("plate", workspace=ws)) == {screen["plate"]}
    assert _ids(search("u2os", workspace=ws)) == {screen["u2os"]}
    (hit,) = search("imaging", workspace=ws)
    assert hit.title == "imaging run"
    assert hit.score > 0
    hits = search("viability high", workspace=ws)
    assert [h.id for h in hits] == [screen["high"]]


@pytest.mark.parametrize(
    "text",
    ['"', "it's", "a & b | !c", "NEAR(a b)", "title:x", "*", "(", "'; drop table runs; --", "\\"],
)
def test_user_text_never_breaks_the_query(
    pg_workspace: Workspace, screen: dict[str, str], text: str
) -> None:
    assert isinstance(search(text, workspace=pg_workspace), list)


def test_field_and_combined_search(pg_workspace: Workspace, screen: dict[str, str]) -> None:
    ws = pg_workspace
    assert _ids(search(where="concentration_um > 10", workspace=ws)) == {
        screen["high"],
        screen["u2os"],
    }
    assert _ids(search(where={"cell_line": ["HeLa"]}, workspace=ws)) == {
        screen["low"],
        screen["high"],
    }
    assert _ids(search(where={"acquired": (">=", "2024-03-01")}, workspace=ws)) == {screen["high"]}
    found = search("viability", where='concentration_um > 10 and cell_line = "HeLa"', workspace=ws)
    assert _ids(found) == {screen["high"]}
    assert search("imaging", where={"cell_line": "HeLa"}, workspace=ws) == []


def test_index_run_and_collections(pg_workspace: Workspace) -> None:
    ws = pg_workspace
    run = start_run("calibration", params={"lamp": "xenon"}, workspace=ws)
    run.end()  # a run is indexed when it ends
    assert _ids(search("xenon", workspace=ws)) == {run.id}
    with ws.write() as conn:
        index_run(conn, run.id)  # re-indexing is idempotent
    assert _ids(search("xenon", workspace=ws)) == {run.id}

    create_collection("instruments", "Calibration runs", workspace=ws)
    add_to_collection("instruments", run.id, ("model", "lamp-model"), run.id, workspace=ws)
    collection = get_collection("instruments", workspace=ws)
    assert {(m.kind, m.id, m.name) for m in collection.members} == {
        ("run", run.id, "calibration"),
        ("model", "lamp-model", None),
    }


def test_revision_0008_gives_old_collections_the_default_project(
    fresh_postgres_url: str, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sqlalchemy as sa

    from labledger.metadata import list_collections
    from labledger.workspace.catalog import HEAD_REVISION
    from labledger.workspace.verify import verify_workspace
    from labledger.workspace.workspace import Workspace

    monkeypatch.setenv("LABLEDGER_STORE", str(tmp_path / "objects"))
    with Workspace.init(fresh_postgres_url) as ws:
        run = start_run("fit", workspace=ws)
        run.end()
        create_collection("screen", workspace=ws)
        add_to_collection("screen", run.id, workspace=ws)
        default = ws.find_project_id()
        with ws.write() as conn:
            # As revision 0007 left the table: no project, names unique in the workspace.
            conn.exec_driver_sql(
                "ALTER TABLE collections DROP CONSTRAINT uq_collections_project_id_name"
            )
            conn.exec_driver_sql("ALTER TABLE collections DROP COLUMN project_id")
            conn.exec_driver_sql(
                "ALTER TABLE collections ADD CONSTRAINT uq_collections_name UNIQUE (name)"
            )
            conn.exec_driver_sql("UPDATE alembic_version SET version_num = '0007'")
    assert Workspace.migrate(fresh_postgres_url).changed
    with Workspace.open(fresh_postgres_url) as ws:
        assert ws.catalog.revision() == HEAD_REVISION
        kept = get_collection("screen", workspace=ws)
        assert kept.project_id == default and [m.id for m in kept.members] == [run.id]
        other = create_collection("screen", project="lab", workspace=ws)
        assert len(list_collections(workspace=ws)) == 2
        assert list_collections(project="lab", workspace=ws) == [other]
        with ws.read() as conn:
            columns = {
                (c["name"], c["nullable"]) for c in sa.inspect(conn).get_columns("collections")
            }
        assert ("project_id", False) in columns
        report = verify_workspace(ws, remember=False)
        assert report.ok, report.problems
