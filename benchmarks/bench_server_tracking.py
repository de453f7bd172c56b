"""Metric values per second through one ``labledger server`` process.

Starts ``labledger server`` over a fresh embedded workspace (single-user mode, on a free loopback
port), then ``--clients`` client processes each create a run and send ``--batches`` batches of
``--size`` metric values (one ``RunStore.log_batch`` request each, as a run's metric buffer sends
them), and prints the values written per second over all clients, wall time from the first batch
to the last answer. The issue's target: 200,000 values/s with 16 clients.

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
            ends = pool.starmap(_client, [(url, args.batches, args.size, start)] * args.clients)
        elapsed = max(ends) - start
        values = args.clients * args.batches * args.size
        print(
            f"{args.clients} client(s) x {args.batches} batches x {args.size} values: "
            f"{values:,} values in {elapsed:.2f} s = {values / elapsed:,.0f} values/s"
        )
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
