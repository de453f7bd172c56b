"""Metric values per second through one ``labledger server`` process.

Starts ``labledger server`` over a fresh embedded workspace (single-user mode, on a free loopback
port), then ``--clients`` client processes each create a run and send ``--batches`` batches of
``--size`` metric values (one ``RunStore.log_batch`` request each, as a run's metric buffer sends
them), and prints the values written per second over all clients, wall time from the first batch
to the last answer; then the same batches of one client written straight to a workspace's SQL run
store in this process, the ceiling the server adds its cost to. The issue's target: 200,000
values/s with 16 clients.

Run: ``python benchmarks/bench_server_tracking.py [--clients 16] [--batches 100] [--size 1000]``.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _client(url: str, batches: int, size: int, start: float) -> float:
    """Create a run, wait for ``start``, send the batches; the time the last one was answered."""
    from labledger._foundation.ids import new_id
    from labledger._foundation.settings import server_settings
    from labledger.stores.runs import NewRun
    from labledger.workspace.http.workspace import RemoteWorkspace

    ws = RemoteWorkspace(server_settings(url))
    store = ws.stores.runs
    run_id = new_id()
    store.create_run(
        NewRun(run_id, ws.project_id(), "bench", "run", "me", ws.host, os.getpid(), time.time())
    )
    now = time.time()
    rows = [
        [("loss", 1.0 / (i + 1), b * size + i, now, b * size + i + 1) for i in range(size)]
        for b in range(batches)
    ]
    time.sleep(max(0.0, start - time.time()))
    for b, batch in enumerate(rows):
        store.log_batch(run_id, metrics=batch, batch_id=f"{run_id}-{b}")
    done = time.time()
    ws.close()
    return done


def _direct(batches: int, size: int) -> float:
    """Values per second of the same batches written straight to a fresh workspace's store."""
    from labledger._foundation.ids import new_id
    from labledger.stores.runs import NewRun
    from labledger.workspace.workspace import Workspace

    ws = Workspace.init(Path(tempfile.mkdtemp(prefix="labledger-bench-direct-")))
    store = ws.stores.runs
    run_id = new_id()
    store.create_run(
        NewRun(run_id, ws.project_id(), "bench", "run", "me", ws.host, os.getpid(), time.time())
    )
    now = time.time()
    rows = [
        [("loss", 1.0 / (i + 1), b * size + i, now, b * size + i + 1) for i in range(size)]
        for b in range(batches)
    ]
    began = time.perf_counter()
    for b, batch in enumerate(rows):
        store.log_batch(run_id, metrics=batch, batch_id=f"{run_id}-{b}")
    elapsed = time.perf_counter() - began
    ws.close()
    return batches * size / elapsed


def _cpu_s(pid: int) -> float | None:
    """User plus system CPU seconds of process ``pid`` so far (``None`` off Linux)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=1)
    parser.add_argument("--batches", type=int, default=100)
    parser.add_argument("--size", type=int, default=1000)
    args = parser.parse_args()
    from labledger.workspace.workspace import Workspace

    made = Workspace.init(Path(tempfile.mkdtemp(prefix="labledger-bench-server-")))
    folder = made.settings.root
    made.close()
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "labledger", "server", "--port", str(port), "-w", str(folder)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                with urllib.request.urlopen(f"{url}/healthz", timeout=2):
                    break
            except OSError:
                time.sleep(0.1)
        start = time.time() + 3.0  # every client has made its run and rows by then
        with multiprocessing.get_context("spawn").Pool(args.clients) as pool:
            waiting = pool.starmap_async(
                _client, [(url, args.batches, args.size, start)] * args.clients
            )
            time.sleep(max(0.0, start - time.time()))
            cpu_before = _cpu_s(server.pid)
            ends = waiting.get()
            cpu_after = _cpu_s(server.pid)
        elapsed = max(ends) - start
        values = args.clients * args.batches * args.size
        print(
            f"{args.clients} client(s) x {args.batches} batches x {args.size} values: "
            f"{values:,} values in {elapsed:.2f} s = {values / elapsed:,.0f} values/s"
        )
        if cpu_before is not None and cpu_after is not None:
            per_batch = (cpu_after - cpu_before) / (args.clients * args.batches)
            print(
                f"server CPU: {per_batch * 1000:.2f} ms a batch = "
                f"{args.size / per_batch:,.0f} values/s on one core of its own"
            )
    finally:
        server.terminate()
        server.wait(timeout=30)
    direct = _direct(args.batches, args.size)
    print(f"the same batches straight to the SQL run store, one process: {direct:,.0f} values/s")


if __name__ == "__main__":
    main()
