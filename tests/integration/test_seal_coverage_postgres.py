"""On PostgreSQL too: any single field a sealed run, artifact, metadata value, collection or
reproduction check depends on, once changed, makes ``verify`` fail; put back, it passes again."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any

import pytest
import sqlalchemy as sa

import labledger
from labledger.metadata import collections as collection_api
from labledger.metadata import fields as field_api
from labledger.metadata import values as value_api
from labledger.workspace.verify import verify_workspace
from tests.unit.workspace.test_seal_coverage import COVERED, PIPELINE

if TYPE_CHECKING:
    from pathlib import Path

    from labledger.workspace.workspace import Workspace

pytestmark = pytest.mark.integration


def _populate(ws: Workspace, folder: Path) -> None:
    (folder / "words.txt").write_text("a b c")
    (folder / "study_pipe_pg.py").write_text(PIPELINE)
    sys.path.insert(0, str(folder))
    here = os.getcwd()
    os.chdir(folder)
    try:
        with labledger.start_run("tracked", params={"lr": 0.1}, workspace=ws) as run:
            run.log_metric("auc", 0.9, step=1)
            run.log_artifact({"w": [1]}, name="model.json")
        import study_pipe_pg

        result = study_pipe_pg.study.run(workspace=ws)
        labledger.reproduce(result.run_id, workspace=ws)
        field_api.define_field("dose", "number", minimum=0, maximum=10, workspace=ws)
        value_api.set_metadata(run.id, {"dose": 5}, workspace=ws)
        collection_api.create_collection("keep", workspace=ws)
        collection_api.add_to_collection("keep", run.id, workspace=ws)
    finally:
        os.chdir(here)
        sys.path.remove(str(folder))
        sys.modules.pop("study_pipe_pg", None)


def _other(conn: sa.Connection, table: str, column: str, value: Any) -> Any:
    """A different value of the same sort, or ``None`` when there is none at hand."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int | float):
        return value + 1
    if column in ("artifact_id", "member_id"):
        source = "artifacts" if column == "artifact_id" else "runs"
        if column == "artifact_id":
            query = "SELECT id FROM artifacts WHERE digest != (SELECT digest FROM artifacts WHERE id = :v)"
        else:
            query = f"SELECT id FROM {source} WHERE id != :v"
        found = conn.execute(sa.text(query), {"v": value}).scalar()
        return found
    if isinstance(value, str) and value.startswith("blake3:"):
        return conn.execute(
            sa.text("SELECT digest FROM blobs WHERE digest != :v LIMIT 1"), {"v": value}
        ).scalar()
    if value is None:
        return 1 if column in ("minimum", "maximum", "value_num") else "x"
    return str(value) + "x"


def test_every_covered_field_on_postgresql(pg_workspace: Workspace, tmp_path: Path) -> None:
    ws = pg_workspace
    _populate(ws, tmp_path)
    assert verify_workspace(ws, remember=False).ok
    missed: list[str] = []
    flipped = 0
    for table, column in COVERED:
        with ws.write() as conn:
            conn.execute(sa.text("SET CONSTRAINTS ALL DEFERRED"))
            row = conn.execute(sa.text(f"SELECT ctid, {column} FROM {table} LIMIT 1")).first()
            assert row is not None, table
            ctid, value = row
            new = _other(conn, table, column, value)
            if new is None:
                continue
            moved = conn.execute(
                sa.text(f"UPDATE {table} SET {column} = :n WHERE ctid = :c RETURNING ctid"),
                {"n": new, "c": ctid},
            ).scalar()
        flipped += 1
        if verify_workspace(ws, remember=False).ok:
            missed.append(f"{table}.{column}")
        with ws.write() as conn:
            conn.execute(
                sa.text(f"UPDATE {table} SET {column} = :o WHERE ctid = :c"),
                {"o": value, "c": moved},
            )
    assert not missed, f"changed and verify said ok: {missed}"
    assert flipped >= len(COVERED) - 2
    assert verify_workspace(ws, remember=False).ok
