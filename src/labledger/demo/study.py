"""The demo study, step by step: ingest, describe, train, search, compare, collect, verify.

It builds a fresh workspace from data that ships with scikit-learn and uses only the public API,
passing the workspace explicitly, so the process's current workspace is left as it was.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console

import labledger
from labledger._foundation.settings import WORKSPACE_DIRNAME
from labledger.demo import report
from labledger.demo.pipeline_tour import PipelineTour, run_pipeline_tour
from labledger.demo.proof import ProofStep, prove_best_model
from labledger.workspace import Workspace, schema
from labledger.workspace.lookup import unique_prefixes
from labledger.workspace.verify import verify_workspace

if TYPE_CHECKING:
    from labledger.demo.models import Cohort, ModelSpec

__all__ = ["LEADERBOARD_FILTER", "SEARCH_FILTER", "SEARCH_ORDER", "DemoResult", "run_demo"]

TEAM = "pathology-ml"
STUDY = "wdbc-biopsy"
LEADERBOARD_FILTER = f'kind = "run" and tags.study = "{STUDY}"'
SEARCH_FILTER = 'metrics.auc > 0.95 and tags.family = "tree"'
SEARCH_ORDER = ("metrics.auc desc",)
CURVE_KEYS = ("val_auc", "val_log_loss")


@dataclass(frozen=True, slots=True)
class DemoResult:
    """What the demo built.

    Attributes:
        workspace: The folder holding the demo's ``.labledger`` workspace.
        ingest_run_id: The run that registered the dataset.
        dataset_artifact_id: The registered biopsy table.
        run_ids: The model runs, in training order.
        best_run_id: The model run with the highest test AUC.
        runner_up_run_id: The second best model run.
        search_hit_ids: Runs matching ``SEARCH_FILTER``, best AUC first.
        collection: The collection holding the best run and the dataset.
        verify_ok: Whether ``verify_workspace`` found no problem.
        ledger_entries: How many ledger entries verification checked.
        proof: The checkpoint and the best model's inclusion proof, checked in a fresh process.
        pipeline: What the pipeline part did (cached re-run, changed parameter, reproduce).
        elapsed_s: Wall time of the whole demo.
    """

    workspace: Path
    ingest_run_id: str
    dataset_artifact_id: str
    run_ids: tuple[str, ...]
    best_run_id: str
    runner_up_run_id: str
    search_hit_ids: tuple[str, ...]
    collection: str
    verify_ok: bool
    ledger_entries: int
    proof: ProofStep
    pipeline: PipelineTour
    elapsed_s: float


def demo_folder(path: Path) -> tuple[Path, bool]:
    """Where to build the workspace: ``path``, or a new sub-folder when ``path`` holds one already.

    Returns:
        The folder, and whether it differs from ``path``.
    """
    base = path.parent if path.name == WORKSPACE_DIRNAME else path
    if not (base / WORKSPACE_DIRNAME).exists():
        return base, False
    for number in range(1, 1000):
        candidate = base / ("labledger-demo" if number == 1 else f"labledger-demo-{number}")
        if not candidate.exists():
            return candidate, True
    raise labledger.WorkspaceError(
        f"{base} already holds a workspace and 999 demo folders",
        hint="pass another --path to build the demo in",
    )


def _ingest(ws: Workspace, cohort: Cohort) -> tuple[labledger.Run, labledger.Artifact]:
    import sklearn

    from labledger.demo.models import DATASET_SOURCE, SEED, TEST_FRACTION

    table = cohort.table
    params = {
        "source": DATASET_SOURCE,
        "source_version": f"scikit-learn {sklearn.__version__}",
        "rows": len(table),
        "features": len(cohort.features),
        "malignant": int(table["malignant"].sum()),
        "benign": int((table["malignant"] == 0).sum()),
        "train_rows": int((table["split"] == "train").sum()),
        "test_rows": int((table["split"] == "test").sum()),
        "test_fraction": TEST_FRACTION,
        "split_seed": SEED,
    }
    tags = {"team": TEAM, "study": STUDY}
    with labledger.start_run(
        "ingest-wdbc", params=params, tags=tags, kind="ingest", workspace=ws
    ) as run:
        dataset = run.log_artifact(table, "wdbc-biopsies")
    return labledger.get_run(run.id, workspace=ws), dataset


def _train_one(ws: Workspace, spec: ModelSpec, cohort: Cohort, dataset: labledger.Artifact) -> str:
    from labledger.demo import models, plots

    params = {
        "estimator": spec.estimator,
        **spec.hyperparams,
        "dataset": dataset.id,
        "dataset_digest": dataset.digest,
        "train_rows": len(cohort.y("train")),
        "test_rows": len(cohort.y("test")),
        "threshold": 0.5,
        "random_state": models.SEED,
    }
    tags = {"team": TEAM, "study": STUDY, "family": spec.family, "model": spec.estimator}
    with labledger.start_run(spec.name, params=params, tags=tags, workspace=ws) as run:
        trained = models.train(spec, cohort)
        for key, curve in trained.curves.items():
            for step, value in curve:
                run.log_metric(key, value, step=step)
        run.log_metrics(models.final_metrics(cohort.y("test"), trained.proba) | trained.summary)
        run.log_artifact(models.predictions_table(cohort, trained.proba), "predictions")
        run.log_artifact(models.confusion(cohort, trained.proba), "confusion_matrix")
        run.log_artifact(trained.importances, "feature_importance")
        figure = plots.roc_figure(cohort.y("test"), trained.proba, title=spec.name)
        if figure is not None:
            run.log_artifact(figure, "roc_curve")
    return run.id


def _train_all(
    ws: Workspace, cohort: Cohort, dataset: labledger.Artifact, console: Console
) -> tuple[str, ...]:
    from labledger.demo.models import MODEL_SPECS

    run_ids = []
    with report.training_progress(console) as progress:
        task = progress.add_task("training", total=len(MODEL_SPECS))
        for spec in MODEL_SPECS:
            progress.update(task, description=f"training {spec.name}")
            run_ids.append(_train_one(ws, spec, cohort, dataset))
            progress.advance(task)
        progress.update(task, description=f"trained {len(MODEL_SPECS)} models")
    return tuple(run_ids)


def _curve_axis(run: labledger.Run) -> str:
    from labledger.demo.models import MODEL_SPECS

    return next((s.curve_axis for s in MODEL_SPECS if s.name == run.name), "step")


def run_demo(path: Path, *, console: Console | None = None) -> DemoResult:
    """Build the demo workspace at ``path`` and print what each step did.

    The study registers the biopsy dataset, describes it with metadata, trains six classifiers as
    tracked runs, searches and compares them, collects the best one with its dataset, and verifies
    the workspace. If ``path`` already holds a workspace, a new sub-folder is used instead and
    nothing already there is changed.

    Args:
        path: Folder for the workspace (``.labledger`` is created inside it).
        console: Where the report goes; defaults to the terminal.

    Returns:
        The ids of what was built and the verification outcome.
    """
    from labledger.demo import curation, models

    started = time.perf_counter()
    console = console or Console()
    folder, moved = demo_folder(Path(path))
    ws = Workspace.init(folder)
    try:
        report.print_header(console, folder, requested=Path(path) if moved else None)
        cohort = models.load_cohort()
        ingest_run, dataset = _ingest(ws, cohort)
        report.print_ingest(console, ingest_run, dataset)
        report.print_metadata(console, curation.describe_dataset(ws, ingest_run, dataset))

        run_ids = _train_all(ws, cohort, dataset, console)
        leaderboard = labledger.search_runs(
            LEADERBOARD_FILTER, order_by=["metrics.auc desc", "metrics.log_loss asc"], workspace=ws
        )
        best, runner_up = leaderboard[0], leaderboard[1]
        report.print_runs(console, leaderboard, best.id)

        hits = labledger.search_runs(SEARCH_FILTER, order_by=list(SEARCH_ORDER), workspace=ws)
        report.print_search(console, SEARCH_FILTER, SEARCH_ORDER, hits)

        comparison = labledger.compare_runs([best.id, runner_up.id], workspace=ws)
        report.print_comparison(console, comparison)
        curves = {
            key: labledger.get_metric_history(best.id, key, workspace=ws) for key in CURVE_KEYS
        }
        report.print_learning_curve(console, best, curves, _curve_axis(best))

        collection = curation.collect(ws, best, dataset)
        report.print_collection(console, collection)

        tour = run_pipeline_tour(ws, console)

        verification = verify_workspace(ws)
        report.print_verification(console, verification)
        proof = prove_best_model(ws, folder, tour.best_model_artifact_id)
        report.print_proof(console, proof)
        elapsed = time.perf_counter() - started
        with ws.read() as conn:
            shown = unique_prefixes(
                conn, [best.id, runner_up.id, tour.changed_run_id], [schema.runs], minimum=13
            )
            shown |= unique_prefixes(
                conn, [tour.best_model_artifact_id], [schema.artifacts], minimum=13
            )
        report.print_next_steps(
            console,
            folder,
            best_id=best.id,
            runner_up_id=runner_up.id,
            search_filter=SEARCH_FILTER,
            pipeline_run_id=tour.changed_run_id,
            model_artifact_id=tour.best_model_artifact_id,
            model_file=proof.model.name,
            shown=shown,
            seconds=elapsed,
        )
    finally:
        ws.close()
    return DemoResult(
        workspace=folder,
        ingest_run_id=ingest_run.id,
        dataset_artifact_id=dataset.id,
        run_ids=run_ids,
        best_run_id=best.id,
        runner_up_run_id=runner_up.id,
        search_hit_ids=tuple(run.id for run in hits),
        collection=collection.name,
        verify_ok=verification.ok,
        ledger_entries=verification.entries_checked,
        proof=proof,
        pipeline=tour,
        elapsed_s=elapsed,
    )
