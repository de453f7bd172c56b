"""Pipeline orchestration, labledger against Kedro's SequentialRunner, on the same trivial graphs.

Workloads:
  1. per-step overhead of a run with tracking: a *chain* (each step ``x + 1`` of the previous one)
     and a *fan* (independent ``x + 1`` steps feeding one sum), at 200, 800 and 2,000 steps, each
     run in a fresh workspace with the cache on but empty;
  2. a fully cached re-run of a 1,000-step chain and fan (the first run is not timed);
  3. ``DaskExecutor`` overhead per task: the 200-step fan with ``cache=False`` on a LocalCluster of
     2 worker processes, against ``LocalExecutor`` on the same fan and workspace;
  4. Kedro ``SequentialRunner`` on the same chain and fan, with ``MemoryDataset`` in between and
     Kedro's loggers at WARNING.

Every step is trivial, so the figures are the cost of orchestration: tracing the graph, cache keys
and lookups, storing every output durably in the blob store, recording tasks and lineage in the
catalog, and sealing the run. Kedro keeps outputs in memory and records nothing, so the ratio
compares different amounts of work. Each side gets an untimed warm-up run first.

Run: ``.venv-bench/bin/python benchmarks/bench_pipeline.py [--quick] [--profile] [--json FILE]``.
"""

from __future__ import annotations

import argparse
import cProfile
import logging
import os
import pstats
import statistics
import sys
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rich.table import Table

from _common import (
    MachineInfo,
    Result,
    console,
    format_value,
    print_header,
    print_results,
    scratch_dir,
    timed,
    write_json,
)
from labledger.pipelines import pipeline, step

if TYPE_CHECKING:
    from pathlib import Path

    from labledger.pipelines import Pipeline, PipelineRun
    from labledger.workspace.workspace import Workspace

TARGET_PER_STEP_S = 0.3e-3
TARGET_CACHED_RERUN_S = 0.5
TARGET_DASK_PER_TASK_S = 5e-3

SHAPES = ("chain", "fan")


# -- the graphs, as labledger pipelines ------------------------------------------------------
# Module level, so that labledger can fingerprint their source (and Dask workers unpickle them).


@step
def inc(x: int) -> int:
    return x + 1


@step
def total(values: list[int]) -> int:
    return sum(values)


@pipeline
def chain(steps: int = 200) -> Any:
    """``steps`` steps, each adding one to the output of the one before."""
    value = inc(0)
    for _ in range(steps - 1):
        value = inc(value)
    return value


@pipeline
def fan(steps: int = 200) -> Any:
    """``steps - 1`` independent steps, then one step summing all their outputs."""
    return total([inc(i) for i in range(steps - 1)])


PIPELINES: dict[str, Pipeline] = {"chain": chain, "fan": fan}


def expected(shape: str, steps: int) -> int:
    """The value the last step of a graph returns."""
    return steps if shape == "chain" else sum(i + 1 for i in range(steps - 1))


def final_value(run: PipelineRun) -> Any:
    return run.load(list(run.tasks)[-1])


def group_name(shape: str) -> str:
    if shape == "chain":
        return "1. chain: N steps, each x + 1 of the previous (fresh workspace, cache on, empty)"
    return "1. fan: N - 1 independent x + 1 steps, then one sum (fresh workspace, cache on, empty)"


# -- labledger -------------------------------------------------------------------------------


class LabledgerSide:
    """labledger pipelines, each repetition in a fresh embedded workspace under ``folder``."""

    def __init__(self, folder: Path) -> None:
        import labledger

        self.labledger = labledger
        self.folder = folder
        self.count = 0
        # Warm-up: imports, the steps' code fingerprints and the parameter validators.
        for shape, pipe in PIPELINES.items():
            with self.workspace(f"warm-up-{shape}") as ws:
                pipe.run(workspace=ws, steps=20)

    def workspace(self, name: str) -> Workspace:
        self.count += 1
        workspace: Workspace = self.labledger.init(self.folder / f"{self.count:03d}-{name}")
        return workspace

    def run(self, shape: str, steps: int, *, fsync: bool = True) -> float:
        """Seconds of one run of a fresh graph (nothing cached) in a fresh workspace.

        ``fsync=False`` turns off the blob store's flush to disk: not durable, only to show what
        durability costs.
        """
        with self.workspace(f"{shape}-{steps}") as ws:
            if not fsync:
                ws.store.fsync = False  # type: ignore[attr-defined]
            settle()
            with timed() as watch:
                run = PIPELINES[shape].run(workspace=ws, steps=steps)
            check(run, shape, steps, executed=steps)
        return watch.seconds

    def cached_rerun(self, shape: str, steps: int) -> float:
        """Seconds of a second run of the same graph, every step answered from the cache."""
        with self.workspace(f"cached-{shape}-{steps}") as ws:
            PIPELINES[shape].run(workspace=ws, steps=steps)
            settle()
            with timed() as watch:
                run = PIPELINES[shape].run(workspace=ws, steps=steps)
            check(run, shape, steps, cached=steps)
        return watch.seconds

    def profile(self, shape: str, steps: int) -> Profile:
        """A cProfile of one fresh run."""
        with self.workspace(f"profile-{shape}-{steps}") as ws:
            profiler = cProfile.Profile()
            with timed() as watch:
                profiler.enable()
                run = PIPELINES[shape].run(workspace=ws, steps=steps)
                profiler.disable()
            check(run, shape, steps, executed=steps)
        return Profile(
            f"one {shape} of {steps:,} steps", pstats.Stats(profiler), steps, watch.seconds
        )


def settle() -> None:
    """Flush what earlier runs left in the page cache, so a timed run pays for its own writes only.

    labledger makes a batch of outputs durable with one sync of the filesystem, which also flushes
    whatever else is waiting: without this, a run timed after one with fsync off would pay for that
    one's writes as well.
    """
    os.sync()


def check(run: PipelineRun, shape: str, steps: int, *, executed: int = 0, cached: int = 0) -> None:
    """Fail loudly when a run did not do the work it is timed for."""
    problems = []
    if run.status != "finished" or len(run.tasks) != steps:
        problems.append(f"status {run.status}, {len(run.tasks)} tasks")
    if len(run.executed) != executed or len(run.cached) != cached:
        problems.append(f"{len(run.executed)} executed, {len(run.cached)} cached")
    if final_value(run) != expected(shape, steps):
        problems.append(f"returned {final_value(run)!r}")
    if problems:
        raise RuntimeError(f"{shape} of {steps} steps: " + "; ".join(problems))


# -- Dask ------------------------------------------------------------------------------------


@dataclass
class DaskFigures:
    local: float
    dask: float
    modules: int
    profile: Profile | None = None

    def per_task(self, steps: int) -> float:
        return (self.dask - self.local) / steps


def bench_dask(folder: Path, steps: int, repeat: int, *, profile: bool) -> DaskFigures:
    """The fan on ``LocalExecutor`` and on ``DaskExecutor``, alternately, in one workspace.

    The cluster is started (and a first run ships the steps to the workers) before any timing.
    Both executors run with ``cache=False`` after a warm-up run stored every output, so both find
    the same blobs in the store and neither pays for first writes. ``profile`` adds one profiled
    Dask run (client side) after the timed ones.
    """
    import distributed

    import labledger
    from labledger.pipelines import DaskExecutor, LocalExecutor

    cluster = distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        dashboard_address="127.0.0.1:0",
        silence_logs=logging.ERROR,
    )
    client = distributed.Client(cluster)
    try:
        with labledger.init(folder / "dask") as ws:
            fan.run(workspace=ws, steps=steps)
            fan.run(workspace=ws, steps=steps, executor=DaskExecutor(client), cache=False)
            local, remote = [], []
            for _ in range(repeat):
                settle()
                with timed() as watch:
                    run = fan.run(workspace=ws, steps=steps, executor=LocalExecutor(), cache=False)
                check(run, "fan", steps, executed=steps)
                local.append(watch.seconds)
                settle()
                with timed() as watch:
                    run = fan.run(
                        workspace=ws, steps=steps, executor=DaskExecutor(client), cache=False
                    )
                check(run, "fan", steps, executed=steps)
                remote.append(watch.seconds)
            figures = DaskFigures(
                statistics.median(local), statistics.median(remote), len(sys.modules)
            )
            if profile:
                profiler = cProfile.Profile()
                with timed() as watch:
                    profiler.enable()
                    fan.run(workspace=ws, steps=steps, executor=DaskExecutor(client), cache=False)
                    profiler.disable()
                figures.profile = Profile(
                    f"one DaskExecutor run of the fan of {steps:,} steps (client process)",
                    pstats.Stats(profiler),
                    steps,
                    watch.seconds,
                )
    finally:
        client.close()
        cluster.close()
    return figures


# -- Kedro -----------------------------------------------------------------------------------


def kedro_inc(x: int) -> int:
    return x + 1


def kedro_total(*values: int) -> int:
    return sum(values)


@dataclass
class KedroTiming:
    build: float
    run: float

    @property
    def total(self) -> float:
        return self.build + self.run


class KedroSide:
    """Kedro's ``SequentialRunner`` with every dataset a ``MemoryDataset``."""

    def __init__(self) -> None:
        from kedro.io import DataCatalog
        from kedro.pipeline import Pipeline, node
        from kedro.runner import SequentialRunner

        try:
            from kedro.io import MemoryDataset
        except ImportError:  # Kedro before 0.18.12 spelt it MemoryDataSet
            from kedro.io import MemoryDataSet as MemoryDataset  # type: ignore[attr-defined]

        # After the import: Kedro configures its loggers (at INFO, through rich) when imported.
        for name in ("kedro", "kedro.runner", "kedro.io", "kedro.pipeline", "kedro.framework"):
            logging.getLogger(name).setLevel(logging.WARNING)

        self.catalog_type = DataCatalog
        self.pipeline_type = Pipeline
        self.node = node
        self.runner_type = SequentialRunner
        self.memory = MemoryDataset
        for shape in SHAPES:
            self.run(shape, 20)

    def build(self, shape: str, steps: int) -> tuple[Any, Any, str]:
        """The pipeline, its catalog and the name of its final output."""
        node, memory = self.node, self.memory
        if shape == "chain":
            nodes = [node(kedro_inc, f"x{i}", f"x{i + 1}", name=f"inc_{i}") for i in range(steps)]
            datasets = {"x0": memory(0)}
            last = f"x{steps}"
        else:
            leaves = steps - 1
            nodes = [node(kedro_inc, f"a{i}", f"b{i}", name=f"inc_{i}") for i in range(leaves)]
            nodes.append(node(kedro_total, [f"b{i}" for i in range(leaves)], "sum", name="total"))
            datasets = {f"a{i}": memory(i) for i in range(leaves)}
            last = "sum"
        return self.pipeline_type(nodes), self.catalog_type(datasets), last

    def run(self, shape: str, steps: int) -> KedroTiming:
        """Seconds to build the nodes, pipeline and catalog, and to run them."""
        with timed() as building:
            pipe, catalog, last = self.build(shape, steps)
        with timed() as running:
            outputs = self.runner_type().run(pipe, catalog)
        # Kedro 0.19 returns the free outputs' values, 1.x their datasets.
        value = outputs[last]
        value = value.load() if hasattr(value, "load") else value
        if value != expected(shape, steps):
            raise RuntimeError(f"Kedro {shape} of {steps} nodes returned {value!r}")
        return KedroTiming(building.seconds, running.seconds)


# -- the benchmark ---------------------------------------------------------------------------


@dataclass
class Plan:
    sizes: list[int]
    repeat: int
    cached_steps: int
    cached_repeat: int
    dask_steps: int
    dask_repeat: int
    kedro_sizes: list[int]
    kedro_repeat: int
    kedro_budget_s: float
    profile_steps: int


@dataclass
class Figures:
    """Medians per (shape, steps), in seconds for the whole run."""

    ours: dict[tuple[str, int], float] = field(default_factory=dict)
    kedro: dict[tuple[str, int], KedroTiming] = field(default_factory=dict)
    kedro_skipped: dict[tuple[str, int], str] = field(default_factory=dict)
    no_fsync: dict[tuple[str, int], float] = field(default_factory=dict)
    cached: dict[str, float] = field(default_factory=dict)
    dask: DaskFigures | None = None


def median_timing(samples: list[KedroTiming]) -> KedroTiming:
    return KedroTiming(
        statistics.median(s.build for s in samples), statistics.median(s.run for s in samples)
    )


def bench_kedro(plan: Plan, figures: Figures) -> None:
    console.print("setting up Kedro (untimed warm-up runs)...")
    kedro = KedroSide()
    for shape in SHAPES:
        previous: tuple[int, float] | None = None
        for steps in plan.kedro_sizes:
            if previous is not None:
                # Kedro's time per node grows with the graph: extrapolate the last size's run
                # quadratically to decide whether the next size fits the budget.
                size, seconds = previous
                guess = seconds * (steps / size) ** 2
                if guess > plan.kedro_budget_s:
                    figures.kedro_skipped[shape, steps] = (
                        f"skipped: about {guess:.0f} s a run expected"
                    )
                    console.print(f"4. Kedro {shape} of {steps:,} nodes skipped ({guess:.0f} s)")
                    continue
            console.print(f"4. Kedro {shape} of {steps:,} nodes (median of {plan.kedro_repeat})...")
            timing = median_timing([kedro.run(shape, steps) for _ in range(plan.kedro_repeat)])
            figures.kedro[shape, steps] = timing
            previous = (steps, timing.total)


def bench(plan: Plan, tmp: str | None, keep: bool) -> tuple[Figures, list[Profile]]:
    figures = Figures()
    profiles: list[Profile] = []
    with scratch_dir(tmp, "bench-pipeline-", keep=keep) as folder:
        console.print("setting up labledger (untimed warm-up runs)...")
        ours = LabledgerSide(folder)
        for shape in SHAPES:
            for steps in plan.sizes:
                console.print(
                    f"1. labledger {shape} of {steps:,} steps (median of {plan.repeat})..."
                )
                figures.ours[shape, steps] = statistics.median(
                    ours.run(shape, steps) for _ in range(plan.repeat)
                )
            steps = max(plan.sizes)
            console.print(f"1. labledger {shape} of {steps:,} steps with fsync off...")
            figures.no_fsync[shape, steps] = statistics.median(
                ours.run(shape, steps, fsync=False) for _ in range(plan.repeat)
            )
        for shape in SHAPES:
            console.print(
                f"2. labledger cached re-run of a {shape} of {plan.cached_steps:,} steps "
                f"(median of {plan.cached_repeat})..."
            )
            figures.cached[shape] = statistics.median(
                ours.cached_rerun(shape, plan.cached_steps) for _ in range(plan.cached_repeat)
            )
        if plan.dask_repeat:
            console.print(
                f"3. DaskExecutor vs LocalExecutor, fan of {plan.dask_steps:,} steps, "
                f"cache=False (median of {plan.dask_repeat})..."
            )
            figures.dask = bench_dask(
                folder, plan.dask_steps, plan.dask_repeat, profile=bool(plan.profile_steps)
            )
        if plan.profile_steps:
            console.print(f"profiling a chain of {plan.profile_steps:,} steps...")
            profiles.append(ours.profile("chain", plan.profile_steps))
        if figures.dask is not None and figures.dask.profile is not None:
            profiles.append(figures.dask.profile)
    # Kedro last: importing it adds several hundred modules, which the Dask figures would feel.
    if plan.kedro_repeat:
        bench_kedro(plan, figures)
    return figures, profiles


def results(plan: Plan, figures: Figures) -> list[Result]:
    rows: list[Result] = []
    for shape in SHAPES:
        base = figures.ours.get((shape, min(plan.sizes)))
        for steps in plan.sizes:
            seconds = figures.ours[shape, steps]
            per_step = seconds / steps
            note = f"whole run {format_value(seconds, 's')}"
            if base is not None and steps != min(plan.sizes):
                note += f"; {per_step / (base / min(plan.sizes)):.2f}x the {min(plan.sizes):,}-step figure"
            kedro = figures.kedro.get((shape, steps))
            peer_note = figures.kedro_skipped.get((shape, steps), "")
            if kedro is not None:
                peer_note = (
                    f"run() alone {format_value(kedro.run / steps, 's')}; "
                    f"whole {format_value(kedro.total, 's')}"
                )
            rows.append(
                Result(
                    group_name(shape),
                    f"{shape}, {steps:,} steps: per step",
                    per_step,
                    kedro.total / steps if kedro else None,
                    "s",
                    TARGET_PER_STEP_S,
                    note=note,
                    peer_note=peer_note,
                )
            )
        for (name, steps), seconds in figures.no_fsync.items():
            if name != shape:
                continue
            kedro = figures.kedro.get((shape, steps))
            rows.append(
                Result(
                    group_name(shape),
                    f"{shape}, {steps:,} steps, blob store fsync off: per step",
                    seconds / steps,
                    kedro.total / steps if kedro else None,
                    "s",
                    note="NOT durable; shows what flushing every output to disk costs",
                )
            )
    for shape, seconds in figures.cached.items():
        rows.append(
            Result(
                f"2. fully cached re-run of {plan.cached_steps:,} steps",
                f"{shape} of {plan.cached_steps:,} steps: whole second run",
                seconds,
                None,
                "s",
                TARGET_CACHED_RERUN_S,
                note=f"{format_value(seconds / plan.cached_steps, 's')} per step; every step cached",
                peer_note="no cache",
            )
        )
    if figures.dask is not None:
        dask, steps = figures.dask, plan.dask_steps
        group = f"3. fan of {steps:,} steps, cache=False, LocalCluster of 2 worker processes"
        rows += [
            Result(group, f"fan of {steps:,}, LocalExecutor: whole run", dask.local, None, "s"),
            Result(group, f"fan of {steps:,}, DaskExecutor: whole run", dask.dask, None, "s"),
            Result(
                group,
                "DaskExecutor overhead per task: (dask - local) / steps",
                dask.per_task(steps),
                None,
                "s",
                TARGET_DASK_PER_TASK_S,
                note=f"{dask.modules:,} modules imported in the client process",
            ),
        ]
    return rows


# -- profile ---------------------------------------------------------------------------------


AREAS = (
    ("posix.fsync", "fsync of each new blob"),
    ("sqlite3.", "SQLite (C calls)"),
    ("posix.", "other file-system calls (temp files, mkdir, rename, stat)"),
    ("/sqlalchemy/", "SQLAlchemy (Python)"),
    ("/labledger/", "labledger (Python)"),
    ("/site-packages/", "other libraries (Python)"),
    ("~ ", "other built-ins (C: isinstance, dict, str, hashing ...)"),
)


def area_of(filename: str, function: str) -> str:
    """Which part of the stack a profiled function belongs to."""
    where = f"{filename} {function}"
    for marker, area in AREAS:
        if marker in where:
            return area
    return "Python standard library (pathlib, json, tempfile, inspect ...)"


@dataclass
class Profile:
    """A cProfile of one run of ``steps`` steps, ``seconds`` long under the profiler."""

    what: str
    stats: pstats.Stats
    steps: int
    seconds: float

    def rows(self) -> list[tuple[str, int, float]]:
        """(function, calls, own seconds) for every profiled function."""
        table = self.stats.stats  # type: ignore[attr-defined]
        rows = []
        for (filename, line, function), (_, calls, own, _, _) in table.items():
            name = function if filename == "~" else f"{shorten(filename)}:{line}({function})"
            rows.append((name, calls, own))
        return rows

    def cumulative(self) -> list[tuple[str, int, float]]:
        """(function, calls, cumulative seconds) of labledger's functions, largest first."""
        table = self.stats.stats  # type: ignore[attr-defined]
        rows = [
            (f"{shorten(filename)}:{line}({function})", calls, cumulative)
            for (filename, line, function), (_, calls, _, cumulative, _) in table.items()
            if "/labledger/" in filename
        ]
        return sorted(rows, key=lambda row: -row[2])

    def areas(self) -> dict[str, float]:
        table = self.stats.stats  # type: ignore[attr-defined]
        areas: dict[str, float] = {}
        for (filename, _, function), (_, _, own, _, _) in table.items():
            area = area_of(filename, function)
            areas[area] = areas.get(area, 0.0) + own
        return dict(sorted(areas.items(), key=lambda item: -item[1]))

    def print(self, top: int = 15) -> None:
        total = sum(self.areas().values())
        table = Table(
            title=f"cProfile of {self.what} ({self.seconds:.2f} s under the profiler): "
            "own time by area",
            title_justify="left",
        )
        for column in ("area", "seconds", "share", "per step"):
            table.add_column(column, justify="left" if column == "area" else "right")
        for area, seconds in self.areas().items():
            if seconds < 0.005:
                continue
            table.add_row(
                area,
                f"{seconds:.2f}",
                f"{seconds / total:.0%}",
                format_value(seconds / self.steps, "s"),
            )
        console.print(table)
        table = Table(title=f"top {top} functions by own time", title_justify="left")
        for column in ("function", "calls", "seconds", "per call"):
            table.add_column(column, justify="left" if column == "function" else "right")
        for name, calls, own in sorted(self.rows(), key=lambda row: -row[2])[:top]:
            table.add_row(name, f"{calls:,}", f"{own:.3f}", format_value(own / calls, "s"))
        console.print(table)
        table = Table(
            title=f"top {top + 10} labledger functions by cumulative time", title_justify="left"
        )
        for column in ("function", "calls", "seconds", "per step"):
            table.add_column(column, justify="left" if column == "function" else "right")
        for name, calls, cumulative in self.cumulative()[: top + 10]:
            table.add_row(
                name, f"{calls:,}", f"{cumulative:.3f}", format_value(cumulative / self.steps, "s")
            )
        console.print(table)

    def summary(self) -> dict[str, Any]:
        return {
            "what": self.what,
            "steps": self.steps,
            "seconds": self.seconds,
            "areas": self.areas(),
            "top": [
                {"function": name, "calls": calls, "seconds": own}
                for name, calls, own in sorted(self.rows(), key=lambda row: -row[2])[:20]
            ],
            "cumulative": [
                {"function": name, "calls": calls, "seconds": seconds}
                for name, calls, seconds in self.cumulative()[:40]
            ],
        }


def shorten(filename: str) -> str:
    for marker in ("/site-packages/", "/src/", "/lib/python3"):
        if marker in filename:
            return filename.split(marker, 1)[1]
    return filename


def sizes(text: str) -> list[int]:
    return [int(part.replace("_", "")) for part in text.split(",") if part.strip()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--quick", action="store_true", help="one repetition of everything, Kedro up to 800 nodes"
    )
    parser.add_argument(
        "--sizes", type=sizes, default=[200, 800, 2000], help="graph sizes (default 200,800,2000)"
    )
    parser.add_argument("--repeat", type=int, default=3, help="repetitions of each workload")
    parser.add_argument(
        "--kedro-sizes", type=sizes, help="Kedro graph sizes (default: the same as --sizes)"
    )
    parser.add_argument(
        "--kedro-budget",
        type=float,
        default=60.0,
        help="skip a Kedro size expected to take longer than this many seconds a run",
    )
    parser.add_argument("--no-dask", action="store_true", help="skip the Dask workload")
    parser.add_argument("--no-kedro", action="store_true", help="skip Kedro")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="also profile one run of the largest chain (and one Dask run of the fan) and print "
        "where the time goes",
    )
    parser.add_argument("--tmp", help="folder for the scratch workspaces (default: system temp)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folders")
    parser.add_argument("--json", help="also write the figures to this JSON file")
    args = parser.parse_args()

    warnings.filterwarnings("ignore")  # deprecation notices are not what is measured
    repeat = 1 if args.quick else args.repeat
    kedro_sizes = args.kedro_sizes or [s for s in args.sizes if not args.quick or s <= 800]
    plan = Plan(
        sizes=args.sizes,
        repeat=repeat,
        cached_steps=1000,
        cached_repeat=repeat,
        dask_steps=200,
        dask_repeat=0 if args.no_dask else repeat,
        kedro_sizes=kedro_sizes,
        kedro_repeat=0 if args.no_kedro else repeat,
        kedro_budget_s=args.kedro_budget,
        profile_steps=max(args.sizes) if args.profile else 0,
    )
    info = MachineInfo.collect(["labledger", "kedro", "dask", "distributed", "sqlalchemy"])
    print_header("labledger vs Kedro: pipeline orchestration", info)
    with timed() as elapsed:
        figures, profiles = bench(plan, args.tmp, args.keep)
    rows = results(plan, figures)
    print_results("labledger vs Kedro (SequentialRunner, MemoryDataset)", "Kedro", rows)
    console.print(
        "Per step: wall time of the whole run() / steps. labledger stores every output durably "
        "(fsync) and records tasks, artifacts and lineage; Kedro keeps outputs in memory and "
        "records nothing. Kedro's figure includes building the nodes, pipeline and catalog, as "
        "labledger's includes tracing the pipeline body."
    )
    for profile in profiles:
        profile.print()
    console.print(f"total time {format_value(elapsed.seconds, 's')}")
    write_json(
        args.json,
        info,
        rows,
        plan=plan.__dict__,
        profiles=[profile.summary() for profile in profiles],
    )


if __name__ == "__main__":
    main()
