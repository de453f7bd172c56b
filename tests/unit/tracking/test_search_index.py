"""Runs and artifacts enter the full-text index as they are recorded."""

from __future__ import annotations

from typing import TYPE_CHECKING

from labledger.metadata import search
from labledger.tracking import start_run

if TYPE_CHECKING:
    from pathlib import Path

from labledger.workspace import Workspace


def test_finished_run_is_found_by_name_params_and_tags(tmp_path: Path) -> None:
    ws = Workspace.init(tmp_path)
    try:
        with start_run("hepatocyte-screen", params={"compound": "amiodarone"}, workspace=ws) as run:
            run.set_tag("site", "basel")
        assert [h.id for h in search("hepatocyte", workspace=ws)] == [run.id]
        assert [h.id for h in search("amiodarone", workspace=ws)] == [run.id]
        assert [h.id for h in search("basel", workspace=ws)] == [run.id]
        run.set_tag("site", "zurich")  # tags stay editable, and the index follows
        assert search("basel", workspace=ws) == []
        assert [h.id for h in search("zurich", workspace=ws)] == [run.id]
    finally:
        ws.close()


def test_artifact_is_found_by_name_and_columns(tmp_path: Path) -> None:
    ws = Workspace.init(tmp_path)
    try:
        with start_run("r", workspace=ws) as run:
            artifact = run.log_artifact({"viability": [0.9]}, name="viability-readout")
        assert [h.id for h in search("viability", kinds=("artifact",), workspace=ws)] == [
            artifact.id
        ]
    finally:
        ws.close()
