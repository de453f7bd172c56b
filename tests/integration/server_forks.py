"""Real ``labledger server`` processes, started in milliseconds: forked from one process that has
imported the server once.

A server subprocess spends most of its start importing (FastAPI, pydantic, SQLAlchemy, uvicorn,
labledger); the conformance modules start one per test, hundreds in all. ``fork_server`` asks a
launcher process, started once per test session, to fork a child that runs ``labledger server``
with the caller's arguments, environment and working directory. The child is a separate process
with its own socket, database connections and signal handling, as a server started any other way.

The launcher imports but never starts a thread or opens a connection, so forking it is safe.
Run as ``python -m tests.integration.server_forks``, it reads one JSON request a line on stdin
(``argv``, ``env``, ``cwd``, ``log``) and answers each with the child's ``pid``.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import traceback
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ["fork_server", "process_gone", "stop_forked"]

_STOP_TIMEOUT_S = 15.0


def _reap(*_: object) -> None:
    with contextlib.suppress(ChildProcessError):
        while os.waitpid(-1, os.WNOHANG)[0]:
            pass


def _child(request: dict[str, Any]) -> None:
    """In the forked child: become ``labledger <argv>`` and never return."""
    code = 1
    try:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        log = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        sys.argv = ["labledger", *request["argv"]]
        from labledger.cli import main

        try:
            main()
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:
        traceback.print_exc()
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def _serve_requests() -> None:
    """The launcher's loop: import once, then fork a server per request until stdin closes."""
    import importlib

    for module in (
        "alembic.command",
        "argon2",
        "fastapi",
        "uvicorn",
        "uvicorn.lifespan.on",
        "uvicorn.protocols.http.h11_impl",
        "uvicorn.protocols.websockets.auto",
        "labledger.cli",
        "labledger.server.app",
        "labledger.server.launch",
        "labledger.workspace.sql.stores",
        "labledger.workspace.workspace",
    ):
        with contextlib.suppress(ImportError):
            importlib.import_module(module)

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C in pytest stops it by closing stdin
    signal.signal(signal.SIGCHLD, _reap)
    out = sys.stdout
    print(json.dumps({"ready": True}), file=out, flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            _child(request)
        print(json.dumps({"pid": pid}), file=out, flush=True)


class _Launcher:
    """The launcher process, started on first use and stopped when the tests end."""

    def __init__(self) -> None:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.integration.server_forks"],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.lock = threading.Lock()
        ready = self._answer()
        if not ready.get("ready"):
            raise AssertionError(f"the server launcher did not start: {ready}")
        atexit.register(self.close)

    def _answer(self) -> dict[str, Any]:
        stdout: IO[str] | None = self.process.stdout
        assert stdout is not None
        line = stdout.readline()
        if not line:
            raise AssertionError("the server launcher exited")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def fork(self, argv: list[str], log: str) -> int:
        request = {"argv": argv, "env": dict(os.environ), "cwd": os.getcwd(), "log": log}
        with self.lock:
            stdin = self.process.stdin
            assert stdin is not None
            stdin.write(json.dumps(request) + "\n")
            stdin.flush()
            return int(self._answer()["pid"])

    def alive(self) -> bool:
        return self.process.poll() is None

    def close(self) -> None:
        if self.process.stdin is not None:
            with contextlib.suppress(OSError):
                self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


_launchers: list[_Launcher] = []  # the one running, once started


def _running_launcher() -> _Launcher:
    if not _launchers or not _launchers[-1].alive():
        _launchers.append(_Launcher())
    return _launchers[-1]


def process_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def stop_forked(pid: int, sig: int = signal.SIGINT) -> None:
    """Stop a forked server (gracefully, then by force) and wait until it is gone."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)
    deadline = time.monotonic() + _STOP_TIMEOUT_S
    while not process_gone(pid):
        if time.monotonic() > deadline:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            deadline = time.monotonic() + _STOP_TIMEOUT_S
        time.sleep(0.01)


@contextlib.contextmanager
def fork_server(argv: list[str], log: str) -> Iterator[int]:
    """A ``labledger <argv>`` process forked from the launcher, its output appended to ``log``;
    yields its pid and stops it on leaving."""
    pid = _running_launcher().fork(argv, log)
    try:
        yield pid
    finally:
        stop_forked(pid)


if __name__ == "__main__":
    _serve_requests()
