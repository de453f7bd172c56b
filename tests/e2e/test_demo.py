"""The demo study a new user runs first, and the tracking quickstart example, end to end."""

from __future__ import annotations

import io
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pytest
from rich.console import Console

import labledger
from labledger import metadata
from labledger._foundation.display import short_ids, sparkline
from labledger.demo import DemoResult, run_demo
from labledger.demo.study import SEARCH_FILTER, demo_folder
from labledger.workspace import Workspace
from labledger.workspace.verify import verify_workspace

if TYPE_CHECKING:
    from collections.abc import Iterator

REPO = Path(__file__).resolve().parents[2]
MODEL_RUNS = 6


@dataclass(frozen=True)
class Demo:
    result: DemoResult
    text: str
    ws: Workspace


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    """The demo, run once for the module into a fresh folder, with its report as plain text."""
    with pytest.MonkeyPatch.context() as patch:
        for name in ("LABLEDGER_URI", "LABLEDGER_STORE", "LABLEDGER_SIGNING_KEY", "LABLEDGER_USER"):
            patch.delenv(name, raising=False)
        console = Console(record=True, width=120, file=io.StringIO())
        result = run_demo(tmp_path_factory.mktemp("demo") / "ws", console=console)
    ws = Workspace.open(result.workspace)
    try:
        yield Demo(result, console.export_text(), ws)
    finally:
        ws.close()


def _read(ws: Workspace, artifact: labledger.Artifact) -> bytes:
    with ws.store.open(artifact.digest) as handle:
        return handle.read()


def test_all_runs_finished(demo: Demo) -> None:
    result = demo.result
    assert len(result.run_ids) == MODEL_RUNS
    ingest = labledger.get_run(result.ingest_run_id, workspace=demo.ws)
    assert (ingest.kind, ingest.status) == ("ingest", "finished")
    assert ingest.params["rows"] == "569"
    runs = [labledger.get_run(run_id, workspace=demo.ws) for run_id in result.run_ids]
    assert {run.status for run in runs} == {"finished"}
    assert {run.tags["family"] for run in runs} == {"linear", "tree"}
    for run in runs:
        assert set(run.metrics) >= {"auc", "accuracy", "f1", "log_loss", "val_auc", "val_log_loss"}
        assert run.params["dataset"] == result.dataset_artifact_id


def test_best_run_is_good_and_best(demo: Demo) -> None:
    result = demo.result
    best = labledger.get_run(result.best_run_id, workspace=demo.ws)
    assert best.metrics["auc"] > 0.9
    aucs = [labledger.get_run(i, workspace=demo.ws).metrics["auc"] for i in result.run_ids]
    assert best.metrics["auc"] == max(aucs)
    runner_up = labledger.get_run(result.runner_up_run_id, workspace=demo.ws)
    assert runner_up.id != best.id
    assert runner_up.metrics["auc"] <= best.metrics["auc"]


def test_learning_curves_were_logged_per_step(demo: Demo) -> None:
    history = labledger.get_metric_history(
        demo.result.best_run_id, "val_log_loss", workspace=demo.ws
    )
    steps = [point.step for point in history]
    assert len(steps) >= 5
    assert steps == sorted(steps)


def test_search_found_tree_models(demo: Demo) -> None:
    hits = [labledger.get_run(i, workspace=demo.ws) for i in demo.result.search_hit_ids]
    assert hits
    assert all(run.tags["family"] == "tree" and run.metrics["auc"] > 0.95 for run in hits)
    aucs = [run.metrics["auc"] for run in hits]
    assert aucs == sorted(aucs, reverse=True)
    again = labledger.search_runs(SEARCH_FILTER, workspace=demo.ws)
    assert {run.id for run in again} == set(demo.result.search_hit_ids)


def test_workspace_verifies(demo: Demo) -> None:
    assert demo.result.verify_ok
    # The last step: a checkpoint and the best model's proof, checked by a fresh process.
    proof = demo.result.proof
    assert proof.ok, proof.output
    assert proof.checkpoint.is_file() and proof.proof.is_file() and proof.model.is_file()
    assert demo.result.ledger_entries > MODEL_RUNS
    report = verify_workspace(demo.ws)
    assert report.ok, report.problems
    # The ingest run, the model runs, four pipeline runs and the reproduction.
    assert report.runs_checked == 1 + MODEL_RUNS + 4 + 1


def test_artifacts_round_trip(demo: Demo) -> None:
    ws = demo.ws
    artifacts = {
        a.name: a for a in labledger.list_artifacts(run_id=demo.result.best_run_id, workspace=ws)
    }
    assert {"predictions", "confusion_matrix", "feature_importance"} <= set(artifacts)

    predictions = pd.read_parquet(io.BytesIO(_read(ws, artifacts["predictions"])))
    assert len(predictions) == 143
    assert list(predictions.columns) == [
        "sample_id",
        "malignant",
        "p_malignant",
        "predicted",
        "correct",
    ]
    assert predictions["p_malignant"].between(0, 1).all()

    matrix = np.load(io.BytesIO(_read(ws, artifacts["confusion_matrix"])), allow_pickle=False)
    assert matrix.shape == (2, 2)
    assert int(matrix.sum()) == len(predictions)
    assert int(np.trace(matrix)) == int(predictions["correct"].sum())

    importance = pd.read_parquet(io.BytesIO(_read(ws, artifacts["feature_importance"])))
    assert len(importance) == 30
    assert list(importance["rank"]) == list(range(1, 31))

    dataset = labledger.get_artifact(demo.result.dataset_artifact_id, workspace=ws)
    table = pd.read_parquet(io.BytesIO(_read(ws, dataset)))
    assert table.shape == (569, 34)
    assert table["split"].value_counts().to_dict() == {"train": 426, "test": 143}


def test_metadata_and_collection(demo: Demo) -> None:
    ws = demo.ws
    values = metadata.get_metadata(("artifact", demo.result.dataset_artifact_id), workspace=ws)
    assert values["cohort"] == "discovery"
    assert values["n_samples"] == 569
    collection = metadata.get_collection(demo.result.collection, workspace=ws)
    members = {(m.kind, m.id) for m in collection.members}
    assert members == {
        ("run", demo.result.best_run_id),
        ("artifact", demo.result.dataset_artifact_id),
    }


def test_report_has_every_section(demo: Demo) -> None:
    text = demo.text
    best = labledger.get_run(demo.result.best_run_id, workspace=demo.ws)
    for expected in (
        "labledger demo",
        "1. Ingest",
        "2. Metadata",
        "3. Training",
        "Runs, best AUC first",
        "4. Search",
        SEARCH_FILTER,
        "5. Compare best vs runner-up",
        f"6. Learning curve of {best.name}",
        "7. Collection",
        "8. Pipeline",
        "second run: 7 of 7 steps from the cache",
        "n_estimators=400: only what depends on it re-ran",
        "9. One value in the input file is corrected",
        "10. Reproduce the run before the correction",
        "8/8 outputs reproduced bit for bit",
        "11. Lineage of the best model",
        "12. Verify",
        "OK: the chain is intact",
        "13. Checkpoint and proof",
        "OK: a fresh process, without the workspace, confirmed",
        "Next steps",
        f"labledger runs list -w {demo.result.workspace}",
        "labledger verify --checkpoint",
        "labledger verify-proof",
    ):
        assert expected in text, expected
    assert f"{len(demo.result.search_hit_ids)} hit(s)" in text


def test_pipeline_part_reruns_only_what_changed_and_reproduces(demo: Demo) -> None:
    tour = demo.result.pipeline
    assert tour.rerun_steps == ("train_forest", "evaluate", "roc_plot")
    assert tour.reproduced
    assert tour.best_model_status == "verified"
    cached = labledger.get_run(tour.cached_run_id, workspace=demo.ws)
    assert cached.kind == "pipeline"


def test_pipeline_part_explains_and_reruns_after_the_input_file_is_edited(demo: Demo) -> None:
    tour = demo.result.pipeline
    assert tour.edit_reasons == (f"file {tour.biopsies} changed",)
    assert tour.edited_rerun_steps[:2] == ("ingest", "quality_filter")
    text = demo.text
    assert "9. One value in the input file is corrected" in text
    assert "changed" in text


def test_existing_workspace_is_left_alone(tmp_path: Path) -> None:
    Workspace.init(tmp_path).close()
    assert demo_folder(tmp_path) == (tmp_path / "labledger-demo", True)
    (tmp_path / "labledger-demo").mkdir()
    assert demo_folder(tmp_path) == (tmp_path / "labledger-demo-2", True)
    assert demo_folder(tmp_path / "fresh") == (tmp_path / "fresh", False)


def test_sparkline_and_short_ids() -> None:
    assert sparkline([3.0, 2.0, 1.0]) == "█▅▁"
    assert sparkline([1.0, float("nan"), 3.0], ascii_only=True) == "_ #"
    assert len(sparkline([float(i) for i in range(100)], width=40)) == 40
    assert short_ids(["0190aaaa-1", "0190bbbb-2"]) == {
        "0190aaaa-1": "0190aaaa",
        "0190bbbb-2": "0190bbbb",
    }
    ids = ["01a1fd6d-5b16-aaaa", "01a1fd6d-5b17-bbbb", "ffffffff-0000-cccc"]
    assert short_ids(ids) == {
        ids[0]: "01a1fd6d-5b16",
        ids[1]: "01a1fd6d-5b17",
        ids[2]: "ffffffff",
    }


def test_tracking_quickstart_example(tmp_path: Path) -> None:
    script = REPO / "examples" / "tracking_quickstart.py"
    done = subprocess.run(
        [sys.executable, "-W", "error", str(script), str(tmp_path / "quickstart")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "toy-lr0.1" in done.stdout
    ws = Workspace.open(tmp_path / "quickstart")
    try:
        runs = labledger.search_runs(workspace=ws)
        assert {run.name for run in runs} == {"toy-lr0.01", "toy-lr0.1"}
        assert all(run.status == "finished" for run in runs)
    finally:
        ws.close()


def test_next_steps_ids_name_one_run_or_artifact_each(demo: Demo) -> None:
    import re

    text = demo.text
    lineage = re.search(r"labledger lineage (\S+) --up", text)
    reproduce_id = re.search(r"labledger reproduce (\S+) -w", text)
    show = re.search(r"labledger runs show (\S+) -w", text)
    assert lineage and reproduce_id and show
    assert labledger.get_artifact(lineage.group(1), workspace=demo.ws).id == (
        demo.result.pipeline.best_model_artifact_id
    )
    assert labledger.get_run(reproduce_id.group(1), workspace=demo.ws).id == (
        demo.result.pipeline.changed_run_id
    )
    assert labledger.get_run(show.group(1), workspace=demo.ws).id == demo.result.best_run_id
