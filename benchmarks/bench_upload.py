"""Uploading a large file to a labledger server over loopback, next to storing it locally.

A ``labledger server`` runs over a fresh workspace folder (a subprocess on a free loopback port);
a remote workspace stores one random file (200 MB by default, ``--size-mb``) with ``put_file``:
hashed here, presence asked, streamed in 1 MiB chunks, hashed again by the server as it writes its
temporary copy, renamed into place. Each repeat uses new random bytes, so every upload is a real
one; the figure is the median of ``--repeat`` runs (3 by default) in decimal MB/s of the file's
size. The local line stores the same files into a local workspace's store (a copy: the temporary
folder and the store may be on one filesystem that clones, so ``link="copy"`` is forced).

Run: ``python benchmarks/bench_upload.py [--size-mb 200] [--repeat 3]``.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from labledger._foundation.settings import server_settings
from labledger.workspace.http.workspace import RemoteWorkspace
from labledger.workspace.workspace import Workspace

MB = 1_000_000


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait(base: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{base}/healthz", timeout=2):
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit("the server did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    size = args.size_mb * MB
    with tempfile.TemporaryDirectory(prefix="labledger-upload-") as scratch:
        root = Path(scratch)
        Workspace.init(root / "served").close()
        local = Workspace.init(root / "local")
        port = _free_port()
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "labledger",
                "server",
                "--port",
                str(port),
                "-w",
                str(root / "served"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            _wait(base)
            remote = RemoteWorkspace(server_settings(base))
            remote_s, local_s = [], []
            for i in range(args.repeat):
                path = root / f"file-{i}.bin"
                with open(path, "wb") as handle:
                    for _ in range(size // MB):
                        handle.write(os.urandom(MB))
                started = time.perf_counter()
                remote.store.put_file(path)
                remote_s.append(time.perf_counter() - started)
                started = time.perf_counter()
                local.store.put_file(path, link="copy")
                local_s.append(time.perf_counter() - started)
                path.unlink()
            remote.close()
        finally:
            server.terminate()
            server.wait(timeout=30)
            local.close()
    for label, times in (("through the server", remote_s), ("local store (copy)", local_s)):
        median = statistics.median(times)
        print(f"{label:>20}: {args.size_mb} MB in {median:.2f} s = {size / median / MB:.0f} MB/s")


if __name__ == "__main__":
    main()
