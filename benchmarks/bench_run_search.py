"""A page of runs, by sort order, in a large catalog: the store-level cost of each ordering.

Opens a copy of a pre-filled workspace (``--workspace``, for instance the catalog
``bench_server.py --prefill-cache DIR`` keeps in ``DIR/sqlite-100000/workspace``), or pre-fills a
fresh one with ``--runs`` runs the way ``bench_server.py`` does (5 params and 5 metrics each), and
times one page of 100 runs for each search below, through ``labledger.search_runs`` on the
embedded workspace: p50 and p99 over ``--repeat`` calls, after one untimed call.

A page should cost the same at 100 runs or 100,000 when the database can read it through an
index in the page's order (newest first, by start time, by one metric); other orders sort every
matching run first.

Run: ``.venv-bench/bin/python benchmarks/bench_run_search.py --workspace DIR [--repeat 20]``.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import time
from pathlib import Path

from _common import console, scratch_dir

# (what, filter, order): the orders a runs table offers, and a filter that keeps few of the best.
SEARCHES = [
    ("newest first (the default)", None, None),
    ("in a filter: metrics.auc > 0.8", "metrics.auc > 0.8", None),
    ("by start time, newest first", None, ["started_at DESC"]),
    ("by one metric, best first", None, ["metrics.auc DESC"]),
    ("by one metric, lowest first", None, ["metrics.auc"]),
    ("by one metric, in a filter", "metrics.auc > 0.8", ["metrics.auc DESC"]),
    ("by one metric, filter keeping few of the best", "metrics.auc < 0.01", ["metrics.auc DESC"]),
    ("by a metric no run has", None, ["metrics.absent DESC"]),
    ("by a param", None, ["params.lr"]),
    ("by name", None, ["name"]),
]


def _timed_page(
    workspace: object, text: str | None, order: list[str] | None, repeat: int
) -> list[float]:
    import labledger

    def page() -> None:
        labledger.search_runs(text, order_by=order, max_results=100, workspace=workspace)

    page()  # untimed: the statements are compiled and the pages read once
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        page()
        samples.append(time.perf_counter() - start)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--workspace", help="a pre-filled workspace folder (copied, not changed)")
    parser.add_argument("--runs", type=int, default=10_000, help="runs to pre-fill without one")
    parser.add_argument("--repeat", type=int, default=20, help="timed calls a search")
    args = parser.parse_args()
    from labledger.workspace.workspace import Workspace

    with scratch_dir(None, "bench-run-search-") as scratch:
        target = Path(scratch) / "workspace"
        if args.workspace:
            console.print(f"copying {args.workspace} ...")
            shutil.copytree(args.workspace, target)
            Workspace.migrate(str(target))  # a copy made by an older labledger
        else:
            from bench_server import prefill

            prefill(str(target), args.runs)
        workspace = Workspace.open(str(target))
        try:
            import sqlalchemy as sa

            from labledger.workspace import schema

            with workspace.read() as conn:
                runs = conn.execute(sa.select(sa.func.count()).select_from(schema.runs)).scalar()
            console.print(f"{runs:,} runs in the catalog")
            console.print(f"{'search, one page of 100 runs':48s} {'p50':>9s} {'p99':>9s}")
            for what, text, order in SEARCHES:
                samples = sorted(_timed_page(workspace, text, order, args.repeat))
                p50 = statistics.median(samples) * 1000
                p99 = samples[min(len(samples) - 1, int(len(samples) * 0.99))] * 1000
                console.print(f"{what:48s} {p50:7.1f} ms {p99:7.1f} ms")
        finally:
            workspace.close()


if __name__ == "__main__":
    main()
