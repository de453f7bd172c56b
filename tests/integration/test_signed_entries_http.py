"""Users' keys and the entries they sign, against a real ``labledger server`` process: a user
registers a key with the CLI, signs entries through the Python API, and ``verify`` (on the server
and on the client) accepts them; a wrong or revoked key is refused."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

import labledger
from labledger._foundation.errors import PermissionDeniedError
from labledger._foundation.settings import server_settings
from labledger.identity import IdentityService, Role, local_user
from labledger.workspace.http.workspace import RemoteWorkspace
from labledger.workspace.signing import Signer, load_signer
from tests.integration.served import start_server

if TYPE_CHECKING:
    from pathlib import Path

    from labledger.workspace.workspace import Workspace

pytestmark = pytest.mark.integration


def _cli(*args: str, token: str, config: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(sys.path),
        "LABLEDGER_TOKEN": token,
        "XDG_CONFIG_HOME": str(config),
    }
    env.pop("LABLEDGER_SIGNING_KEY", None)
    return subprocess.run(
        [sys.executable, "-m", "labledger", *args],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_a_user_registers_a_key_signs_entries_and_verify_accepts_them(
    workspace: Workspace, tmp_path: Path
) -> None:
    service = IdentityService(workspace.stores.identity)
    service.create_user("ada", by="root", is_admin=True)
    service.create_user("ed", by="root")
    service.grant("default", "ed", Role.EDITOR, actor=local_user("root"))
    ed_token = service.issue_token("ed", "laptop", by="root").secret
    ada_token = service.issue_token("ada", "laptop", by="root").secret
    config = tmp_path / "config"
    with start_server(workspace.settings.root or tmp_path) as url:
        added = _cli("keys", "add", "--name", "laptop", "-w", url, token=ed_token, config=config)
        assert added.returncode == 0, added.stderr
        signer = load_signer(config / "labledger" / "keys" / "ed.pem", "ed")
        assert signer.public_key_hex in added.stdout
        listed = _cli("keys", "list", "--json", "-w", url, token=ed_token, config=config)
        assert [k["id"] for k in json.loads(listed.stdout)] == [signer.public_key_hex]

        ed = RemoteWorkspace(server_settings(url), token=ed_token, signer=signer)
        try:
            entry = ed.append_signed("review.approved", "model:m1", {"note": "looks right"})
            assert (entry.actor, entry.signature[:3]) == ("ed", "v2:")
            stranger = Signer("ed", Ed25519PrivateKey.generate())
            ed.signer = stranger
            with pytest.raises(PermissionDeniedError, match="not registered"):
                ed.append_signed("review.approved", "model:m1", {})
            # The server re-checks its chain; the client downloads it and checks it too.
            served = _cli("verify", "-w", url, token=ada_token, config=config)
            assert served.returncode == 0, served.stdout + served.stderr
            walked = _cli("verify", "--full", "-w", url, token=ada_token, config=config)
            assert walked.returncode == 0, walked.stdout + walked.stderr

            revoked = _cli("keys", "revoke", signer.public_key_hex, "-w", url,
                           token=ed_token, config=config)  # fmt: skip
            assert revoked.returncode == 0, revoked.stderr
            ed.signer = signer
            with pytest.raises(PermissionDeniedError, match="revoked"):
                ed.append_signed("review.approved", "model:m1", {})
        finally:
            ed.close()
    report = labledger.verify(workspace=workspace, blobs=False)
    assert report.ok, report.problems
    kinds = [e.kind for e in workspace.stores.ledger.entries()]
    assert kinds.count("review.approved") == 1
    assert {"user.key_added", "user.key_revoked"} <= set(kinds)


def test_keys_create_against_a_server_registers_the_users_own_key(
    workspace: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = IdentityService(workspace.stores.identity)
    service.create_user("ed", by="root")
    service.grant("default", "ed", Role.EDITOR, actor=local_user("root"))
    token = service.issue_token("ed", "laptop", by="root").secret
    config = tmp_path / "config"
    with start_server(workspace.settings.root or tmp_path) as url:
        other = _cli("keys", "create", "--actor", "ada", "-w", url, token=token, config=config)
        assert other.returncode == 1
        assert "your own key only (you are ed)" in other.stderr
        assert not (config / "labledger" / "keys" / "ada.pem").exists()

        made = _cli("keys", "create", "-w", url, token=token, config=config)
        assert made.returncode == 0, made.stderr
        signer = load_signer(config / "labledger" / "keys" / "ed.pem", "ed")
        assert signer.public_key_hex in made.stdout
        # The key is found where `keys create` put it: nothing to export.
        assert "signed with it from now on" in made.stdout
        assert "export" not in made.stdout
        monkeypatch.setenv("XDG_CONFIG_HOME", str(config))
        monkeypatch.delenv("LABLEDGER_SIGNING_KEY", raising=False)
        ed = RemoteWorkspace(server_settings(url), token=token)
        try:
            assert ed.signer is not None
            assert ed.signer.public_key_hex == signer.public_key_hex
        finally:
            ed.close()
    assert [k.user for k in service.list_keys("ed")] == ["ed"]
