"""The client processes of ``bench_server.py``: writers and listers, for labledger and for MLflow.

Each client is a process of its own (``multiprocessing`` spawn), so no client's GIL limits another.
A client sets itself up (imports, connection, one untimed call), waits at a barrier shared with the
others and the parent, runs its part of the load, and puts what it measured on a queue: latency
samples per operation, the runs it created with the values each must hold, and errors.

Each tool is driven through its own client library, as its users would:

* labledger: ``LABLEDGER_URI=http://...``, ``labledger.start_run``, ``log_metrics`` (buffered client
  side), ``ActiveRun.flush`` after each batch's values (so a batch is the same 1,000 values as
  MLflow's), ``ActiveRun.end``, ``labledger.search_runs``. Every HTTP request is also timed by its
  route, by wrapping the workspace's ``Client.call``.
* MLflow: ``MlflowClient.create_run``, ``log_batch``, ``set_terminated``, ``search_runs``.

Each writer makes one untimed warm-up run while it sets up (no metrics, left out of the check), so
one-time costs of a process (labledger captures the environment once per process) are not counted
as a route's latency.
"""

from __future__ import annotations

import os
import random
import re
import sys
import time
import traceback
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable
    from multiprocessing.synchronize import Barrier, Event

__all__ = [
    "KEYS",
    "LIST_PAGE",
    "SEARCH_FILTER",
    "Load",
    "Report",
    "check_labledger",
    "check_mlflow",
    "idle_labledger",
    "idle_mlflow",
    "labledger_lister",
    "labledger_writer",
    "mlflow_lister",
    "mlflow_writer",
]

# Ten metric keys a step; ``auc`` is also what the search filters on.
KEYS = ("auc", "loss", "accuracy", "f1", "precision", "recall", "m6", "m7", "m8", "m9")
SEARCH_FILTER = "metrics.auc > 0.8"
LIST_PAGE = 100  # runs a list or search asks for: one page of a runs table
_BARRIER_TIMEOUT_S = 300.0
_ID = re.compile(
    r"^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$|^[0-9a-f]{32}$"
)


@dataclass(frozen=True)
class Load:
    """What each writer does: ``runs`` runs, ``values`` metric values in all, sent in batches of
    ``batch`` values (``len(KEYS)`` values a step); listers pause ``lister_pause_s`` between calls.
    Nobody starts anything new after ``deadline`` (a ``time.monotonic`` instant, which Linux
    shares between processes)."""

    runs: int
    values: int
    batch: int
    lister_pause_s: float
    deadline: float

    @property
    def steps_per_run(self) -> int:
        return self.values // self.runs // len(KEYS)

    @property
    def steps_per_batch(self) -> int:
        return max(1, self.batch // len(KEYS))


@dataclass
class Report:
    """What one client measured. Latencies in seconds per operation (``create``, ``batch``,
    ``finish``, ``list``, ``search``) and per HTTP route (labledger only)."""

    role: str
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    routes: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    runs: dict[str, int] = field(default_factory=dict)  # run id -> values logged to it
    values: int = 0
    started: float = 0.0
    ended: float = 0.0
    cpu_s: float = 0.0  # the client process's CPU (all its threads) over its work
    timed_out: bool = False
    errors: list[str] = field(default_factory=list)

    def plain(self) -> Report:
        """The same report with plain dicts (``defaultdict`` of a lambda does not pickle)."""
        self.latencies = dict(self.latencies)
        self.routes = dict(self.routes)
        return self


def _timed(samples: list[float], action: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``action(*args, **kwargs)``, its duration appended to ``samples``."""
    start = time.perf_counter()
    result = action(*args, **kwargs)
    samples.append(time.perf_counter() - start)
    return result


def _route(method: str, path: str) -> str:
    """``POST /api/v1/runs/{id}/batch`` for ``POST /api/v1/runs/0193.../batch``."""
    parts = [
        "{id}" if _ID.match(part) else part for part in path.split("?", maxsplit=1)[0].split("/")
    ]
    return f"{method} {'/'.join(parts)}"


def _run_client(
    role: str,
    barrier: Barrier,
    queue: Any,
    setup: Callable[[Report], Any],
    work: Callable[[Any, Report], None],
) -> None:
    """Set up, wait for everyone, work, and report (errors included) on ``queue``."""
    report = Report(role)
    try:
        state = setup(report)
    except BaseException:
        report.errors.append(f"setup: {traceback.format_exc()}")
        barrier.abort()
        queue.put(report.plain())
        return
    try:
        barrier.wait(_BARRIER_TIMEOUT_S)
    except Exception:
        report.errors.append("the other clients did not get ready")
        queue.put(report.plain())
        return
    report.started = time.monotonic()
    cpu = time.process_time()
    try:
        work(state, report)
    except BaseException:
        report.errors.append(traceback.format_exc())
    report.ended = time.monotonic()
    report.cpu_s = time.process_time() - cpu
    queue.put(report.plain())


# -- labledger -----------------------------------------------------------------------------------


def _labledger_setup(url: str, report: Report, *, warm_run: bool = False) -> Any:
    os.environ["LABLEDGER_URI"] = url
    import labledger

    workspace = labledger.get_workspace()
    client = workspace.client  # a RemoteWorkspace's HTTP client
    call = client.call

    def timed_call(method: str, route: str, *args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return call(method, route, *args, **kwargs)
        finally:
            report.routes[_route(method, route)].append(time.perf_counter() - start)

    # Untimed: the connection, the first request and, for a writer, a first run (which captures
    # the environment once per process and uploads it once per server).
    labledger.search_runs(max_results=1)
    if warm_run:
        labledger.start_run(f"warm-up-{os.getpid()}").end()
    client.call = timed_call
    return labledger


def labledger_writer(
    url: str, index: int, load: Load, barrier: Barrier, queue: Any, _stop: Event
) -> None:
    """Create ``load.runs`` runs and log ``load.values`` values to them, a batch at a time."""

    def work(labledger: Any, report: Report) -> None:
        rng = random.Random(index)
        lat = report.latencies
        for number in range(load.runs):
            if time.monotonic() > load.deadline:
                report.timed_out = True
                return
            run = _timed(
                lat["create"],
                labledger.start_run,
                f"load-{index}-{number}",
                tags={"client": str(index), "run": str(number)},
            )
            steps = load.steps_per_run
            for first in range(0, steps, load.steps_per_batch):
                for step in range(first, min(steps, first + load.steps_per_batch)):
                    labledger.log_metrics({key: rng.random() for key in KEYS}, step=step)
                _timed(lat["batch"], run.flush)
            _timed(lat["finish"], run.end)
            report.runs[run.id] = steps * len(KEYS)
            report.values += steps * len(KEYS)

    _run_client(
        f"writer {index}", barrier, queue, lambda r: _labledger_setup(url, r, warm_run=True), work
    )


def labledger_lister(
    url: str, index: int, load: Load, barrier: Barrier, queue: Any, stop: Event
) -> None:
    """List and search runs, one after the other, until told to stop."""

    def work(labledger: Any, report: Report) -> None:
        while not stop.is_set() and time.monotonic() < load.deadline:
            _timed(report.latencies["list"], labledger.search_runs, max_results=LIST_PAGE)
            stop.wait(load.lister_pause_s)
            _timed(
                report.latencies["search"],
                labledger.search_runs,
                SEARCH_FILTER,
                max_results=LIST_PAGE,
            )
            stop.wait(load.lister_pause_s)

    _run_client(f"lister {index}", barrier, queue, lambda r: _labledger_setup(url, r), work)


def check_labledger(url: str, runs: dict[str, int]) -> tuple[int, list[str]]:
    """Read back every run's metric history through the server; return the values found and a
    line for each run that does not hold each (key, step) it was sent exactly once."""
    import labledger
    from labledger.workspace.workspace import Workspace

    workspace = Workspace.open(url)
    found, problems = 0, []
    for run_id, expected in runs.items():
        points = labledger.get_metric_history(run_id, workspace=workspace)
        found += len(points)
        problem = _exactly_once(Counter((p.key, p.step) for p in points), expected)
        if problem:
            problems.append(f"{run_id}: {problem}")
    return found, problems


def _exactly_once(counts: Counter[tuple[str, int]], expected: int) -> str | None:
    steps = expected // len(KEYS)
    wanted = {(key, step) for key in KEYS for step in range(steps)}
    missing = len(wanted - counts.keys())
    extra = len(counts.keys() - wanted)
    repeated = sum(count - 1 for count in counts.values() if count > 1)
    if missing or extra or repeated:
        return f"{missing} missing, {repeated} duplicated, {extra} unexpected"
    return None


# -- MLflow --------------------------------------------------------------------------------------


def _mlflow_setup(url: str, *, quiet: bool = True, warm_run: str | None = None) -> Any:
    import logging
    import warnings

    warnings.filterwarnings("ignore")
    os.environ["MLFLOW_ENABLE_ASYNC_LOGGING"] = "false"
    # No usage reports: the machine has no internet, and MLflow 3.17's telemetry client now and
    # then failed a client's first call ('_MLFLOW_TELEMETRY_SESSION_ID').
    os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
    from mlflow import MlflowClient

    logging.getLogger("mlflow").setLevel(logging.ERROR)
    if quiet:
        # Ending a run prints its UI link on stdout: one line per run, in a client process.
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - for the life of the process
    client = MlflowClient(tracking_uri=url)
    # Untimed: the connection, the first request and, for a writer, a first run.
    client.search_experiments(max_results=1)
    if warm_run is not None:
        run = client.create_run(warm_run, run_name=f"warm-up-{os.getpid()}")
        client.set_terminated(run.info.run_id)
    return client


def mlflow_writer(
    url: str,
    index: int,
    load: Load,
    barrier: Barrier,
    queue: Any,
    _stop: Event,
    experiment_id: str = "0",
) -> None:
    """The same load as ``labledger_writer``, through ``MlflowClient.log_batch``."""

    def work(client: Any, report: Report) -> None:
        from mlflow.entities import Metric

        rng = random.Random(index)
        lat = report.latencies
        for number in range(load.runs):
            if time.monotonic() > load.deadline:
                report.timed_out = True
                return
            run = _timed(
                lat["create"],
                client.create_run,
                experiment_id,
                run_name=f"load-{index}-{number}",
                tags={"client": str(index), "run": str(number)},
            )
            run_id = run.info.run_id
            steps = load.steps_per_run
            for first in range(0, steps, load.steps_per_batch):
                now = int(time.time() * 1000)
                metrics = [
                    Metric(key, rng.random(), now, step)
                    for step in range(first, min(steps, first + load.steps_per_batch))
                    for key in KEYS
                ]
                _timed(lat["batch"], client.log_batch, run_id, metrics=metrics)
            _timed(lat["finish"], client.set_terminated, run_id)
            report.runs[run_id] = steps * len(KEYS)
            report.values += steps * len(KEYS)

    _run_client(
        f"writer {index}",
        barrier,
        queue,
        lambda _r: _mlflow_setup(url, warm_run=experiment_id),
        work,
    )


def mlflow_lister(
    url: str,
    index: int,
    load: Load,
    barrier: Barrier,
    queue: Any,
    stop: Event,
    experiment_id: str = "0",
) -> None:
    """List and search runs of the experiment, one after the other, until told to stop."""

    def work(client: Any, report: Report) -> None:
        while not stop.is_set() and time.monotonic() < load.deadline:
            lat = report.latencies
            _timed(lat["list"], client.search_runs, [experiment_id], "", max_results=LIST_PAGE)
            stop.wait(load.lister_pause_s)
            _timed(
                lat["search"],
                client.search_runs,
                [experiment_id],
                SEARCH_FILTER,
                max_results=LIST_PAGE,
            )
            stop.wait(load.lister_pause_s)

    _run_client(f"lister {index}", barrier, queue, lambda _r: _mlflow_setup(url), work)


def check_mlflow(url: str, runs: dict[str, int]) -> tuple[int, list[str]]:
    """As ``check_labledger``, through ``MlflowClient.get_metric_history``."""
    client = _mlflow_setup(url, quiet=False)
    found, problems = 0, []
    for run_id, expected in runs.items():
        counts: Counter[tuple[str, int]] = Counter()
        for key in KEYS:
            counts.update((m.key, m.step) for m in client.get_metric_history(run_id, key))
        found += sum(counts.values())
        problem = _exactly_once(counts, expected)
        if problem:
            problems.append(f"{run_id}: {problem}")
    return found, problems


# -- listing on an idle server -------------------------------------------------------------------


def idle_labledger(url: str, calls: int) -> dict[str, list[float]]:
    """``calls`` lists and searches, one at a time, with nothing else running: the cost of the
    query itself, apart from the contention of the load."""
    import labledger
    from labledger.workspace.workspace import Workspace

    workspace = Workspace.open(url)
    labledger.search_runs(max_results=1, workspace=workspace)  # untimed: the connection
    latencies: dict[str, list[float]] = {"list": [], "search": []}
    for _ in range(calls):
        _timed(latencies["list"], labledger.search_runs, max_results=LIST_PAGE, workspace=workspace)
        _timed(
            latencies["search"],
            labledger.search_runs,
            SEARCH_FILTER,
            max_results=LIST_PAGE,
            workspace=workspace,
        )
    return latencies


def idle_mlflow(url: str, calls: int, experiment_id: str) -> dict[str, list[float]]:
    """As ``idle_labledger``, through ``MlflowClient.search_runs``."""
    client = _mlflow_setup(url, quiet=False)
    latencies: dict[str, list[float]] = {"list": [], "search": []}
    for _ in range(calls):
        _timed(latencies["list"], client.search_runs, [experiment_id], "", max_results=LIST_PAGE)
        _timed(
            latencies["search"],
            client.search_runs,
            [experiment_id],
            SEARCH_FILTER,
            max_results=LIST_PAGE,
        )
    return latencies
