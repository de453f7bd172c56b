"""``labledger users create|list -w URL`` against a real ``labledger server`` process: an
administrator creates a user with a password, who then signs in with it; the server hashes the
password with argon2, the ledger names the administrator as the maker, and neither the server's
log nor any answer carries the password."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest

from labledger.identity import IdentityService
from labledger.workspace.workspace import Workspace
from tests.integration.served import start_server

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.integration

_PASSWORD = "a long horse battery staple"


def _cli(
    *args: str, token: str | None, config: Path, stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "XDG_CONFIG_HOME": str(config)}
    env.pop("LABLEDGER_TOKEN", None)
    env.pop("LABLEDGER_URI", None)
    if token is not None:
        env["LABLEDGER_TOKEN"] = token
    return subprocess.run(
        [sys.executable, "-m", "labledger", *args],
        env=env, input=stdin, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_an_admin_creates_and_lists_users_through_the_server(tmp_path: Path) -> None:
    served = Workspace.init(tmp_path / "served")
    service = IdentityService(served.stores.identity)
    service.create_user("ada", by="root", is_admin=True)
    service.create_user("ed", by="root")
    ada = service.issue_token("ada", "laptop", by="root").secret
    ed = service.issue_token("ed", "laptop", by="root").secret
    config, log = tmp_path / "config", tmp_path / "server.log"
    try:
        with start_server(served.settings.root or tmp_path, log_to=log) as url:
            made = _cli("users", "create", "bob", "--display-name", "Bob B", "--password-stdin",
                        "-w", url, token=ada, config=config, stdin=_PASSWORD + "\n")  # fmt: skip
            assert made.returncode == 0, made.stdout + made.stderr
            assert "created user bob" in made.stdout

            listed = _cli("users", "list", "--json", "-w", url, token=ada, config=config)
            assert listed.returncode == 0, listed.stderr
            users = {u["name"]: u for u in json.loads(listed.stdout)}
            assert set(users) == {"ada", "bob", "ed"}
            assert users["bob"]["display_name"] == "Bob B"

            again = _cli("users", "create", "bob", "-w", url, token=ada, config=config)
            assert again.returncode != 0 and "exists" in (again.stdout + again.stderr)
            bad = _cli("users", "create", "no spaces", "-w", url, token=ada, config=config)
            assert bad.returncode != 0 and "invalid user name" in (bad.stdout + bad.stderr)
            editor = _cli("users", "create", "mallory", "-w", url, token=ed, config=config)
            assert editor.returncode != 0
            assert "administrator" in (editor.stdout + editor.stderr)

            # The grant that `users create` suggests works through the server too.
            granted = _cli("projects", "grant", "bob", "viewer", "--project", "default",
                           "-w", url, token=ada, config=config)  # fmt: skip
            assert granted.returncode == 0, granted.stdout + granted.stderr

            # Bob signs in with the password the server hashed.
            login = _cli("login", url, "--user", "bob", "--password-stdin",
                         token=None, config=config, stdin=_PASSWORD + "\n")  # fmt: skip
            assert login.returncode == 0, login.stdout + login.stderr
    finally:
        served.close()
    served = Workspace.open(tmp_path / "served")
    try:
        stored = served.stores.identity.credentials("bob")
        assert stored is not None and stored.password_hash is not None
        assert stored.password_hash.startswith("$argon2")
        made_entries = [e for e in served.stores.ledger.entries() if e.kind == "user.created"]
        bob = next(e for e in made_entries if e.payload.get("name") == "bob")
        assert "ada" in (bob.actor, bob.payload.get("by"))
        assert not [e for e in made_entries if e.payload.get("name") in ("mallory", "no spaces")]
    finally:
        served.close()
    text = log.read_text()
    assert "POST /api/v1/users" in text or "/api/v1/users" in text
    assert _PASSWORD not in text
