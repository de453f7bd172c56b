"""The command line against a real ``labledger server``: ``login``, the runs, lineage, metadata,
collections and search commands with ``-w URL``, and ``logout``."""

from __future__ import annotations

import json
import os
import stat
from typing import TYPE_CHECKING

import pytest
from typer.testing import CliRunner

from labledger.cli import app
from labledger.identity import IdentityService
from labledger.tracking import start_run
from labledger.workspace.http.credentials import credentials_path
from labledger.workspace.workspace import Workspace
from tests.integration.served import start_server

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.integration


def test_the_cli_works_against_a_server_after_login(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "250")
    monkeypatch.setenv("NO_COLOR", "1")
    served = Workspace.init(tmp_path)
    service = IdentityService(served.stores.identity)
    service.create_user("ada", by="root", is_admin=True, password="correct horse")
    run = start_run("dose", workspace=served)
    artifact = run.log_artifact({"x": 1}, name="plate")
    run.end()
    runner = CliRunner()

    def cli(*args: str, stdin: str | None = None) -> tuple[int, str]:
        result = runner.invoke(app, list(args), input=stdin)
        return result.exit_code, result.output

    root = str(served.settings.root)
    try:
        with start_server(served.settings.root or tmp_path) as url:
            code, out = cli("metadata", "list", "-w", url)
            assert code == 1 and f"labledger login {url}" in out
            code, out = cli("login", url, "--user", "ada", "--password-stdin", stdin="nope\n")
            assert code == 1 and "wrong user name or password" in out
            code, out = cli(
                "login", url, "--user", "ada", "--password-stdin", stdin="correct horse\n"
            )
            assert code == 0, out
            assert stat.S_IMODE(os.stat(credentials_path()).st_mode) == 0o600
            monkeypatch.setenv("LABLEDGER_URI", url)
            assert cli("metadata", "define", "conc", "number", "--unit", "uM")[0] == 0
            code, out = cli("metadata", "set", run.id, "conc=5")
            assert code == 0, out
            code, out = cli("search", "--where", "conc > 1", "--json")
            assert code == 0, out
            assert [hit["id"] for hit in json.loads(out)] == [run.id]
            assert cli("collections", "create", "screen")[0] == 0
            assert cli("collections", "add", "screen", artifact.id)[0] == 0
            code, out = cli("collections", "show", "screen", "--json")
            assert code == 0 and json.loads(out)["members"][0]["id"] == artifact.id
            code, out = cli("lineage", "plate", "--json")
            assert code == 0, out
            assert artifact.id in out
            code, out = cli("runs", "list", "--json")
            assert code == 0, out
            assert [r["id"] for r in json.loads(out)] == [run.id]
            code, out = cli("verify")
            assert code == 0 and "is the first seen from this server" in out, out
            cli("metadata", "set", run.id, "conc=6")  # the ledger grows
            code, out = cli("verify", "--full", "--json")
            assert code == 0, out
            checked = json.loads(out)
            assert checked["ok"] and checked["entries_walked"] == checked["checkpoint"]["size"]
            assert checked["previous_size"] < checked["checkpoint"]["size"]
            code, out = cli("projects", "create", "screening", "--description", "plates")
            assert code == 0 and "created project screening" in out, out
            code, out = cli("projects", "create", "screening")
            assert code == 1 and "exists already" in out
            code, out = cli("tokens", "create", "--name", "ci")
            assert code == 0, out
            secret = out.strip().splitlines()[-1]
            assert secret.startswith("lle_")
            monkeypatch.setenv("LABLEDGER_TOKEN", secret)
            code, out = cli("runs", "list", "--json")
            assert code == 0 and [r["id"] for r in json.loads(out)] == [run.id]
            service.create_user("nora", by="ada")
            nora = service.issue_token("nora", "laptop", by="ada").secret
            monkeypatch.setenv("LABLEDGER_TOKEN", nora)
            for command in (("runs", "list"), ("artifacts", "list")):
                code, out = cli(*command)
                assert code == 1 and "nora has no role in project 'default'" in out, out
                assert "labledger projects grant nora viewer --project default" in out
            monkeypatch.delenv("LABLEDGER_TOKEN")
            assert cli("logout", url)[0] == 0
            code, out = cli("metadata", "list")
            assert code == 1 and "labledger login" in out
    finally:
        served.close()
    assert root
