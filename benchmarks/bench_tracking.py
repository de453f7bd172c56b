"""Experiment tracking, labledger against MLflow (SQLite backend), on the same workloads in one process.

Workloads:
  a. 10,000 single ``log_metric`` calls in one run;
  b. 10,000 values handed over in batches (MLflow ``log_batch``; labledger ``log_metrics``);
  c. 1,000 runs, each with 5 params and 5 metrics;
  d. a metric-filtered ``search_runs`` over the 1,000 runs of (c), and labledger alone over 100,000.

Both tools run with their defaults: MLflow writes to ``sqlite:///<tmp>/mlflow.db`` with artifacts in
the same folder; labledger to a fresh embedded workspace (SQLite catalog in WAL mode). Each tool gets
an untimed warm-up run first, so imports and database creation are not counted.

Run: ``.venv-bench/bin/python benchmarks/bench_tracking.py [--quick] [--json FILE]``.
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import statistics
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from _common import (
    MachineInfo,
    Result,
    console,
    format_value,
    median_seconds,
    print_header,
    print_results,
    scratch_dir,
    timed,
    write_json,
)

TARGET_LOG_METRIC_PER_S = 100_000
TARGET_1000_RUNS_S = 1.0
TARGET_SEARCH_100K_S = 0.100

PARAM_KEYS = ("learning_rate", "max_depth", "model", "seed", "batch_size")
METRIC_KEYS = ("auc", "loss", "accuracy", "f1", "precision")
SEARCH_FILTER = "metrics.auc > 0.8"
MAX_RESULTS = 1000


def run_params(rng: random.Random) -> dict[str, Any]:
    return {
        "learning_rate": rng.choice([0.001, 0.01, 0.1]),
        "max_depth": rng.randint(2, 12),
        "model": rng.choice(["gbm", "rf", "mlp"]),
        "seed": rng.randint(0, 10_000),
        "batch_size": rng.choice([32, 64, 128]),
    }


def run_metrics(rng: random.Random) -> dict[str, float]:
    return {key: rng.random() for key in METRIC_KEYS}


RunSpec = tuple[dict[str, Any], dict[str, float]]


def run_specs(count: int, rng: random.Random) -> list[RunSpec]:
    """Params and metrics of ``count`` runs; both tools log the same ones."""
    return [(run_params(rng), run_metrics(rng)) for _ in range(count)]


def medians(samples: list[tuple[float, float]]) -> tuple[float, float, float]:
    """Median call time, median end time and median total of (calls, end) samples."""
    return (
        statistics.median(c for c, _ in samples),
        statistics.median(e for _, e in samples),
        statistics.median(c + e for c, e in samples),
    )


# -- MLflow ----------------------------------------------------------------------------------


class MlflowSide:
    """MLflow with a SQLite tracking store and file artifacts under ``folder``."""

    def __init__(self, folder: Path) -> None:
        import mlflow
        from mlflow import MlflowClient

        # Set after the import: MLflow configures its loggers when it is imported.
        logging.getLogger("mlflow").setLevel(logging.WARNING)
        logging.getLogger("alembic").setLevel(logging.WARNING)

        self.mlflow = mlflow
        mlflow.set_tracking_uri(f"sqlite:///{folder}/mlflow.db")
        self.client = MlflowClient()
        self.artifacts = folder / "artifacts"
        self.logging_experiment = self.experiment("logging")
        self.runs_experiment = self.experiment("runs")
        # Warm-up: the first run pays for lazy imports and the first connection.
        self.mlflow.set_experiment(experiment_id=self.logging_experiment)
        with mlflow.start_run():
            mlflow.log_param("warm", "up")
            mlflow.log_metric("warm", 1.0)

    def experiment(self, name: str) -> str:
        return str(
            self.mlflow.create_experiment(name, artifact_location=(self.artifacts / name).as_uri())
        )

    def single_calls(self, count: int) -> tuple[float, float]:
        """Seconds for ``count`` ``log_metric`` calls, and for ending the run."""
        mlflow = self.mlflow
        mlflow.set_experiment(experiment_id=self.logging_experiment)
        mlflow.start_run()
        with timed() as calls:
            for step in range(count):
                mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
        with timed() as end:
            mlflow.end_run()
        return calls.seconds, end.seconds

    def batch(self, keys: int, steps: int) -> tuple[float, float]:
        """Seconds for one ``log_batch`` of keys x steps values, and for ending the run."""
        from mlflow.entities import Metric

        run = self.client.create_run(self.logging_experiment)
        now = int(time.time() * 1000)
        metrics = [
            Metric(f"m{k:03d}", 1.0 / (step + k + 1), now, step)
            for step in range(steps)
            for k in range(keys)
        ]
        with timed() as calls:
            self.client.log_batch(run.info.run_id, metrics=metrics)
        with timed() as end:
            self.client.set_terminated(run.info.run_id)
        return calls.seconds, end.seconds

    def many_runs(self, work: list[RunSpec]) -> float:
        mlflow = self.mlflow
        mlflow.set_experiment(experiment_id=self.runs_experiment)
        with timed() as watch:
            for params, metrics in work:
                with mlflow.start_run():
                    mlflow.log_params(params)
                    mlflow.log_metrics(metrics)
        return watch.seconds

    def search(self, repeat: int) -> tuple[float, int]:
        def action() -> list[Any]:
            return list(
                self.client.search_runs(
                    [self.runs_experiment], SEARCH_FILTER, max_results=MAX_RESULTS
                )
            )

        found = len(action())
        median, _ = median_seconds(action, repeat)
        return median, found


# -- labledger -------------------------------------------------------------------------------


class LabledgerSide:
    """labledger with fresh embedded workspaces under ``folder``."""

    def __init__(self, folder: Path) -> None:
        import labledger

        self.labledger = labledger
        self.folder = folder
        self.logging_workspace = self.workspace("logging")

    def workspace(self, name: str) -> Any:
        """A fresh workspace, made current, with an untimed warm-up run."""
        workspace = self.labledger.init(self.folder / name)
        with self.labledger.start_run("warm-up", params={"warm": "up"}):
            self.labledger.log_metric("warm", 1.0)
        return workspace

    def single_calls(self, count: int) -> tuple[float, float]:
        labledger = self.labledger
        labledger.set_workspace(self.logging_workspace)
        run = labledger.start_run()
        with timed() as calls:
            for step in range(count):
                labledger.log_metric("loss", 1.0 / (step + 1), step=step)
        with timed() as end:
            run.end()
        return calls.seconds, end.seconds

    def batch(self, keys: int, steps: int) -> tuple[float, float]:
        labledger = self.labledger
        labledger.set_workspace(self.logging_workspace)
        rows = [{f"m{k:03d}": 1.0 / (step + k + 1) for k in range(keys)} for step in range(steps)]
        run = labledger.start_run()
        with timed() as calls:
            for step, values in enumerate(rows):
                labledger.log_metrics(values, step=step)
        with timed() as end:
            run.end()
        return calls.seconds, end.seconds

    def many_runs(self, work: list[RunSpec], workspace: str, *, params_at_start: bool) -> float:
        """Seconds to log ``work`` as runs into a fresh workspace named ``workspace``."""
        labledger = self.labledger
        self.workspace(workspace)
        with timed() as watch:
            if params_at_start:
                for params, metrics in work:
                    with labledger.start_run(params=params):
                        labledger.log_metrics(metrics)
            else:
                for params, metrics in work:
                    with labledger.start_run():
                        labledger.log_params(params)
                        labledger.log_metrics(metrics)
        return watch.seconds

    def search(self, repeat: int) -> tuple[float, int]:
        """Median seconds of the filtered search in the current workspace, and the runs found."""

        def action() -> list[Any]:
            return self.labledger.search_runs(SEARCH_FILTER, max_results=MAX_RESULTS)

        found = len(action())
        median, _ = median_seconds(action, repeat)
        return median, found

    def populate(self, path: Path, count: int, rng: random.Random) -> tuple[float, int]:
        """Create ``count`` runs (5 params, 5 metrics) in the workspace at ``path``; return seconds."""
        labledger = self.labledger
        workspace = labledger.init(path)
        existing = len(labledger.search_runs(max_results=count + 1))
        todo = max(0, count - existing)
        if existing:
            console.print(f"reusing {existing:,} runs already in {path}")
        with (
            Progress(
                TextColumn("creating runs"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                console=console,
                transient=True,
            ) as progress,
            timed() as watch,
        ):
            task = progress.add_task("runs", total=todo)
            for done in range(1, todo + 1):
                with labledger.start_run(params=run_params(rng), workspace=workspace):
                    labledger.log_metrics(run_metrics(rng))
                if done % 250 == 0:
                    progress.update(task, completed=done)
        return watch.seconds, todo


# -- the benchmark ---------------------------------------------------------------------------


@dataclass
class Plan:
    single_calls: int
    peer_single_calls: int
    batch_keys: int
    batch_steps: int
    runs: int
    peer_runs: int
    large_runs: int
    repeat: int
    ours_repeat: int


def extrapolation_note(measured: int, full: int) -> str:
    return "" if measured == full else f"measured on {measured:,}, scaled to {full:,}"


def bench_logging(plan: Plan, ours: LabledgerSide, peer: MlflowSide) -> list[Result]:
    """Workloads a (single calls) and b (batch)."""
    n = plan.single_calls
    console.print(
        f"a. {n:,} single log_metric calls (labledger: median of {plan.ours_repeat} runs)..."
    )
    calls, end, both = medians([ours.single_calls(n) for _ in range(plan.ours_repeat)])
    peer_calls, peer_end = peer.single_calls(plan.peer_single_calls)
    scale = n / plan.peer_single_calls
    note = extrapolation_note(plan.peer_single_calls, n)
    group = f"a. {n:,} single log_metric calls, one run"
    results = [
        Result(
            group,
            "log_metric calls",
            n / calls,
            plan.peer_single_calls / peer_calls,
            "values/s",
            TARGET_LOG_METRIC_PER_S,
            note="labledger: calls only (buffered, not yet durable)",
            peer_note=note,
        ),
        Result(
            group,
            "end of run",
            end,
            peer_end,
            "s",
            note="labledger: flush of every buffered value + sealing the run",
        ),
        Result(
            group,
            "calls + end of run",
            n / both,
            n / (peer_calls * scale + peer_end),
            "values/s",
            TARGET_LOG_METRIC_PER_S,
            note="every value durable in the catalog",
            peer_note=note,
        ),
    ]

    keys, steps = plan.batch_keys, plan.batch_steps
    total = keys * steps
    console.print(
        f"b. a batch of {total:,} values ({keys} keys x {steps} steps) "
        f"(labledger: median of {plan.ours_repeat}, MLflow: median of 3)..."
    )
    calls, end, both = medians([ours.batch(keys, steps) for _ in range(plan.ours_repeat)])
    peer_calls, peer_end, peer_both = medians([peer.batch(keys, steps) for _ in range(3)])
    group = f"b. batch of {total:,} values"
    results += [
        Result(
            group,
            f"hand-over ({steps} log_metrics calls of {keys} keys / 1 log_batch)",
            total / calls,
            total / peer_calls,
            "values/s",
            note="labledger: buffered, not yet durable",
        ),
        Result(
            group,
            "hand-over + end of run",
            total / both,
            total / peer_both,
            "values/s",
            note="every value durable in the catalog",
        ),
    ]
    return results


def bench_runs(plan: Plan, ours: LabledgerSide, peer: MlflowSide) -> list[Result]:
    """Workloads c (many runs) and d (search over them)."""
    n = plan.runs
    work = run_specs(n, random.Random(20261121))
    repeat = max(1, plan.ours_repeat - 2)
    console.print(
        f"c. {n:,} runs with 5 params and 5 metrics (labledger: median of {repeat}, "
        "each in a fresh workspace)..."
    )
    same_shape = statistics.median(
        ours.many_runs(work, f"runs-{i}", params_at_start=False) for i in range(repeat)
    )
    params_at_start = statistics.median(
        ours.many_runs(work, f"params-at-start-{i}", params_at_start=True) for i in range(repeat)
    )
    peer_seconds = peer.many_runs(work[: plan.peer_runs])
    peer_scaled = peer_seconds * n / plan.peer_runs
    note = extrapolation_note(plan.peer_runs, n)
    group = f"c. {n:,} runs, 5 params + 5 metrics each"
    results = [
        Result(
            group,
            "start_run; log_params; log_metrics; end",
            same_shape,
            peer_scaled,
            "s",
            TARGET_1000_RUNS_S,
            note="same calls as MLflow's fluent API",
            peer_note=note,
        ),
        Result(
            group,
            "start_run(params=...); log_metrics; end",
            params_at_start,
            peer_scaled,
            "s",
            TARGET_1000_RUNS_S,
            note="labledger's one-transaction form",
            peer_note=note,
        ),
    ]

    console.print(f"d. search_runs({SEARCH_FILTER!r}), median of {plan.repeat}...")
    group = f"d. search_runs('{SEARCH_FILTER}'), max_results={MAX_RESULTS}"
    ours.labledger.open_workspace(ours.folder / "runs-0")
    ours_search, ours_found = ours.search(plan.repeat)
    peer_search, peer_found = peer.search(plan.repeat)
    peer_note = "" if plan.peer_runs == n else f"over {plan.peer_runs:,} runs; "
    results.append(
        Result(
            group,
            f"over {n:,} runs",
            ours_search,
            peer_search,
            "s",
            note=f"labledger returned {ours_found:,} runs",
            peer_note=f"{peer_note}returned {peer_found:,}",
        ),
    )
    return results


def bench(plan: Plan, tmp: str | None, keep: bool, large_workspace: str | None) -> list[Result]:
    with (
        scratch_dir(tmp, "bench-mlflow-", keep=keep) as ml_dir,
        scratch_dir(tmp, "bench-labledger-", keep=keep) as ours_dir,
    ):
        console.print("setting up MLflow and labledger (untimed warm-up runs)...")
        peer = MlflowSide(ml_dir)
        ours = LabledgerSide(ours_dir)
        results = bench_logging(plan, ours, peer)
        results += bench_runs(plan, ours, peer)
    if plan.large_runs:
        results += bench_large_search(
            plan=plan, tmp=tmp, keep=keep, large_workspace=large_workspace
        )
    return results


def bench_large_search(
    *, plan: Plan, tmp: str | None, keep: bool, large_workspace: str | None
) -> list[Result]:
    """Workload d on a large workspace (labledger only)."""
    n = plan.large_runs
    group = f"d. search_runs('{SEARCH_FILTER}'), max_results={MAX_RESULTS}"
    console.print(
        f"d. creating {n:,} runs for the large search (about a millisecond or two each)..."
    )
    with scratch_dir(tmp, "bench-labledger-large-", keep=keep) as scratch:
        ours = LabledgerSide(scratch)
        path = Path(large_workspace) if large_workspace else scratch / "large"
        seconds, created = ours.populate(path, n, random.Random(n))
        results = []
        if created:
            results.append(
                Result(
                    group,
                    f"creating {created:,} runs (setup, for information)",
                    created / seconds,
                    None,
                    "runs/s",
                    note="start_run(params=...) + log_metrics, 5 params + 5 metrics",
                ),
            )
        search, found = ours.search(plan.repeat)
        everything = len(ours.labledger.search_runs(SEARCH_FILTER, max_results=n))
        results.append(
            Result(
                group,
                f"over {n:,} runs",
                search,
                None,
                "s",
                TARGET_SEARCH_100K_S,
                note=f"returned {found:,} of {everything:,} matching runs"
                + (f" (capped by max_results={MAX_RESULTS:,})" if found < everything else ""),
            ),
        )
        unlimited, _ = median_seconds(
            lambda: ours.labledger.search_runs(SEARCH_FILTER, max_results=n),
            max(3, plan.repeat // 2),
        )
        results.append(
            Result(
                group,
                f"over {n:,} runs, all {everything:,} matches returned",
                unlimited,
                None,
                "s",
                note=f"max_results={n:,}; for information",
            ),
        )
        catalog = path / ".labledger" / "catalog.db"
        if catalog.exists():
            console.print(f"catalog with {n:,} runs: {catalog.stat().st_size / 1e6:,.0f} MB")
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="MLflow on 1,000 log_metric calls and 100 runs, scaled up (labledger full)",
    )
    parser.add_argument(
        "--large-runs",
        type=int,
        default=100_000,
        help="runs in the large search workspace (0 skips it)",
    )
    parser.add_argument("--large-workspace", help="keep the large workspace here and reuse it")
    parser.add_argument("--repeat", type=int, default=7, help="repetitions of each search")
    parser.add_argument(
        "--ours-repeat", type=int, default=5, help="labledger repetitions of workloads a and b"
    )
    parser.add_argument("--tmp", help="folder for the scratch workspaces (default: system temp)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folders")
    parser.add_argument("--json", help="also write the figures to this JSON file")
    args = parser.parse_args()

    warnings.filterwarnings("ignore")  # MLflow's deprecation notices are not what is measured
    os.environ.setdefault("MLFLOW_ENABLE_ASYNC_LOGGING", "false")
    plan = Plan(
        single_calls=10_000,
        peer_single_calls=1_000 if args.quick else 10_000,
        batch_keys=100,
        batch_steps=100,
        runs=1_000,
        peer_runs=100 if args.quick else 1_000,
        large_runs=args.large_runs,
        repeat=args.repeat,
        ours_repeat=args.ours_repeat,
    )
    info = MachineInfo.collect(["labledger", "mlflow", "sqlalchemy"])
    print_header("labledger vs MLflow: experiment tracking", info)
    if args.quick:
        console.print(
            "[yellow]--quick: MLflow figures are measured on fewer calls/runs and "
            "scaled linearly (marked in the table)[/yellow]"
        )
    with timed() as total:
        results = bench(plan, args.tmp, args.keep, args.large_workspace)
    print_results("labledger vs MLflow (SQLite)", "MLflow", results)
    console.print(
        "ratio: how many times faster labledger is. Batch (b): MLflow hands all values over in one "
        "log_batch call; labledger has no bulk call beyond log_metrics(dict, step), so it makes "
        f"{plan.batch_steps} calls of {plan.batch_keys} keys. Both are timed to the point where every "
        "value is durable ('+ end of run')."
    )
    console.print(f"total time {format_value(total.seconds, 's')}")
    write_json(args.json, info, results, plan=plan.__dict__)


if __name__ == "__main__":
    main()
