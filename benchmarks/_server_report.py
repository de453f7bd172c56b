"""The plan of ``bench_server.py``'s load, what each tool's load gave, and how it is printed.

``results_of`` turns one catalog's two outcomes into ``Result`` rows (ingest, then p50 and p99 of
each operation, under the load and alone after it); ``print_routes`` shows labledger's HTTP
requests by route; ``print_checks`` the exactly-once read-back; ``print_ratio_target`` the ingest
ratio against the target.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from rich.table import Table

from _common import Result, console, format_value
from _server_clients import LIST_PAGE, SEARCH_FILTER

__all__ = [
    "OPERATIONS",
    "Outcome",
    "Plan",
    "percentile",
    "print_checks",
    "print_ratio_target",
    "print_routes",
    "results_of",
    "title_of",
]

TARGET_INGEST_VALUES_PER_S = 200_000
TARGET_LIST_P99_S = 0.100
TARGET_INGEST_RATIO = 20.0
# The issue's own measurement of ``mlflow server`` 3.17 on SQLite with 2 workers, 16 clients x
# 10,000 values in batches of 1,000, on a quieter machine: a yardstick besides this run's figure.
RECORDED_MLFLOW_SQLITE_VALUES_PER_S = 6_600
OPERATIONS = ("create", "batch", "finish", "list", "search", "idle list", "idle search")
OPERATION_NAMES = {
    "create": "create run (start_run / create_run)",
    "batch": "log a batch (flush / log_batch)",
    "finish": "finish run (end / set_terminated)",
    "list": f"list runs, first {LIST_PAGE}",
    "search": f"search '{SEARCH_FILTER}', first {LIST_PAGE}",
    "idle list": f"list runs, first {LIST_PAGE}, after the load (nothing else running)",
    "idle search": f"search '{SEARCH_FILTER}', first {LIST_PAGE}, after the load",
}


@dataclass(frozen=True)
class Plan:
    clients: int
    listers: int
    values: int
    batch: int
    runs_per_client: int
    prefill: int
    prefill_postgres: int
    time_limit_s: float
    lister_pause_s: float
    mlflow_workers: int
    prefill_cache: str | None = None
    idle_calls: int = 50
    single_user: bool = False  # no users, no tokens: the one-person mode of a loopback server


@dataclass
class Outcome:
    """One tool's load on one catalog."""

    tool: str
    catalog: str
    values: int = 0
    seconds: float = math.nan
    latencies: dict[str, list[float]] = field(default_factory=dict)
    routes: dict[str, list[float]] = field(default_factory=dict)
    runs: dict[str, int] = field(default_factory=dict)
    catalog_runs: int = 0
    server_cpu_s: float | None = None  # the server's processes, from the release to the last writer
    database_cpu_s: float | None = None  # the local PostgreSQL's processes, over the same stretch
    writers_cpu_s: float = 0.0  # the writer processes' CPU over their work
    listers_cpu_s: float = 0.0  # the lister processes' CPU until they were told to stop
    # labledger's lists and searches during the load as its server's log times them (seconds)
    server_reads: list[float] = field(default_factory=list)
    found: int = 0
    problems: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    timed_out: bool = False

    @property
    def throughput(self) -> float:
        return self.values / self.seconds if self.seconds > 0 else 0.0


def percentile(samples: list[float], q: float) -> float | None:
    """Nearest-rank percentile (``q`` in 0..1); ``None`` without samples."""
    if not samples:
        return None
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


# -- results -------------------------------------------------------------------------------------


def title_of(plan: Plan, catalog: str) -> str:
    return (
        f"{catalog}: {plan.clients} writers x {plan.values:,} values "
        f"(batches of {plan.batch:,}), {plan.listers} listers"
    )


def results_of(plan: Plan, ours: Outcome, peer: Outcome | None) -> list[Result]:
    """The table rows of one catalog: ingest, then p50 and p99 of each operation."""
    group = title_of(plan, ours.catalog)
    peer_runs = f"over {peer.catalog_runs:,} runs" if peer else ""
    rows = [
        Result(
            group,
            "ingest throughput",
            ours.throughput,
            peer.throughput if peer else None,
            "values/s",
            TARGET_INGEST_VALUES_PER_S,
            note=f"{ours.values:,} values in {ours.seconds:.2f} s, runs created and finished included",
            peer_note=f"{peer.values:,} values in {peer.seconds:.2f} s" if peer else "",
        )
    ]
    if ours.server_cpu_s or (peer and peer.server_cpu_s):
        rows.append(
            Result(
                group,
                "ingest per second of server CPU",
                ours.values / ours.server_cpu_s if ours.server_cpu_s else math.nan,
                peer.values / peer.server_cpu_s if peer and peer.server_cpu_s else None,
                "values/s",
                None,
                note="what one process would take in on a core of its own (listers' requests "
                "included)",
                peer_note=f"{peer.server_cpu_s:.1f} CPU s, all workers"
                if peer and peer.server_cpu_s
                else "",
            )
        )
    if ours.database_cpu_s or (peer and peer.database_cpu_s):
        rows.append(
            Result(
                group,
                "ingest per second of server and database CPU",
                ours.values / (ours.server_cpu_s + ours.database_cpu_s)
                if ours.server_cpu_s and ours.database_cpu_s
                else math.nan,
                peer.values / (peer.server_cpu_s + peer.database_cpu_s)
                if peer and peer.server_cpu_s and peer.database_cpu_s
                else None,
                "values/s",
                None,
                note=f"database {ours.database_cpu_s or 0:.1f} CPU s",
                peer_note=f"database {peer.database_cpu_s:.1f} CPU s"
                if peer and peer.database_cpu_s
                else "",
            )
        )
    for operation in OPERATIONS:
        listing = operation.endswith(("list", "search"))
        for name, q in (("p50", 0.5), ("p99", 0.99)):
            value = percentile(ours.latencies.get(operation, []), q)
            peer_value = percentile(peer.latencies.get(operation, []), q) if peer else None
            if value is None and peer_value is None:
                continue
            count = len(ours.latencies.get(operation, []))
            note = f"{count:,} calls"
            if listing:
                note += f", over {ours.catalog_runs:,} runs"
            rows.append(
                Result(
                    group,
                    f"{OPERATION_NAMES[operation]}: {name}",
                    math.nan if value is None else value,
                    peer_value,
                    "s",
                    TARGET_LIST_P99_S if listing and name == "p99" else None,
                    note=note if name == "p50" else "",
                    peer_note=peer_runs if listing and name == "p50" else "",
                )
            )
    if ours.server_reads:
        for name, q in (("p50", 0.5), ("p99", 0.99)):
            rows.append(
                Result(
                    group,
                    f"list and search, time in the server: {name}",
                    percentile(ours.server_reads, q) or math.nan,
                    None,
                    "s",
                    None,
                    note=f"{len(ours.server_reads):,} requests, from the server's log: the rest "
                    "of a lister's wait is its own process waiting for a core, and the socket"
                    if name == "p50"
                    else "",
                )
            )
    return rows


def print_routes(outcome: Outcome) -> None:
    """labledger's HTTP requests by route, as its clients timed them."""
    table = Table(
        title=f"labledger on {outcome.catalog}: HTTP requests by route (client side)",
        title_justify="left",
    )
    for column in ("route", "requests", "p50", "p99", "max"):
        table.add_column(column, justify="left" if column == "route" else "right")
    for route, samples in sorted(outcome.routes.items()):
        table.add_row(
            route,
            f"{len(samples):,}",
            format_value(percentile(samples, 0.5), "s"),
            format_value(percentile(samples, 0.99), "s"),
            format_value(max(samples), "s"),
        )
    console.print(table)


def print_checks(outcomes: list[Outcome]) -> None:
    for outcome in outcomes:
        expected = sum(outcome.runs.values())
        wrong = len(outcome.problems)
        colour = "green" if not wrong and outcome.found == expected else "red"
        console.print(
            f"[{colour}]exactly once[/{colour}], {outcome.tool} on {outcome.catalog}: "
            f"{outcome.found:,} of {expected:,} values read back, {wrong} runs wrong"
        )
        for problem in outcome.problems[:5]:
            console.print(f"  {problem}")
        if outcome.timed_out:
            console.print(f"[yellow]  {outcome.tool} hit the time limit: the load is partial")
        for error in outcome.errors[:3]:
            console.print(f"[red]  error[/red]: {error.strip()[-1500:]}")
        if len(outcome.errors) > 3:
            console.print(f"  ... and {len(outcome.errors) - 3} more errors")


def print_ratio_target(pairs: list[tuple[Outcome, Outcome | None]]) -> None:
    for ours, _peer in pairs:
        if ours.catalog == "SQLite" and ours.throughput:
            console.print(
                f"ingest vs the issue's recorded mlflow server figure on SQLite "
                f"({RECORDED_MLFLOW_SQLITE_VALUES_PER_S:,} values/s): "
                f"{ours.throughput / RECORDED_MLFLOW_SQLITE_VALUES_PER_S:,.1f}x (for information)"
            )
    for ours, peer in pairs:
        if peer is None or not peer.throughput or not ours.throughput:
            continue
        ratio = ours.throughput / peer.throughput
        met = "[green]met[/green]" if ratio >= TARGET_INGEST_RATIO else "[red]NOT met[/red]"
        console.print(
            f"ingest vs MLflow on {ours.catalog}: {ratio:,.1f}x "
            f"(target >= {TARGET_INGEST_RATIO:.0f}x): {met}"
        )
