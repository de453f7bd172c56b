"""The team-server walkthrough of docs/server.md, end to end, as its users would do it.

A real ``labledger server`` serves a PostgreSQL catalog and a SeaweedFS S3 bucket. Where the
workspace is, the owner creates the users and their tokens on the catalog itself; the
administrator gives roles through the server. Then every command runs in a process of its own
whose environment names nothing but the server and the user's token (``LABLEDGER_URI``,
``LABLEDGER_TOKEN``): alice (editor) runs a pipeline with the local executor, carol (another
editor) runs it and gets every step from the cache alice filled, alice runs it on Dask (cached,
then with a changed parameter), bob (viewer) lists, searches and reads lineage, runs and logs,
both hold the server to its ledger, and bob is refused every write with a clear message and a
non-zero exit status.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest

from labledger.workspace.fsspec_store import FsspecBlobStore
from tests.conftest import SOURCE
from tests.integration.server_processes import start_server

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from tests.integration.conftest import S3Server

pytestmark = pytest.mark.integration

pytest.importorskip("uvicorn")
pytest.importorskip("distributed")

# The pipeline of the walkthrough: the repository's own example, as a user would copy it.
EXAMPLE = SOURCE.parent / "examples" / "pipeline_quickstart.py"
STEPS = {"read_plate", "hits", "summary"}


def _bare_env(home: Path, **variables: str) -> dict[str, str]:
    """A user's environment: this checkout importable, a home of their own, and ``variables``.

    Nothing of the test's own settings (catalog, store, S3 credentials) comes along.
    """
    home.mkdir(parents=True, exist_ok=True)
    python_path = os.pathsep.join(dict.fromkeys([str(SOURCE), *sys.path]))
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "LABLEDGER_STATE_DIR": str(home / ".state"),
        "PYTHONPATH": python_path,
        "COLUMNS": "200",
        "NO_COLOR": "1",
        **variables,
    }


@dataclass
class Outcome:
    """What one command did."""

    code: int
    out: str
    err: str

    def json(self) -> Any:
        assert self.code == 0, f"exit {self.code}\n{self.out}\n{self.err}"
        return json.loads(self.out)


def labledger(env: dict[str, str], *args: str, cwd: Path, stdin: str | None = None) -> Outcome:
    """``labledger ARGS`` in a process of its own."""
    done = subprocess.run(
        [sys.executable, "-m", "labledger", *args],
        env=env,
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return Outcome(done.returncode, done.stdout, done.stderr)


@dataclass
class TeamServer:
    """The running server, and what the administrator set up on it."""

    url: str
    catalog: str
    work: Path
    tokens: dict[str, str]
    bucket: FsspecBlobStore

    def env(self, user: str) -> dict[str, str]:
        """A user's environment: the server and their token, nothing else."""
        return _bare_env(
            self.work / f"home-{user}", LABLEDGER_URI=self.url, LABLEDGER_TOKEN=self.tokens[user]
        )

    def cli(self, user: str, *args: str) -> Outcome:
        return labledger(self.env(user), *args, cwd=self.work)


def _secret(outcome: Outcome) -> str:
    assert outcome.code == 0, outcome.out + outcome.err
    return next(line for line in outcome.out.splitlines() if line.startswith("lle_"))


@pytest.fixture
def team_server(
    team_env: str, s3_server: S3Server, s3_bucket_url: str, tmp_path: Path
) -> Iterator[TeamServer]:
    """A server on PostgreSQL and S3 with an administrator, alice and carol (editors) and bob (viewer)."""
    catalog = team_env
    # Users and their tokens are made where the workspace is (the catalog and the bucket).
    owner = _bare_env(
        tmp_path / "home-owner",
        LABLEDGER_URI=catalog,
        LABLEDGER_STORE=s3_bucket_url,
        LABLEDGER_S3_ENDPOINT_URL=s3_server.endpoint_url,
        AWS_ACCESS_KEY_ID=s3_server.access_key,
        AWS_SECRET_ACCESS_KEY=s3_server.secret_key,
        # The server signs every checkpoint it gives out with this key (made on first use).
        LABLEDGER_WORKSPACE_KEY=str(tmp_path / "server-key.pem"),
    )

    def owner_cli(*args: str) -> Outcome:
        return labledger(owner, *args, cwd=tmp_path)

    initialised = owner_cli("init")  # done already: it is safe to run again
    assert initialised.code == 0, initialised.out + initialised.err
    tokens: dict[str, str] = {}
    for name, admin in (("admin", True), ("alice", False), ("carol", False), ("bob", False)):
        made = owner_cli("users", "create", name, *(["--admin"] if admin else []))
        assert made.code == 0, made.out + made.err
        tokens[name] = _secret(owner_cli("tokens", "create", "--user", name, "--name", "laptop"))
    made = owner_cli("projects", "create", "screening", "--description", "Plate screening")
    assert made.code == 0, made.out + made.err
    # The catalog, the store and its endpoint come from the variables, as the docs show.
    server = start_server("--host", "127.0.0.1", env=owner)
    try:
        server.wait_until_up()
        bucket = FsspecBlobStore(s3_bucket_url, storage_options=s3_server.storage_options)
        team = TeamServer(server.base, catalog, tmp_path, tokens, bucket)
        # Roles are given through the server, by the administrator.
        for name, role in (("alice", "editor"), ("carol", "editor"), ("bob", "viewer")):
            granted = team.cli("admin", "projects", "grant", name, role, "--project", "default")
            assert granted.code == 0, granted.out + granted.err
        granted = team.cli(
            "admin", "projects", "grant", "alice", "editor", "--project", "screening"
        )
        assert granted.code == 0, granted.out + granted.err
        yield team
    finally:
        code = server.stop()
        assert code == 0, server.stderr[-3000:]


def _statuses(result: Any) -> dict[str, str]:
    return {task["node"]: task["status"] for task in result["tasks"]}


def test_a_team_works_through_one_server_on_postgres_and_s3(team_server: TeamServer) -> None:
    team = team_server
    (team.work / "examples").mkdir()
    shutil.copy(EXAMPLE, team.work / "examples")
    target = "examples/pipeline_quickstart.py:plate_summary"

    # alice runs the pipeline on her machine; every step is computed and recorded on the server.
    first = team.cli("alice", "run", target, "--json").json()
    assert first["status"] == "finished"
    assert set(_statuses(first)) == STEPS
    assert set(_statuses(first).values()) == {"finished"}
    digests = {task["node"]: task["digests"] for task in first["tasks"]}
    # The outputs' bytes went through the server into the bucket.
    stored = [digest for outputs in digests.values() for digest in outputs.values()]
    assert stored and all(team.bucket.exists(digest) for digest in stored)

    # carol, another editor, runs the same pipeline: every step comes from the server's cache.
    again = team.cli("carol", "run", target, "--json").json()
    assert again["run_id"] != first["run_id"]
    assert set(_statuses(again).values()) == {"cached"}
    assert {task["node"]: task["digests"] for task in again["tasks"]} == digests

    # On Dask (a local cluster whose workers reach the server with alice's token): cached too,
    # and a changed parameter computes what it changes on the workers, the rest from the cache.
    on_dask = team.cli("alice", "run", target, "--dask", "local", "--json").json()
    assert set(_statuses(on_dask).values()) == {"cached"}
    assert {task["node"]: task["digests"] for task in on_dask["tasks"]} == digests
    changed = team.cli("alice", "run", target, "--dask", "local", "-p", "threshold=0.5", "--json")
    statuses = _statuses(changed.json())
    assert statuses["read_plate"] == "cached"
    assert statuses["hits"] == statuses["summary"] == "finished"

    # bob (viewer) sees alice's runs, finds them, and reads an output's lineage.
    listed = team.cli("bob", "runs", "list", "--json").json()
    run_ids = {run["id"] for run in listed}
    assert {first["run_id"], again["run_id"], on_dask["run_id"]} <= run_ids
    assert {run["status"] for run in listed} == {"finished"}
    found = team.cli("bob", "runs", "search", f"id = '{first['run_id']}'", "--json").json()
    assert [run["id"] for run in found] == [first["run_id"]]
    hits = team.cli("bob", "search", "plate_summary", "--kind", "run", "--json").json()
    assert first["run_id"] in {hit["id"] for hit in hits}
    # The administrator defines a metadata field, alice annotates her run, bob searches by it.
    defined = team.cli("admin", "metadata", "define", "wells_read", "number")
    assert defined.code == 0, defined.err
    annotated = team.cli("alice", "metadata", "set", first["run_id"], "wells_read=96")
    assert annotated.code == 0, annotated.err
    where = team.cli("bob", "search", "--where", "wells_read >= 24", "--json").json()
    assert [hit["id"] for hit in where] == [first["run_id"]]
    summary = next(task for task in first["tasks"] if task["node"] == "summary")
    lineage = team.cli("bob", "lineage", summary["outputs"]["out"], "--json").json()
    assert "read_plate" in json.dumps(lineage) and "hits" in json.dumps(lineage)
    shown = team.cli("bob", "runs", "show", first["run_id"], "--json").json()
    assert {task["node"] for task in shown["tasks"]} == STEPS
    compared = team.cli("bob", "runs", "compare", first["run_id"], changed.json()["run_id"])
    assert compared.code == 0 and "threshold" in compared.out, compared.out + compared.err
    logs = team.cli("bob", "runs", "logs", first["run_id"])
    assert logs.code == 0 and "read_plate" in logs.out, logs.out + logs.err

    # Both hold the server to its ledger: the first look remembers the checkpoint, the next one
    # must extend it.
    seen = team.cli("alice", "verify", "-w", team.url)
    assert seen.code == 0 and "is the first seen from this server" in seen.out, seen.out
    checked = team.cli("bob", "verify", "-w", team.url, "--json").json()
    assert checked["ok"] is True

    # bob may not write: a pipeline run and a tracked run are refused, saying why.
    refused = team.cli("bob", "run", target, "-p", "wells=8")
    assert refused.code != 0
    said = (
        "bob is viewer in default; this needs editor (ask a project admin or a workspace "
        "administrator: labledger projects grant bob editor --project default)"
    )
    assert said in refused.err and "Traceback" not in refused.err, refused.err
    logged = labledger(
        team.env("bob"), "metadata", "set", again["run_id"], "wells_read=1", cwd=team.work
    )
    assert logged.code != 0 and said in logged.err, logged.err
    # Nor re-run one to reproduce it: refused before anything runs, not shown as a failed check.
    reproduced = team.cli("bob", "reproduce", first["run_id"])
    assert reproduced.code != 0 and said in reproduced.err, reproduced.out + reproduced.err
    assert "reproduced bit for bit" not in reproduced.out, reproduced.out
    tracked = subprocess.run(
        [sys.executable, "-c", "import labledger; labledger.start_run('bob-fit').end()"],
        env=team.env("bob"),
        cwd=team.work,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert tracked.returncode != 0
    assert "PermissionDeniedError" in tracked.stderr, tracked.stderr
    # Nothing of bob's got in.
    after = {run["id"] for run in team.cli("alice", "runs", "list", "--json").json()}
    assert len(after) == len(run_ids)
