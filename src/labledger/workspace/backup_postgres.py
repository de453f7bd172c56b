"""The PostgreSQL half of a backup: ``pg_dump`` of one exported snapshot, and ``pg_restore``.

The catalog is dumped in PostgreSQL's custom format from the very snapshot in which the backup read
the digests it copies (``pg_export_snapshot`` then ``pg_dump --snapshot``), so the dump references
exactly the blobs the backup holds. Passwords go to the programs through ``PGPASSWORD``, never on
their command line.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import make_url, select, text

from labledger._foundation.errors import ConfigurationError, WorkspaceError
from labledger.workspace import schema

if TYPE_CHECKING:
    from labledger.workspace.workspace import Workspace

__all__ = ["DUMP_FILE", "check_dump", "database_is_empty", "dump_catalog", "restore_catalog"]

DUMP_FILE = "catalog.pgdump"


def _program(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    # Debian and Ubuntu install the server's programs beside it, not on PATH.
    bundled = sorted(
        Path("/usr/lib/postgresql").glob(f"*/bin/{name}"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    if bundled:
        return str(bundled[-1])
    raise ConfigurationError(
        f"{name} is not on PATH: a PostgreSQL catalog is backed up and restored with it",
        hint="install the PostgreSQL client programs at the server's major version or newer "
        "(apt install postgresql-client, brew install libpq, or the server's bin folder) and "
        "put them on PATH",
    )


def _connection(url: str) -> tuple[str, dict[str, str]]:
    """A libpq URL without the password, and the environment that carries the password."""
    parsed = make_url(url)
    env = dict(os.environ)
    if parsed.password:
        env["PGPASSWORD"] = str(parsed.password)
    plain = parsed.set(drivername="postgresql", password=None)
    return plain.render_as_string(hide_password=False), env


def _run(command: list[str], env: dict[str, str], what: str) -> str:
    done = subprocess.run(
        command, capture_output=True, text=True, env=env, check=False, stdin=subprocess.DEVNULL
    )
    if done.returncode != 0:
        reason = (done.stderr.strip() or done.stdout.strip() or "no output").splitlines()[-1]
        raise WorkspaceError(
            f"{what} failed: {reason}",
            hint="a server newer than the program needs a newer pg_dump/pg_restore; check the "
            "URL and that the database accepts connections",
        )
    return done.stdout


def dump_catalog(workspace: Workspace, target: Path) -> dict[str, int]:
    """Dump the catalog to ``target``; return the digests (and sizes) of that same snapshot."""
    pg_dump = _program("pg_dump")
    url, env = _connection(workspace.catalog.url)
    with workspace.catalog.writer.connect() as plain:
        conn = plain.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            # The transaction stays open until pg_dump has attached to its snapshot and finished.
            snapshot = conn.execute(text("SELECT pg_export_snapshot()")).scalar_one()
            blobs = schema.blobs
            wanted = {
                str(d): int(s) for d, s in conn.execute(select(blobs.c.digest, blobs.c.size)).all()
            }
            command = [pg_dump, "--format=custom", f"--snapshot={snapshot}", f"--file={target}"]
            _run([*command, f"--dbname={url}"], env, "pg_dump")
    return wanted


def check_dump(dump: Path) -> None:
    """Read the dump's table of contents (``pg_restore --list``): it is whole and readable."""
    _run([_program("pg_restore"), "--list", str(dump)], dict(os.environ), "pg_restore --list")


def database_is_empty(url: str) -> bool:
    """Whether the database has no tables of its own."""
    from sqlalchemy import create_engine

    if url.startswith(("postgresql://", "postgres://")):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            count = conn.execute(
                text(
                    "SELECT count(*) FROM information_schema.tables WHERE table_schema NOT IN "
                    "('pg_catalog', 'information_schema')"
                )
            ).scalar_one()
    finally:
        engine.dispose()
    return int(count) == 0


def restore_catalog(dump: Path, url: str, *, clean: bool) -> None:
    """``pg_restore`` the dump into the database at ``url`` (dropping its objects first if ``clean``)."""
    libpq_url, env = _connection(url)
    command = [_program("pg_restore"), "--no-owner", "--no-privileges", "--exit-on-error"]
    if clean:
        command += ["--clean", "--if-exists"]
    _run([*command, f"--dbname={libpq_url}", str(dump)], env, "pg_restore")
