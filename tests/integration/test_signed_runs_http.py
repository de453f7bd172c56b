"""Runs and artifacts signed by their user, against a real ``labledger server`` process.

A user who holds a registered key signs the entries the server writes for their runs and
artifacts (``run.started``, the seal, ``artifact.produced``); ``verify`` passes locally and over
``-w URL``; a bad, foreign or revoked signature is refused and nothing is written; a user without
a key works as before (the server signs).
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import time
from typing import TYPE_CHECKING, Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

import labledger
from labledger._foundation.errors import ConflictError, PermissionDeniedError
from labledger._foundation.settings import server_settings
from labledger.identity import IdentityService, Role, local_user
from labledger.stores.runs import RunQuery
from labledger.workspace.http.workspace import RemoteWorkspace
from labledger.workspace.signing import Signer, default_key_path, generate_key, load_signer
from labledger.workspace.verify import verify_workspace
from labledger.workspace.workspace import Workspace
from tests.integration.served import start_server
from tests.unit.pipelines import sample_pipelines as sp

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

pytestmark = pytest.mark.integration


class Team:
    """A served workspace, its server's URL, tokens and ed's registered key."""

    def __init__(self, served: Workspace, url: str, tokens: dict[str, str], key: Signer) -> None:
        self.served, self.url, self.tokens, self.key = served, url, tokens, key
        self.opened: list[RemoteWorkspace] = []

    def open_as(self, user: str, signer: Signer | None = None) -> RemoteWorkspace:
        ws = RemoteWorkspace(
            server_settings(self.url),
            token=self.tokens[user],
            store=self.served.store,
            signer=signer,
        )
        self.opened.append(ws)
        return ws


@pytest.fixture
def team(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Team]:
    monkeypatch.delenv("LABLEDGER_SIGNING_KEY", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    served = Workspace.init(tmp_path / "served")
    service = IdentityService(served.stores.identity)
    root = local_user("root")
    for name in ("ed", "eve", "ada"):
        service.create_user(name, by="root", is_admin=name == "ada")
    service.grant("default", "ed", Role.EDITOR, actor=root)
    service.grant("default", "eve", Role.EDITOR, actor=root)
    tokens = {n: service.issue_token(n, "test", by="root").secret for n in ("ed", "eve", "ada")}
    # ed's key where `labledger keys create` keeps it, registered with the server.
    path = default_key_path("ed")
    path.parent.mkdir(parents=True)
    generate_key(path)
    key = load_signer(path, "ed")
    service.add_key("ed", key.public_key_hex, name="laptop", by="ed")
    try:
        with start_server(served.settings.root or tmp_path) as url:
            made = Team(served, url, tokens, key)
            yield made
            for ws in made.opened:
                ws.close()
    finally:
        labledger.set_workspace(None)
        served.close()


def _entries(served: Workspace, subject_prefix: str) -> list[Any]:
    return [e for e in served.stores.ledger.entries() if e.subject.startswith(subject_prefix)]


def _cli(url: str, token: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "LABLEDGER_TOKEN": token}
    return subprocess.run(
        [sys.executable, "-m", "labledger", *args, "-w", url],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_a_user_with_a_key_signs_their_runs_and_artifacts_and_verify_passes(
    team: Team, tmp_path: Path
) -> None:
    ed = team.open_as("ed", team.key)
    sent: list[str] = []
    ed.client._http.event_hooks["request"].append(
        lambda request: sent.append(f"{request.method} {request.url.path}")
    )
    with labledger.start_run("signed", params={"lr": 0.1}, workspace=ed) as run:
        run.log_metric("loss", 0.5, step=1)
        run.log_metric("loss", 0.25, step=2)
        artifact = run.log_artifact({"a": 1}, name="table")
    # One more request than an unsigned run: the seal's entries, asked before the finish.
    assert sum(path.endswith("/seal-entries") for path in sent) == 1

    entries = _entries(team.served, f"run:{run.id}") + _entries(
        team.served, f"artifact:{artifact.id}"
    )
    kinds = {e.kind: e for e in entries}
    assert {"run.started", "run.finished", "artifact.produced"} <= set(kinds)
    for kind in ("run.started", "run.finished", "artifact.produced"):
        entry = kinds[kind]
        assert entry.actor == "ed", kind
        assert entry.signature is not None and entry.signature.startswith("v2:"), kind
    # The seal is the one the server computed from its rows.
    (stored,) = team.served.stores.runs.get_runs([run.id])
    assert kinds["run.finished"].payload["record_digest"] == stored.record_digest

    report = verify_workspace(team.served, blobs=False)
    assert report.ok, report.problems
    assert report.signers.get("ed", 0) >= 3
    walked = _cli(team.url, team.tokens["ada"], "verify", "--full")
    assert walked.returncode == 0, walked.stdout + walked.stderr
    local = subprocess.run(
        [sys.executable, "-m", "labledger", "verify", "--no-blobs", "-w",
         str(team.served.settings.root)],
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert local.returncode == 0, local.stdout + local.stderr
    assert "by signer" in local.stdout and "ed: " in local.stdout


def test_a_pipeline_run_is_signed_by_the_key_at_the_default_path(team: Team) -> None:
    ed = team.open_as("ed")  # no key given: the registered one at the default path is found
    result = sp.arithmetic.run(workspace=ed)
    assert result.status == "finished"
    entries = _entries(team.served, f"run:{result.run_id}")
    kinds = {e.kind: e for e in entries}
    assert {"run.started", "artifacts.produced", "run.finished"} <= set(kinds)
    for entry in entries:
        assert entry.actor == "ed" and entry.signature is not None, entry.kind
        assert entry.signature.startswith("v2:")
    assert verify_workspace(team.served, blobs=False).ok


def test_a_user_without_a_key_works_as_before(team: Team) -> None:
    eve = team.open_as("eve")
    with labledger.start_run("plain", workspace=eve) as run:
        run.log_metric("loss", 1.0)
        run.log_artifact({"b": 2}, name="plain-table")
    entries = _entries(team.served, f"run:{run.id}")
    assert {e.kind for e in entries} >= {"run.started", "run.finished"}
    assert all(e.actor != "eve" and e.payload.get("by") == "eve" for e in entries)
    assert verify_workspace(team.served, blobs=False).ok


def test_a_foreign_or_revoked_key_is_refused_and_nothing_is_written(team: Team) -> None:
    stranger = Signer("ed", Ed25519PrivateKey.generate())
    ed = team.open_as("ed", stranger)
    before = len(team.served.stores.ledger.entries())
    with pytest.raises(PermissionDeniedError, match="not registered"):
        labledger.start_run("foreign", workspace=ed)
    assert len(team.served.stores.ledger.entries()) == before
    assert team.served.stores.runs.search_runs(RunQuery()).items == []

    # A seal signed by a key that is revoked between start and finish: refused, run running.
    ed = team.open_as("ed", team.key)
    run = labledger.start_run("revoked", workspace=ed)
    run.log_metric("loss", 0.1)
    IdentityService(team.served.stores.identity).revoke_key(
        team.key.public_key_hex, actor=local_user("ed")
    )
    with pytest.raises(PermissionDeniedError, match="revoked") as refused:
        run.end()
    assert "nothing was written" in refused.value.message
    assert refused.value.hint is not None and "end it again" in refused.value.hint
    (stored,) = team.served.stores.runs.get_runs([run.id])
    assert stored.status == "running"
    assert not [e for e in _entries(team.served, f"run:{run.id}") if e.kind == "run.finished"]


def test_a_tampered_seal_is_refused_and_the_run_stays_running(team: Team) -> None:
    ed = team.open_as("ed", team.key)
    run = labledger.start_run("tampered", workspace=ed)
    run.log_metric("loss", 0.1)
    run.flush()
    ended = {"status": "finished", "ended_at": time.time(), "metrics": []}
    prepared = ed.client.call("POST", f"/api/v1/runs/{run.id}/seal-entries", ended, model=dict)
    (seal,) = prepared["entries"]
    payload = {**seal["payload"], "record_digest": "blake3:" + "0" * 64}
    body, signature = ed.sign_entry(seal["kind"], seal["subject"], payload)
    with pytest.raises(ConflictError, match="not the one the server would write"):
        ed.client.call(
            "POST",
            f"/api/v1/runs/{run.id}/finish",
            {**ended, "signed": [{**body.fields(), "signature": signature}]},
            model=dict,
        )
    # A good payload under a changed signature: the signature does not hold.
    body, signature = ed.sign_entry(seal["kind"], seal["subject"], seal["payload"])
    forged = signature[:-4] + ("AAAA" if not signature.endswith("AAAA") else "BBBB")
    with pytest.raises(PermissionDeniedError):
        ed.client.call(
            "POST",
            f"/api/v1/runs/{run.id}/finish",
            {**ended, "signed": [{**body.fields(), "signature": forged}]},
            model=dict,
        )
    (stored,) = team.served.stores.runs.get_runs([run.id])
    assert stored.status == "running"
    run.end()
    (stored,) = team.served.stores.runs.get_runs([run.id])
    assert stored.status == "finished"
    assert verify_workspace(team.served, blobs=False).ok


def test_a_signed_run_with_infinite_and_nan_values_seals(team: Team) -> None:
    """JSON has no infinite numbers: the seal's entries travel to the client as the ledger
    hashes them ("Infinity" as a string), so what it signs is what the server writes."""
    ed = team.open_as("ed", team.key)
    with labledger.start_run("odd values", workspace=ed) as run:
        run.log_metric("edge", math.inf, step=1)
        run.log_metric("edge", -math.inf, step=2)
        run.log_metric("edge", math.nan, step=3)
        run.log_metric("sure", 0.5, step=1)
    (stored,) = team.served.stores.runs.get_runs([run.id])
    assert stored.status == "finished" and stored.record_digest is not None
    report = verify_workspace(team.served, blobs=False)
    assert report.ok, report.problems
