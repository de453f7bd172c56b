"""A real ``labledger server`` (uvicorn, a subprocess on a free loopback port) over a fresh embedded
workspace, and a workspace that reads through it.

The store conformance modules (``test_*_store_http.py``) rerun the unit tests of a service against
``ServedWorkspace``: every store call and every blob read goes over HTTP to the server, while the
data a test *builds* through APIs that are not remote (lineage rows written straight into the
catalog, blobs deleted, projects) is written on the served workspace itself, the same folder the
server serves; runs, blobs, artifacts and pipeline tasks go through the server. The server reads
the rest from there, as it would a teammate's writes.
"""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from typing import TYPE_CHECKING, Any, BinaryIO

import pytest

from labledger._foundation.settings import server_settings
from labledger.workspace import current
from labledger.workspace.http.blobs import HttpBlobStore
from labledger.workspace.http.stores import HttpStores
from labledger.workspace.http.workspace import RemoteWorkspace
from labledger.workspace.workspace import Workspace
from tests.integration.server_forks import fork_server, process_gone

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator
    from pathlib import Path

__all__ = ["ServedWorkspace", "served_workspace", "start_server"]

_START_TIMEOUT_S = 60.0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_until_healthy(base: str, alive: Callable[[], bool], log: BinaryIO) -> None:
    """Return once ``base`` answers /healthz; fail with the server's log if it dies or stalls."""
    deadline = time.monotonic() + _START_TIMEOUT_S
    while True:
        try:
            with urllib.request.urlopen(f"{base}/healthz", timeout=2):
                return
        except (urllib.error.URLError, ConnectionError):
            if not alive() or time.monotonic() > deadline:
                log.seek(0)
                err = log.read().decode(errors="replace")
                raise AssertionError(f"the server did not start: {err[-2000:]}") from None
            time.sleep(0.02)


@contextlib.contextmanager
def start_server(root: Path, *, forked: bool = False, log_to: Path | None = None) -> Iterator[str]:
    """``labledger server`` over the workspace at ``root``; yields its base URL.

    By default a new interpreter; ``forked`` forks it from a process that imported the server
    once (``server_forks``), which starts in a fraction of the time, for the conformance modules
    that start a server per test. Its log (a JSON line per request) goes to a file: a pipe nobody
    reads until the end would fill up and stop the server mid-request; ``log_to`` keeps it.
    """
    pytest.importorskip("uvicorn")
    port = _free_port()
    argv = ["server", "--port", str(port), "-w", str(root)]
    base = f"http://127.0.0.1:{port}"
    kept = log_to.open("w+b") if log_to is not None else None
    with kept or tempfile.NamedTemporaryFile() as log:
        if forked:
            with fork_server(argv, log.name) as pid:
                _wait_until_healthy(base, lambda: not process_gone(pid), log)
                yield base
            return
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
        process = subprocess.Popen(
            [sys.executable, "-m", "labledger", *argv],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        try:
            _wait_until_healthy(base, lambda: process.poll() is None, log)
            yield base
        finally:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


class _SplitBlobStore:
    """Reads and stores through the server; deletes and lists on the served workspace's store."""

    def __init__(self, remote: HttpBlobStore, local: Any) -> None:
        self.remote, self.local, self.url = remote, local, remote.url

    def open(self, digest: str) -> BinaryIO:
        return self.remote.open(digest)

    def exists(self, digest: str) -> bool:
        return self.remote.exists(digest)

    def exists_many(self, digests: Iterable[str]) -> dict[str, bool]:
        return self.remote.exists_many(digests)

    def size(self, digest: str) -> int:
        return self.remote.size(digest)

    def put(self, source: Any) -> str:
        return self.remote.put(source)

    def put_file(self, path: Any, *, link: Any = None) -> str:
        return self.remote.put_file(path, link=link)

    def put_files(self, paths: Any) -> list[str]:
        return self.remote.put_files(paths)

    def __getattr__(self, name: str) -> Any:
        # delete, digests, the trash: the server's garbage collection, done on its side.
        return getattr(self.local, name)


class _SplitStores(HttpStores):
    """The HTTP stores; anything else a test reaches for comes from the served workspace."""

    def __init__(self, client: Any, served: Workspace) -> None:
        super().__init__(client)
        self.served = served

    def __getattr__(self, name: str) -> Any:
        return getattr(self.served.stores, name)


class ServedWorkspace(RemoteWorkspace):
    """A workspace reached through a real server, that builds test data on the served workspace."""

    def __init__(self, url: str, served: Workspace) -> None:
        super().__init__(server_settings(url))
        self.served = served
        self.store = _SplitBlobStore(HttpBlobStore(self.client), served.store)

    @functools.cached_property
    def stores(self) -> _SplitStores:
        return _SplitStores(self.client, self.served)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.served, name)

    # What builds data goes to the served workspace directly.
    def write(self) -> Any:
        return self.served.write()

    def read(self) -> Any:
        return self.served.read()

    def record(self, *args: Any, **kwargs: Any) -> Any:
        return self.served.record(*args, **kwargs)

    def register_blob(self, *args: Any) -> None:
        self.served.register_blob(*args)

    def project_id(self, name: str = "default") -> str:
        # A server's projects are made by its administrators: made here on the served side as
        # a test asks for one, then found through the server.
        self.served.project_id(name)
        return super().project_id(name)

    def upsert(self, *args: Any) -> None:
        self.served.upsert(*args)

    def insert_ignore(self, *args: Any) -> None:
        self.served.insert_ignore(*args)

    def close(self) -> None:
        super().close()
        self.served.close()


@contextlib.contextmanager
def served_workspace(folder: Path, *, log_to: Path | None = None) -> Iterator[ServedWorkspace]:
    """A fresh embedded workspace in ``folder``, served by a real server, opened through it (the
    server's log, a JSON line per request, kept at ``log_to`` when given)."""
    served = Workspace.init(folder)
    try:
        with start_server(served.settings.root or folder, forked=True, log_to=log_to) as url:
            remote = ServedWorkspace(url, served)
            try:
                yield remote
            finally:
                current.set_workspace(None)
                remote.close()
    finally:
        served.close()
