"""A team workspace end to end: PostgreSQL catalog + S3 blob store, configured from the environment."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import pytest

import labledger
from labledger.workspace import Workspace
from labledger.workspace.current import set_workspace
from labledger.workspace.fsspec_store import FsspecBlobStore
from labledger.workspace.gc import collect_garbage
from labledger.workspace.verify import verify_workspace

if TYPE_CHECKING:
    from pathlib import Path

    from tests.integration.conftest import S3Server

pytestmark = pytest.mark.integration


def test_team_workspace_round_trip(team_env: str, tmp_path: Path) -> None:
    ws = labledger.init()
    try:
        assert isinstance(ws.store, FsspecBlobStore)
        assert ws.catalog.dialect == "postgresql"
        data = tmp_path / "plate.csv"
        data.write_text("well,signal\nA1,0.5\nA2,0.7\n")
        with labledger.start_run("assay", params={"plate": 7}, tags={"team": "assay"}) as run:
            for step in range(50):
                labledger.log_metric("signal", step / 50)
            labledger.log_metric("nan_metric", math.nan)
            artifact = labledger.log_artifact(data)
        assert ws.store.exists(artifact.digest)

        other = Workspace.open()  # a second client sees the same runs and blobs
        try:
            found = labledger.search_runs(
                "metrics.signal > 0.9 and params.plate = 7", workspace=other
            )
            assert [r.id for r in found] == [run.id]
            assert math.isnan(found[0].metrics["nan_metric"])
            exported = labledger.tracking.export_artifact(
                artifact, tmp_path / "out", workspace=other
            )
            assert exported.read_text() == data.read_text()
        finally:
            other.close()

        report = verify_workspace(ws)
        assert report.ok, report.problems
        assert report.blobs_checked >= 2

        orphan = ws.store.put(b"nobody references me")
        gc = collect_garbage(ws, grace_s=0)
        assert orphan in gc.unreferenced
        assert not ws.store.exists(orphan)
        assert ws.store.exists(artifact.digest)
    finally:
        set_workspace(None)
        ws.close()


def test_team_workspace_detects_a_corrupted_object(team_env: str, s3_server: S3Server) -> None:
    ws = labledger.init()
    try:
        with labledger.start_run("r"):
            artifact = labledger.log_artifact(b"original bytes", name="blob")
        store = ws.store
        assert isinstance(store, FsspecBlobStore)
        fs = s3_server.filesystem()
        key = store.path_of(artifact.digest)
        fs.pipe(key, b"tampered bytes")
        report = verify_workspace(ws)
        assert [(p.kind, p.id) for p in report.problems] == [("blob", artifact.digest)]
    finally:
        set_workspace(None)
        ws.close()


def test_file_inputs_on_a_team_workspace(
    team_env: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from labledger.lineage import ReproStatus, reproducibility
    from labledger.pipelines import status
    from tests.unit.pipelines import file_pipelines as fp

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    project = tmp_path / "project"
    (project / "plates" / "a").mkdir(parents=True)
    (project / "plates" / "a" / "1.txt").write_text("one")
    (project / "assay.csv").write_text("1,2")
    monkeypatch.chdir(project)
    ws = Workspace.open()
    try:
        first = fp.by_folder.run(workspace=ws)
        assert fp.by_folder.run(workspace=ws).executed == []
        (project / "plates" / "a" / "1.txt").write_text("ONE")
        assert status(fp.by_folder, workspace=ws).steps[0].reasons[0].message == (
            "folder plates changed: edited a/1.txt"
        )
        assert fp.by_folder.run(workspace=ws).load("list_folder") == ["a/1.txt=ONE"]
        out = first.tasks["list_folder"].outputs["out"]
        assert reproducibility(out, workspace=ws) == ReproStatus.REPRODUCIBLE
        fp.by_file.run(workspace=ws, store=False)
        assert (tmp_path / "cache" / "labledger" / "stat-cache.db").is_file()
        assert verify_workspace(ws).ok
    finally:
        ws.close()
