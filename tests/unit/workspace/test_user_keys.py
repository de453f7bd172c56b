"""Users' registered keys in the ledger's key history: what ``verify`` and ``append_signed_entry``
learn from ``user.key_added`` and ``user.key_revoked`` entries."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

import labledger
from labledger._foundation.errors import ConflictError, PermissionDeniedError
from labledger.identity import IdentityService
from labledger.stores.ledger import EntryBody
from labledger.workspace.keys import register_key, trusted_keys
from labledger.workspace.signed_entries import append_signed_entry
from labledger.workspace.signing import Signer, default_key_path, generate_key, load_signer
from labledger.workspace.trusted_keys import TrustedKey
from labledger.workspace.verify import verify_workspace
from labledger.workspace.workspace import Workspace

if TYPE_CHECKING:
    from pathlib import Path


def _signer(actor: str) -> Signer:
    return Signer(actor=actor, private_key=Ed25519PrivateKey.generate())


def _append(ws: Workspace, signer: Signer, kind: str = "review.approved") -> None:
    body = EntryBody.new(
        kind, subject="model:m", payload={}, actor=signer.actor, key_id=signer.public_key_hex
    )
    with ws.write() as conn:
        append_signed_entry(conn, body, signer.sign_body(body))


@pytest.fixture
def service(workspace: Workspace) -> IdentityService:
    service = IdentityService(workspace.stores.identity)
    service.create_user("ed", by="root")
    service.create_user("pat", by="root")
    return service


def test_a_user_may_hold_several_keys_and_each_signs_until_revoked(
    workspace: Workspace, service: IdentityService
) -> None:
    laptop, cluster = _signer("ed"), _signer("ed")
    service.add_key("ed", laptop.public_key_hex, name="laptop", by="ed")
    service.add_key("ed", cluster.public_key_hex, name="cluster", by="ed")
    _append(workspace, laptop)
    _append(workspace, cluster)
    service.store.revoke_key(laptop.public_key_hex, at=1.0, by="ed")
    with pytest.raises(PermissionDeniedError, match="revoked"):
        _append(workspace, laptop)
    _append(workspace, cluster)
    assert [k.revoked_at is not None for k in service.list_keys("ed")] == [True, False]
    assert labledger.verify(workspace=workspace, blobs=False).ok


def test_a_key_belongs_to_one_user(workspace: Workspace, service: IdentityService) -> None:
    ed = _signer("ed")
    service.add_key("ed", ed.public_key_hex, by="ed")
    with pytest.raises(ConflictError):
        service.add_key("pat", ed.public_key_hex, by="pat")
    # Nor may a user register a key the ledger already gave an actor of the workspace.
    actor = _signer("alice")
    register_key(workspace, "alice", actor.public_key_hex, signer=actor)
    with pytest.raises(ConflictError, match="ledger knows"):
        service.add_key("pat", actor.public_key_hex, by="pat")
    with pytest.raises(PermissionDeniedError, match="belongs to ed"):
        _append(workspace, Signer("pat", ed.private_key))


def test_registered_keys_are_exported_and_with_trusted_keys_only_pinned_ones_count(
    workspace: Workspace, service: IdentityService
) -> None:
    ed, pat = _signer("ed"), _signer("pat")
    service.add_key("ed", ed.public_key_hex, by="ed")
    service.add_key("pat", pat.public_key_hex, by="pat")
    _append(workspace, ed)
    _append(workspace, pat)
    exported = {(k.actor, k.public_key) for k in trusted_keys(workspace)}
    assert {("ed", ed.public_key_hex), ("pat", pat.public_key_hex)} <= exported
    only_ed = [k for k in trusted_keys(workspace) if k.actor == "ed"]
    report = verify_workspace(workspace, blobs=False, remember=False, trusted=only_ed)
    assert [p.reason for p in report.problems if "pat" in p.reason]
    assert not any("by ed" in p.reason for p in report.problems)
    pinned = [
        TrustedKey(k.actor, k.public_key, k.registered_entry) for k in trusted_keys(workspace)
    ]
    assert verify_workspace(workspace, blobs=False, remember=False, trusted=pinned).ok


def test_a_server_actor_that_registers_a_key_as_a_user_may_still_write_unsigned(
    workspace: Workspace, service: IdentityService
) -> None:
    service.create_user(workspace.actor, by="root")
    own = _signer(workspace.actor)
    service.add_key(workspace.actor, own.public_key_hex, by=workspace.actor)
    _append(workspace, own)
    with workspace.write() as conn:  # the server's own writes stay unsigned, as before
        workspace.record(conn, "collection.created", "collection:c", {"name": "c"})
    assert labledger.verify(workspace=workspace, blobs=False).ok


def test_a_user_writing_to_the_catalog_directly_signs_with_their_registered_key(
    workspace: Workspace, service: IdentityService, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv("LABLEDGER_SIGNING_KEY", raising=False)
    generate_key(default_key_path("ed"))
    key = load_signer(default_key_path("ed"), "ed")
    service.add_key("ed", key.public_key_hex, by="ed")
    with Workspace.open(workspace.settings.root, actor="ed") as as_ed, as_ed.write() as conn:
        entry = as_ed.record(conn, "review.approved", "model:m", {})
    assert entry.signature is not None and entry.signature.startswith("v2:")
    assert labledger.verify(workspace=workspace, blobs=False).ok
