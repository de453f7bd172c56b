"""Tracking servers under load: ``labledger server`` against ``mlflow server``, on SQLite and PostgreSQL.

Bounded in count and time, loopback only. For each catalog (SQLite, and PostgreSQL when one is
given with ``--postgres URL`` or can be started here) and each tool, in the same run:

1. the catalog is pre-filled (labledger: ``--prefill`` runs of 5 params + 5 metrics, written on the
   workspace directly with the Python API before the server starts; MLflow: none, its list and
   search are measured over the runs it has, which the output says); on PostgreSQL the tables are
   then vacuumed and their statistics gathered (``VACUUM ANALYZE``), as autovacuum does on a live
   server, and the load's pages written out (``CHECKPOINT``);
2. the server starts on a free 127.0.0.1 port (labledger: one process; MLflow: ``--workers``);
3. ``--clients`` writer processes each create ``--runs-per-client`` runs and log ``--values``
   metric values in all, in batches of ``--batch``, while ``--listers`` processes list and search
   runs; each operation is timed by the client that makes it (see ``_server_clients.py``);
4. every run's metric history is read back through the server: each (key, step) sent must be
   there exactly once;
5. ``--idle-calls`` lists and searches are timed one at a time with nothing else running, the
   query's own cost beside its cost under the load.

Ingest throughput is every value logged over the wall time from the start signal to the last
writer's end (creating and finishing runs included). Latencies are p50 / p99 per operation. The
CPU the server's processes used over the load is reported beside it, and, on a PostgreSQL this
run started, the CPU of the database's processes (both tools use the same server).

Run: ``.venv-bench/bin/python benchmarks/bench_server.py [--quick] [--postgres URL] [--json FILE]``.
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import os
import queue as queues
import random
import shutil
import time
import warnings
from contextlib import ExitStack
from pathlib import Path
from typing import Any

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
from _postgres import create_database, local_postgres, postgres_available, postgres_cpu_s
from _server_clients import (
    Load,
    Report,
    check_labledger,
    check_mlflow,
    idle_labledger,
    idle_mlflow,
    labledger_lister,
    labledger_writer,
    mlflow_lister,
    mlflow_writer,
)
from _server_report import (
    Outcome,
    Plan,
    percentile,
    print_checks,
    print_ratio_target,
    print_routes,
    results_of,
    title_of,
)
from _servers import Served, labledger_server, mlflow_server, server_durations

# Whether this run started its own PostgreSQL, whose processes' CPU it then reports.
_LOCAL_POSTGRES = {"started": False}
_SETUP_ALLOWANCE_S = 240.0  # for the clients to start and import before the time limit runs
_GRACE_S = 120.0


# -- pre-filling a labledger catalog ------------------------------------------------------------


def _prefill_part(uri: str, store: str | None, count: int, seed: int) -> None:
    """Create ``count`` finished runs (5 params, 5 metrics) in the workspace at ``uri``."""
    if store is not None:
        os.environ["LABLEDGER_STORE"] = store
    import labledger

    workspace = labledger.init(uri)
    rng = random.Random(seed)
    for _ in range(count):
        params = {"lr": rng.choice([0.001, 0.01, 0.1]), "depth": rng.randint(2, 12)}
        params |= {"model": rng.choice(["gbm", "rf"]), "seed": rng.randint(0, 9999), "bs": 64}
        with labledger.start_run(params=params, workspace=workspace) as run:
            run.log_metrics({key: rng.random() for key in ("auc", "loss", "f1", "acc", "prec")})
    workspace.close()


def prefill(uri: str, count: int, *, store: str | None = None, processes: int = 1) -> float:
    """Pre-fill the catalog with ``count`` runs in ``processes`` processes; return the seconds."""
    console.print(f"pre-filling the labledger catalog with {count:,} runs...")
    labledger_init(uri, store)  # migrate once, before processes race to
    with timed() as watch:
        if processes <= 1:
            _prefill_part(uri, store, count, 0)
        else:
            context = multiprocessing.get_context("spawn")
            parts = [count // processes + (i < count % processes) for i in range(processes)]
            with context.Pool(processes) as pool:
                pool.starmap(_prefill_part, [(uri, store, n, i) for i, n in enumerate(parts)])
    console.print(
        f"  {count:,} runs in {watch.seconds:.1f} s ({count / watch.seconds:,.0f} runs/s)"
    )
    if "://" in uri:
        analyze(uri)
    return watch.seconds


def analyze(url: str) -> None:
    """Settle PostgreSQL after the bulk load, as a live server has long settled by the time it
    holds 10,000 runs: gather the tables' statistics (without them the planner reads whole tables
    for a page of runs) and vacuum them, as autovacuum does a minute or so after a load, and
    write the load's pages out (a checkpoint), which the server would otherwise do, at a time of
    its choosing, during the timed load. Measured before this: PostgreSQL ingest varied from
    25,000 to 44,000 values/s between runs, with the machine's cores not all busy."""
    import sqlalchemy as sa

    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
            try:
                conn.exec_driver_sql("CHECKPOINT")
            except sa.exc.DBAPIError:  # not a superuser (--postgres URL): the server checkpoints
                console.print("[yellow]  no CHECKPOINT (it needs a superuser): figures vary more")
    finally:
        engine.dispose()


def bench_token(uri: str, store: str | None) -> str:
    """An administrator and an API token of theirs: the clients sign in as a team server's do
    (a workspace with users answers no request without a token)."""
    if store is not None:
        os.environ["LABLEDGER_STORE"] = store
    from labledger.identity.service import IdentityService
    from labledger.workspace.workspace import Workspace

    with Workspace.open(uri) as workspace:
        identity = IdentityService(workspace.stores.identity)
        identity.create_user("bench", by="bench", is_admin=True)
        return identity.issue_token("bench", "load", by="bench").secret


def labledger_migrate(uri: str) -> None:
    from labledger.workspace.workspace import Workspace

    Workspace.migrate(uri)


def labledger_init(uri: str, store: str | None) -> None:
    if store is not None:
        os.environ["LABLEDGER_STORE"] = store
    import labledger

    labledger.init(uri).close()
    labledger.set_workspace(None)


# -- one load ------------------------------------------------------------------------------------


def drive(
    tool: str, catalog: str, served: Served, plan: Plan, writer: Any, lister: Any, **extra: Any
) -> Outcome:
    """Run the load against the server: start the clients, release them together, gather their
    reports, and note the server's CPU time from the release to the last writer's report."""
    url = served.url
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(plan.clients + plan.listers + 1)
    stop, reports = context.Event(), context.Queue()
    load = Load(
        runs=plan.runs_per_client,
        values=plan.values,
        batch=plan.batch,
        lister_pause_s=plan.lister_pause_s,
        deadline=time.monotonic() + _SETUP_ALLOWANCE_S + plan.time_limit_s,
    )
    jobs = [(writer, i) for i in range(plan.clients)] + [(lister, i) for i in range(plan.listers)]
    processes = [
        context.Process(target=fn, args=(url, i, load, barrier, reports, stop), kwargs=extra)
        for fn, i in jobs
    ]
    for process in processes:
        process.start()
    console.print(
        f"{tool} on {catalog}: {plan.clients} writers x {plan.values:,} values, "
        f"{plan.listers} listers..."
    )
    outcome = Outcome(tool, catalog)
    with timed() as ready:
        try:
            barrier.wait(_SETUP_ALLOWANCE_S)
        except Exception:
            outcome.errors.append("the clients did not get ready (see their errors)")
    console.print(f"  clients ready in {ready.seconds:.1f} s (processes started, imports done)")
    cpu_before, cpu_after = served.cpu_s(), None
    released_at, writers_done_at = time.time(), math.inf
    database = catalog == "PostgreSQL" and _LOCAL_POSTGRES["started"]
    database_before, database_after = (postgres_cpu_s() if database else None), None
    gathered: list[Report] = []
    writers_left = plan.clients
    limit = load.deadline + _GRACE_S
    while len(gathered) < len(processes) and time.monotonic() < limit:
        if writers_left == 0 or outcome.errors:
            stop.set()
        try:
            report = reports.get(timeout=1.0)
        except queues.Empty:
            if not any(p.is_alive() for p in processes):
                break
            continue
        gathered.append(report)
        if report.role.startswith("writer"):
            writers_left -= 1
            if writers_left == 0:
                cpu_after = served.cpu_s()
                writers_done_at = time.time()
                database_after = postgres_cpu_s() if database else None
    stop.set()
    for process in processes:
        process.join(timeout=10)
        if process.is_alive():
            process.kill()
    if len(gathered) < len(processes):
        outcome.errors.append(f"{len(processes) - len(gathered)} clients sent no report")
    writers = [r for r in gathered if r.role.startswith("writer")]
    for report in gathered:
        outcome.errors += [f"{report.role}: {error}" for error in report.errors]
        outcome.timed_out |= report.timed_out
        for name, samples in report.latencies.items():
            outcome.latencies.setdefault(name, []).extend(samples)
        for name, samples in report.routes.items():
            outcome.routes.setdefault(name, []).extend(samples)
        outcome.runs |= report.runs
    outcome.values = sum(r.values for r in writers)
    outcome.writers_cpu_s = sum(r.cpu_s for r in writers)
    outcome.listers_cpu_s = sum(r.cpu_s for r in gathered if r.role.startswith("lister"))
    if cpu_before is not None and cpu_after is not None:
        outcome.server_cpu_s = cpu_after - cpu_before
    if database_before is not None and database_after is not None:
        outcome.database_cpu_s = database_after - database_before
    if served.log is not None:
        outcome.server_reads = server_durations(
            served.log, "/runs/search", released_at, writers_done_at
        )
    if writers and all(r.started for r in writers):
        outcome.seconds = max(r.ended for r in writers) - min(r.started for r in writers)
        console.print(f"  load: {outcome.values:,} values in {outcome.seconds:.1f} s")
    if outcome.server_cpu_s:
        console.print(
            f"  server CPU over the load: {outcome.server_cpu_s:.1f} s "
            f"({outcome.values / outcome.server_cpu_s:,.0f} values per CPU second)"
        )
    if outcome.database_cpu_s is not None:
        console.print(f"  PostgreSQL's CPU over the load: {outcome.database_cpu_s:.1f} s")
    if outcome.values and outcome.seconds > 0:
        # Clients and server share the machine's cores: what the clients spend, the server lacks.
        cores = os.cpu_count() or 1
        console.print(
            f"  clients' CPU over the load: writers {outcome.writers_cpu_s:.1f} s "
            f"({outcome.writers_cpu_s / outcome.values * 1e6:.1f} us a value), listers "
            f"{outcome.listers_cpu_s:.1f} s; the machine had {cores} x {outcome.seconds:.1f} = "
            f"{cores * outcome.seconds:.1f} CPU s"
        )
    return outcome


def check(outcome: Outcome, checker: Any, url: str) -> None:
    """Read every run back (exactly once per value) and note it on ``outcome``."""
    with timed() as watch:
        outcome.found, outcome.problems = checker(url, outcome.runs)
    console.print(
        f"  checked {len(outcome.runs):,} runs, {outcome.found:,} values read back "
        f"in {watch.seconds:.1f} s: {len(outcome.problems)} runs wrong"
    )


def run_labledger(catalog: str, plan: Plan, folder: Path, database: str | None) -> Outcome:
    folder.mkdir(parents=True)
    if database is None:
        uri, store, processes = str(folder / "workspace"), None, 1
    else:
        uri, store, processes = database, str(folder / "store"), 4
    count = plan.prefill if database is None else plan.prefill_postgres
    cache = Path(plan.prefill_cache) / f"sqlite-{count}" if plan.prefill_cache else None
    if cache is not None and database is None and (cache / "complete").exists():
        console.print(f"copying the pre-filled catalog ({count:,} runs) from {cache}")
        shutil.copytree(cache / "workspace", uri)
        labledger_migrate(uri)  # a copy made by an older labledger
    elif not count:
        labledger_init(uri, store)
    else:
        prefill(uri, count, store=store, processes=processes)
        if cache is not None and database is None:
            shutil.rmtree(cache, ignore_errors=True)
            shutil.copytree(uri, cache / "workspace")
            (cache / "complete").touch()
    if not plan.single_user:
        os.environ["LABLEDGER_TOKEN"] = bench_token(uri, store)
    with labledger_server(
        folder,
        workspace=Path(uri) if database is None else None,
        catalog=database,
    ) as served:
        url = served.url
        outcome = drive("labledger", catalog, served, plan, labledger_writer, labledger_lister)
        outcome.catalog_runs = count + len(outcome.runs) + plan.clients  # + warm-up runs
        if outcome.runs:
            check(outcome, check_labledger, url)
        if plan.idle_calls:
            idle = idle_labledger(url, plan.idle_calls)
            outcome.latencies |= {f"idle {name}": samples for name, samples in idle.items()}
    os.environ.pop("LABLEDGER_TOKEN", None)
    return outcome


def run_mlflow(catalog: str, plan: Plan, folder: Path, backend: str) -> Outcome:
    folder.mkdir(parents=True)
    with mlflow_server(folder, backend, workers=plan.mlflow_workers) as served:
        from mlflow import MlflowClient

        url = served.url
        experiment = MlflowClient(tracking_uri=url).create_experiment("load")
        outcome = drive(
            "MLflow",
            catalog,
            served,
            plan,
            mlflow_writer,
            mlflow_lister,
            experiment_id=experiment,
        )
        outcome.catalog_runs = len(outcome.runs) + plan.clients  # + warm-up runs
        if outcome.runs:
            check(outcome, check_mlflow, url)
        if plan.idle_calls:
            idle = idle_mlflow(url, plan.idle_calls, experiment)
            outcome.latencies |= {f"idle {name}": samples for name, samples in idle.items()}
    os.environ.pop("LABLEDGER_TOKEN", None)
    return outcome


# -- main ----------------------------------------------------------------------------------------


def postgres_servers(stack: ExitStack, args: argparse.Namespace, scratch: Path) -> str | None:
    """The PostgreSQL server to use (a URL of its ``postgres`` database), or ``None``."""
    if args.postgres:
        return str(args.postgres)
    if args.no_postgres:
        return None
    problem = postgres_available()
    if problem is not None:
        console.print(f"[yellow]no PostgreSQL: {problem}; SQLite only (or pass --postgres URL)")
        return None
    console.print("starting a local PostgreSQL (initdb, fsync off)...")
    cluster = stack.enter_context(local_postgres())
    _LOCAL_POSTGRES["started"] = True
    return cluster.url("postgres")


def bench(args: argparse.Namespace, plan: Plan) -> tuple[list[Result], list[Outcome]]:
    results: list[Result] = []
    outcomes: list[Outcome] = []
    pairs: list[tuple[Outcome, Outcome | None]] = []
    with ExitStack() as stack:
        scratch = stack.enter_context(scratch_dir(args.tmp, "bench-server-", keep=args.keep))
        catalogs: list[tuple[str, str | None, str]] = [
            ("SQLite", None, f"sqlite:///{scratch / 'mlflow-sqlite' / 'mlflow.db'}")
        ]
        server = postgres_servers(stack, args, scratch)
        if server is not None:
            suffix = f"{os.getpid()}_{int(time.time())}"
            catalogs.append(
                (
                    "PostgreSQL",
                    create_database(server, f"labledger_bench_{suffix}"),
                    create_database(server, f"mlflow_bench_{suffix}"),
                )
            )
        for catalog, database, mlflow_backend in catalogs:
            slug = catalog.lower()
            ours = run_labledger(catalog, plan, scratch / f"labledger-{slug}", database)
            peer = None
            if not args.no_mlflow:
                peer = run_mlflow(catalog, plan, scratch / f"mlflow-{slug}", mlflow_backend)
            results += results_of(plan, ours, peer)
            outcomes += [ours, *([peer] if peer else [])]
            pairs.append((ours, peer))
    for ours, _peer in pairs:
        if ours.routes:
            print_routes(ours)
        title = title_of(plan, ours.catalog)
        print_results(title, "MLflow", [r for r in results if r.group == title])
    print_ratio_target(pairs)
    print_checks(outcomes)
    return results, outcomes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="4 writers x 2,000 values, 2 listers, 10,000 pre-filled runs (under a minute)",
    )
    parser.add_argument("--clients", type=int, help="writer processes (default 16)")
    parser.add_argument("--listers", type=int, help="list/search processes (default 4)")
    parser.add_argument("--values", type=int, help="metric values per writer (default 10,000)")
    parser.add_argument("--batch", type=int, default=1000, help="values per batch (default 1,000)")
    parser.add_argument("--runs-per-client", type=int, help="runs each writer creates (default 5)")
    parser.add_argument(
        "--prefill", type=int, help="runs in labledger's SQLite catalog beforehand (100,000)"
    )
    parser.add_argument(
        "--prefill-postgres",
        type=int,
        help="runs in labledger's PostgreSQL catalog beforehand (10,000; quick 1,000)",
    )
    parser.add_argument(
        "--prefill-cache",
        help="keep the pre-filled SQLite workspace here and copy it next time (saves minutes)",
    )
    parser.add_argument(
        "--time-limit", type=float, help="seconds each load may run (default 600, quick 60)"
    )
    parser.add_argument(
        "--lister-pause", type=float, default=0.05, help="seconds a lister waits between calls"
    )
    parser.add_argument("--mlflow-workers", type=int, default=2, help="mlflow server --workers")
    parser.add_argument(
        "--idle-calls",
        type=int,
        default=50,
        help="lists and searches timed after the load, one at a time (default 50; 0 skips)",
    )
    parser.add_argument(
        "--single-user",
        action="store_true",
        help="serve labledger with no users (no tokens), as one person on a laptop would",
    )
    parser.add_argument("--postgres", help="a PostgreSQL server URL (postgresql+psycopg://...)")
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only")
    parser.add_argument("--no-mlflow", action="store_true", help="leave out the peer")
    parser.add_argument("--tmp", help="folder for the scratch data (default: system temp)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folders")
    parser.add_argument("--json", help="also write the figures to this JSON file")
    args = parser.parse_args()

    warnings.filterwarnings("ignore")
    quick = args.quick
    plan = Plan(
        clients=args.clients or (4 if quick else 16),
        listers=args.listers if args.listers is not None else (2 if quick else 4),
        values=args.values or (2_000 if quick else 10_000),
        batch=args.batch,
        runs_per_client=args.runs_per_client or (2 if quick else 5),
        prefill=args.prefill if args.prefill is not None else (10_000 if quick else 100_000),
        prefill_postgres=(
            args.prefill_postgres
            if args.prefill_postgres is not None
            else (1_000 if quick else 10_000)
        ),
        time_limit_s=args.time_limit or (60.0 if quick else 600.0),
        lister_pause_s=args.lister_pause,
        mlflow_workers=args.mlflow_workers,
        prefill_cache=args.prefill_cache,
        idle_calls=args.idle_calls,
        single_user=args.single_user,
    )
    if plan.values % (plan.runs_per_client * 10):
        parser.error("--values must be a multiple of 10 x --runs-per-client (10 keys a step)")
    info = MachineInfo.collect(["labledger", "mlflow", "fastapi", "uvicorn", "sqlalchemy"])
    print_header("labledger server vs MLflow server: tracking under load", info)
    console.print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    with timed() as total:
        results, outcomes = bench(args, plan)
    console.print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    console.print(
        "labledger: one server process, "
        + ("single-user (no tokens); " if plan.single_user else "clients signed in with a token; ")
        + "MLflow: "
        f"{plan.mlflow_workers} workers. Latencies are timed by the client that makes the call. "
        "MLflow's list and search run over the runs its writers created (no pre-fill)."
    )
    console.print(f"total time {format_value(total.seconds, 's')}")
    write_json(
        args.json,
        info,
        results,
        plan=plan.__dict__,
        outcomes=[
            {
                "tool": o.tool,
                "catalog": o.catalog,
                "values": o.values,
                "seconds": o.seconds,
                "catalog_runs": o.catalog_runs,
                "server_cpu_s": o.server_cpu_s,
                "writers_cpu_s": o.writers_cpu_s,
                "listers_cpu_s": o.listers_cpu_s,
                "found": o.found,
                "problems": o.problems,
                "errors": o.errors,
                "routes": {
                    route: {
                        "requests": len(s),
                        "p50": percentile(s, 0.5),
                        "p99": percentile(s, 0.99),
                    }
                    for route, s in o.routes.items()
                },
            }
            for o in outcomes
        ],
    )


if __name__ == "__main__":
    main()
