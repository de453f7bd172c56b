"""A pipeline of trivial steps against a real local ``labledger server``: ms and requests per step.

The same chain (each step ``x + 1`` of the previous one) and fan (independent ``x + 1`` steps
feeding one sum) as ``bench_pipeline.py``, 200 steps by default, run with the local executor:

  1. on an embedded workspace (the baseline);
  2. on a workspace reached through a server started here (uvicorn in a subprocess, loopback,
     a fresh embedded workspace behind it), fresh: every step runs;
  3. the same graph again through the server: every step is a cache hit of the first run.

Requests are counted from the server's JSON request log (one line per request, with its method
and path), in the window of each timed run, and shown per step and by route. The target is
<= 2 ms a step through the server (one cache index per run, and a batched upload and a task
batch per flush: not a request per step).

``--split`` runs what has no HTTP route yet on the served workspace itself (tracked runs,
artifacts, blobs), much as the store conformance tests do, while every task store call (cache
lookups, task batches, pipeline records, seals) goes to the server: it measures the task store
over HTTP. (Blob presence checks of cache hits are then answered by the folder, not by
``POST /api/v1/blobs/presence``: a remote client adds one such request per frontier of hits.) Without
it the pipeline is opened as ``labledger`` opens ``LABLEDGER_URI=http://...``; that needs runs,
artifacts and blob uploads over HTTP, and the script says so when the server lacks them.

Run: ``python benchmarks/bench_server_pipeline.py [--steps 200] [--split] [--json FILE]``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Any

from _common import console, scratch_dir
from labledger._foundation.errors import ConfigurationError
from labledger.pipelines import pipeline, step

if TYPE_CHECKING:
    from collections.abc import Iterator

    from labledger.pipelines import Pipeline, PipelineRun
    from labledger.workspace.workspace import Workspace

TARGET_PER_STEP_S = 2e-3
MAX_STEPS = 2000
_START_TIMEOUT_S = 60.0
_ID = re.compile(r"/[0-9a-f]{8}-[0-9a-f-]{27,}")
_DIGEST = re.compile(r"/blake3:[0-9a-f]{64}")


@step
def inc(x: int) -> int:
    return x + 1


@step
def total(values: list[int]) -> int:
    return sum(values)


@pipeline
def chain(steps: int = 200, start: int = 0) -> Any:
    """``steps`` steps, each adding one to the output of the one before."""
    value = inc(start)
    for _ in range(steps - 1):
        value = inc(value)
    return value


@pipeline
def fan(steps: int = 200, start: int = 0) -> Any:
    """``steps - 1`` independent steps, then one step summing all their outputs."""
    return total([inc(start + i) for i in range(steps - 1)])


WARM_UP = {"steps": 20, "start": 1_000_000}  # other cache keys than the timed runs


PIPELINES: dict[str, Pipeline] = {"chain": chain, "fan": fan}


# -- the server ------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def served(root: Path, log: Path) -> Iterator[str]:
    """``labledger server`` over the workspace at ``root`` (loopback), its JSON log to ``log``."""
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "labledger", "server", "--port", str(port), "-w", str(root)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=sink,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + _START_TIMEOUT_S
        while True:
            try:
                with urllib.request.urlopen(f"{base}/healthz", timeout=2):
                    break
            except (urllib.error.URLError, ConnectionError):
                if process.poll() is not None or time.monotonic() > deadline:
                    process.kill()
                    raise SystemExit(
                        f"the server did not start:\n{log.read_text()[-2000:]}"
                    ) from None
                time.sleep(0.1)
        yield base
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def requests_between(log: Path, start: float, end: float) -> dict[str, list[float]]:
    """The requests the server logged between ``start`` and ``end``: method and route -> the
    milliseconds the server spent on each (its ``duration_ms``)."""
    found: dict[str, list[float]] = {}
    for line in log.read_text().splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if "path" in entry and "method" in entry and start <= entry.get("time", 0) <= end:
            path = _DIGEST.sub("/{digest}", _ID.sub("/{id}", entry["path"]))
            route = f"{entry['method']} {path}"
            found.setdefault(route, []).append(float(entry.get("duration_ms") or 0.0))
    return found


def summary(found: dict[str, list[float]]) -> dict[str, dict[str, float]]:
    """Per route: how many requests, and the server's median milliseconds on one."""
    return {
        route: {"count": len(times), "server_median_ms": statistics.median(times)}
        for route, times in sorted(found.items(), key=lambda item: -len(item[1]))
    }


def open_remote(url: str, served_ws: Workspace, *, split: bool) -> Workspace:
    """The workspace a pipeline runs in: the server's, over HTTP."""
    if split:
        # The conformance tests' workspace: what has no route yet is built on the served side.
        sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
        from tests.integration.served import ServedWorkspace

        remote = ServedWorkspace(url, served_ws)
        # Blobs go to the served store itself, as a folder store: the executor then makes a
        # batch of outputs durable with one sync (as embedded), not an fsync per output.
        remote.store = served_ws.store
        return remote
    from labledger._foundation.settings import server_settings
    from labledger.workspace.http.workspace import RemoteWorkspace

    return RemoteWorkspace(server_settings(url))


# -- runs ------------------------------------------------------------------------------------


def check(run: PipelineRun, shape: str, steps: int, *, executed: int, cached: int) -> None:
    """Fail loudly when a run did not do the work it is timed for."""
    expected = steps if shape == "chain" else sum(i + 1 for i in range(steps - 1))
    value = run.load(list(run.tasks)[-1])
    if (
        run.status != "finished"
        or len(run.executed) != executed
        or len(run.cached) != cached
        or value != expected
    ):
        raise RuntimeError(
            f"{shape} of {steps}: {run.status}, {len(run.executed)} executed, "
            f"{len(run.cached)} cached, returned {value!r}"
        )


def timed_run(ws: Workspace, shape: str, steps: int, *, cached: bool) -> tuple[float, float, float]:
    """``(seconds, start, end)`` of one run of the graph (wall clock for the log window)."""
    start = time.time()
    began = time.perf_counter()
    run = PIPELINES[shape].run(workspace=ws, steps=steps)
    seconds = time.perf_counter() - began
    end = time.time()
    check(run, shape, steps, executed=0 if cached else steps, cached=steps if cached else 0)
    return seconds, start, end


def bench(folder: Path, steps: int, *, split: bool) -> dict[str, Any]:
    import labledger

    figures: dict[str, Any] = {"steps": steps, "split": split, "shapes": {}}
    for shape, graph in PIPELINES.items():
        with labledger.init(folder / f"embedded-{shape}") as ws:
            graph.run(workspace=ws, **WARM_UP)  # imports, fingerprints
            embedded, _, _ = timed_run(ws, shape, steps, cached=False)
            embedded_cached, _, _ = timed_run(ws, shape, steps, cached=True)
        root = folder / f"served-{shape}"
        served_ws = labledger.init(root)
        log = folder / f"server-{shape}.log"
        try:
            with served(root, log) as url:
                remote = open_remote(url, served_ws, split=split)
                try:
                    try:
                        graph.run(workspace=remote, **WARM_UP)
                    except ConfigurationError as exc:
                        raise SystemExit(
                            f"{exc}\nThis server cannot run pipelines for a remote client yet "
                            "(runs, artifacts and blob uploads over HTTP); run with --split to "
                            "time the task store over HTTP."
                        ) from exc
                    fresh, f_start, f_end = timed_run(remote, shape, steps, cached=False)
                    again, c_start, c_end = timed_run(remote, shape, steps, cached=True)
                finally:
                    remote.close()
            fresh_requests = requests_between(log, f_start, f_end)
            cached_requests = requests_between(log, c_start, c_end)
        finally:
            served_ws.close()
        figures["shapes"][shape] = {
            "embedded_ms_per_step": embedded / steps * 1e3,
            "embedded_cached_ms_per_step": embedded_cached / steps * 1e3,
            "server_ms_per_step": fresh / steps * 1e3,
            "server_cached_ms_per_step": again / steps * 1e3,
            "requests_per_step": sum(map(len, fresh_requests.values())) / steps,
            "cached_requests_per_step": sum(map(len, cached_requests.values())) / steps,
            "requests": summary(fresh_requests),
            "cached_requests": summary(cached_requests),
        }
    return figures


def report(figures: dict[str, Any]) -> None:
    from rich.table import Table

    steps = figures["steps"]
    mode = "split: runs and artifacts on the served side" if figures["split"] else "remote"
    table = Table(title=f"{steps} trivial steps, local executor ({mode})")
    for column in (
        "graph",
        "embedded ms/step",
        "server ms/step",
        "target",
        "requests/step",
        "cached re-run: embedded",
        "server",
        "requests/step",
    ):
        table.add_column(column, justify="right")
    for shape, f in figures["shapes"].items():
        met = f["server_ms_per_step"] <= TARGET_PER_STEP_S * 1e3
        table.add_row(
            shape,
            f"{f['embedded_ms_per_step']:.3f}",
            f"[{'green' if met else 'red'}]{f['server_ms_per_step']:.3f}[/]",
            f"<= {TARGET_PER_STEP_S * 1e3:.0f}",
            f"{f['requests_per_step']:.3f}",
            f"{f['embedded_cached_ms_per_step']:.3f}",
            f"{f['server_cached_ms_per_step']:.3f}",
            f"{f['cached_requests_per_step']:.3f}",
        )
    console.print(table)
    for shape, f in figures["shapes"].items():
        for label, key in (("fresh", "requests"), ("cached re-run", "cached_requests")):
            routes = ", ".join(
                f"{route} x{seen['count']} ({seen['server_median_ms']:.2f} ms on the server)"
                for route, seen in f[key].items()
            )
            console.print(f"{shape}, {label}: {routes}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200, help=f"1-{MAX_STEPS} (default 200)")
    parser.add_argument("--split", action="store_true", help="runs built on the served side")
    parser.add_argument("--json", help="write the figures to this file")
    parser.add_argument("--scratch", help="parent folder of the scratch workspaces")
    args = parser.parse_args()
    steps = max(2, min(args.steps, MAX_STEPS))
    with scratch_dir(args.scratch, "bench-server-pipeline-") as folder:
        figures = bench(folder, steps, split=args.split)
    report(figures)
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
