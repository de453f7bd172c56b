"""A throw-away local PostgreSQL server for the benchmarks that compare catalogs.

``local_postgres()`` runs ``initdb`` and ``pg_ctl`` from the newest installed PostgreSQL on a free
port of 127.0.0.1, in a folder of its own in the system temp folder, and stops and removes it
afterwards. As root it runs them as the
``postgres`` user (``initdb`` refuses root). The server runs with ``fsync=off``, as a test cluster
does: figures taken on it show the database's work, not the disk's flush.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = [
    "LocalPostgres",
    "create_database",
    "local_postgres",
    "postgres_available",
    "postgres_cpu_s",
]

_START_TIMEOUT_S = 60


def _bindir() -> Path | None:
    """The folder holding ``initdb``, ``pg_ctl`` and ``postgres``: the newest Debian one, else PATH."""

    def major(initdb: Path) -> int:
        name = initdb.parent.parent.name
        return int(name) if name.isdigit() else 0

    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=major, reverse=True)
    found = shutil.which("initdb")
    for initdb in [*candidates, *([Path(found)] if found else [])]:
        if (initdb.parent / "pg_ctl").is_file() and (initdb.parent / "postgres").is_file():
            return initdb.parent
    return None


def postgres_cpu_s() -> float | None:
    """User plus system CPU seconds of every live ``postgres`` process on this machine so far (the
    local server and its backends), or ``None`` where ``/proc`` cannot tell. A backend that exits
    takes its time with it: read it over a stretch in which the clients stay connected."""
    proc = Path("/proc")
    if not (proc / "self" / "stat").exists():
        return None
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # gone meanwhile
            continue
        name, _, rest = stat[stat.index("(") + 1 :].rpartition(")")
        if name.startswith("postgres"):
            fields = rest.split()
            total += int(fields[11]) + int(fields[12])
    return total / ticks


def postgres_available() -> str | None:
    """``None`` when a local PostgreSQL can be started here, else why not."""
    if _bindir() is None:
        return "PostgreSQL's server programs (initdb, pg_ctl) are not installed"
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg is not installed (pip install 'labledger[postgres]')"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no `postgres` user to own the cluster"
    return None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True)
class LocalPostgres:
    """A running cluster: ``url("db")`` is a SQLAlchemy URL of database ``db`` on it."""

    port: int
    folder: Path

    def url(self, database: str, driver: str = "psycopg") -> str:
        return f"postgresql+{driver}://postgres@127.0.0.1:{self.port}/{database}"


def create_database(server_url: str, name: str) -> str:
    """Create database ``name`` on the server of ``server_url``; return its URL."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    url = make_url(server_url)
    engine = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        engine.dispose()
    return url.set(database=name).render_as_string(hide_password=False)


@contextmanager
def local_postgres() -> Iterator[LocalPostgres]:
    """Start a PostgreSQL cluster; stop it and remove its folder on the way out."""
    problem = postgres_available()
    bindir = _bindir()
    if problem is not None or bindir is None:
        raise RuntimeError(problem or "no PostgreSQL")
    as_user: list[str] = []
    # In the system temp folder: the ``postgres`` user must be able to reach it.
    folder = Path(tempfile.mkdtemp(prefix="bench-postgres-"))
    if os.geteuid() == 0:
        owner = pwd.getpwnam("postgres")
        os.chown(folder, owner.pw_uid, owner.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    data, log, port = folder / "data", folder / "postgres.log", _free_port()

    def run(program: str, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*as_user, str(bindir / program), *args],
            capture_output=True,
            text=True,
            check=False,
            stdin=subprocess.DEVNULL,
            timeout=_START_TIMEOUT_S * 2,
        )

    init = run("initdb", "-D", str(data), "-U", "postgres", "-A", "trust", "-E", "UTF8")
    if init.returncode != 0:
        shutil.rmtree(folder, ignore_errors=True)
        raise RuntimeError(f"initdb failed:\n{init.stdout}\n{init.stderr}")
    options = " ".join(
        [
            "-c listen_addresses=127.0.0.1",
            f"-c port={port}",
            f"-c unix_socket_directories={folder}",
            "-c max_connections=200",
            "-c fsync=off",
            "-c synchronous_commit=off",
            "-c full_page_writes=off",
        ]
    )
    started = run(
        "pg_ctl", "-D", str(data), "-l", str(log), "-w", "-t", str(_START_TIMEOUT_S),
        "-o", options, "start",
    )  # fmt: skip
    if started.returncode != 0:
        shutil.rmtree(folder, ignore_errors=True)
        raise RuntimeError(f"PostgreSQL did not start on port {port}:\n{started.stderr}")
    try:
        yield LocalPostgres(port, folder)
    finally:
        run("pg_ctl", "-D", str(data), "-m", "fast", "-w", "stop")
        shutil.rmtree(folder, ignore_errors=True)
