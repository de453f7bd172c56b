"""Two ``labledger server`` processes on one team workspace (PostgreSQL + S3): they migrate it on
start together, share users and tokens, and report readiness from the catalog and the store."""

from __future__ import annotations

import subprocess
import sys
from typing import TYPE_CHECKING

import pytest

from labledger.identity import IdentityService
from labledger.workspace.catalog import HEAD_REVISION
from labledger.workspace.workspace import Workspace
from tests.conftest import subprocess_env
from tests.integration.server_processes import ServerProcess, call, start_server
from tests.old_catalogs import catalog_at, revision_of

if TYPE_CHECKING:
    from tests.integration.conftest import S3Server, _PostgresCluster

pytestmark = pytest.mark.integration

pytest.importorskip("uvicorn")


def _team_args(catalog: str, store: str, s3: S3Server) -> list[str]:
    return ["--catalog", catalog, "--store", store, "--s3-endpoint-url", s3.endpoint_url]


def _env(s3: S3Server) -> dict[str, str]:
    # Credentials come from the environment, as in production; nothing else does.
    return subprocess_env(AWS_ACCESS_KEY_ID=s3.access_key, AWS_SECRET_ACCESS_KEY=s3.secret_key)


def _stop_all(servers: list[ServerProcess]) -> None:
    for server in servers:
        server.stop()


def test_replicas_starting_together_migrate_an_old_catalog_once(
    fresh_postgres_url: str, s3_server: S3Server, s3_bucket_url: str
) -> None:
    catalog_at(fresh_postgres_url, "0005")
    # The test server trusts local connections, so any password gets in: none may be printed.
    with_password = fresh_postgres_url.replace("postgres@", "postgres:hunter2-secret@")
    args = _team_args(with_password, s3_bucket_url, s3_server)
    refused = subprocess.run(
        [sys.executable, "-m", "labledger", "server", "--no-migrate", *args],
        env=_env(s3_server),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert refused.returncode != 0
    assert "labledger migrate" in refused.stderr
    assert revision_of(fresh_postgres_url) == "0005"

    servers = [start_server(*args, env=_env(s3_server)) for _ in range(2)]
    try:
        for server in servers:
            server.wait_until_up()
            assert call(f"{server.base}/readyz") == (
                200,
                {"status": "ready", "catalog": "ok", "store": "ok"},
            )
    finally:
        _stop_all(servers)
    assert revision_of(fresh_postgres_url) == HEAD_REVISION
    migrated = [
        line
        for server in servers
        for line in server.log_lines()
        if line["message"].startswith("catalog migrated")
    ]
    assert len(migrated) == 1, migrated
    for server in servers:
        assert f"store {s3_bucket_url}" in server.stderr
        assert "hunter2-secret" not in server.stderr
    assert "hunter2-secret" not in refused.stderr + refused.stdout


def test_a_token_made_through_one_replica_works_through_the_other(
    fresh_postgres_url: str,
    s3_server: S3Server,
    s3_bucket_url: str,
    _postgres_cluster: _PostgresCluster,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LABLEDGER_STORE", s3_bucket_url)
    monkeypatch.setenv("LABLEDGER_S3_ENDPOINT_URL", s3_server.endpoint_url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3_server.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3_server.secret_key)
    with Workspace.init(fresh_postgres_url) as ws:
        service = IdentityService(ws.stores.identity)
        service.create_user("ada", by="root", is_admin=True)
        ada = service.issue_token("ada", "setup", by="root").secret
    args = _team_args(fresh_postgres_url, s3_bucket_url, s3_server)
    one, other = servers = [start_server(*args, env=_env(s3_server)) for _ in range(2)]
    try:
        for server in servers:
            server.wait_until_up()
        status, bob = call(
            f"{one.base}/api/v1/users", method="POST", body={"name": "bob"}, token=ada
        )
        assert status == 201 and bob["name"] == "bob"
        status, issued = call(
            f"{one.base}/api/v1/tokens", method="POST", body={"name": "replica"}, token=ada
        )
        assert status == 201
        status, me = call(f"{other.base}/api/v1/me", token=issued["secret"])
        assert status == 200 and me["name"] == "ada"
        status, users = call(f"{other.base}/api/v1/users", token=issued["secret"])
        assert status == 200 and {u["name"] for u in users["items"]} == {"ada", "bob"}
        for server in servers:
            assert call(f"{server.base}/readyz")[0] == 200

        # The catalog's database goes away: both replicas say they are not ready, and why.
        database = fresh_postgres_url.rsplit("/", 1)[1]
        _postgres_cluster.admin(f"DROP DATABASE {database} WITH (FORCE)")
        for server in servers:
            status, body = call(f"{server.base}/readyz")
            assert status == 503, body
            assert body["code"] == "workspace_unreadable"
            assert body["message"].startswith("the catalog does not answer")
            assert body["hint"]
            assert call(f"{server.base}/healthz") == (200, {"status": "ok"})
            # A request that needs the catalog gets the retryable 503, not a 500.
            status, body = call(f"{server.base}/api/v1/users", token=ada)
            assert status == 503, body
            assert body["code"] == "store_unavailable" and "does not answer" in body["message"]
    finally:
        _stop_all(servers)
    assert issued["secret"] not in one.stderr + other.stderr
