"""Users, tokens and roles: secrets never stored, tokens that stop working, roles that hold."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import select

from labledger._foundation.errors import (
    AuthenticationError,
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    ValidationError,
)
from labledger.identity import IdentityService, Role, local_user, token_hash
from labledger.workspace import schema
from labledger.workspace.ledger import iter_entries

if TYPE_CHECKING:
    from labledger.workspace.workspace import Workspace


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def service(workspace: Workspace, clock: Clock) -> IdentityService:
    return IdentityService(workspace.stores.identity, clock=clock)


def test_roles_order_by_power_not_alphabet() -> None:
    assert Role.VIEWER < Role.EDITOR < Role.ADMIN
    assert max(Role) is Role.ADMIN
    assert Role.ADMIN.allows(Role.EDITOR)
    assert not Role.VIEWER.allows(Role.EDITOR)
    assert Role.parse(" Editor ") is Role.EDITOR
    with pytest.raises(ValidationError, match="unknown role"):
        Role.parse("owner")


def test_token_secret_is_never_stored_only_its_hash(
    service: IdentityService, workspace: Workspace
) -> None:
    service.create_user("alice", by="root")
    issued = service.issue_token("alice", "laptop", by="root")
    assert issued.secret.startswith("lle_")
    assert len(issued.secret) >= 4 + 43
    with workspace.read() as conn:
        rows = [dict(r._mapping) for r in conn.execute(select(schema.api_tokens)).all()]
    assert [r["secret_hash"] for r in rows] == [token_hash(issued.secret)]
    stored = json.dumps(rows)
    assert issued.secret not in stored
    assert issued.secret.removeprefix("lle_") not in stored
    assert service.authenticate_token(issued.secret).name == "alice"


def test_wrong_expired_and_revoked_tokens_fail(service: IdentityService, clock: Clock) -> None:
    alice = service.create_user("alice", by="root")
    short = service.issue_token("alice", "short", by="root", expires_in_s=60)
    revoked = service.issue_token("alice", "old", by="root")
    service.revoke_token(revoked.token.id, actor=alice)
    with pytest.raises(AuthenticationError, match="not valid"):
        service.authenticate_token("lle_" + "x" * 43)
    with pytest.raises(AuthenticationError, match="not valid"):
        service.authenticate_token("not-a-token")
    with pytest.raises(AuthenticationError, match="revoked"):
        service.authenticate_token(revoked.secret)
    assert service.authenticate_token(short.secret).id == alice.id
    clock.now += 61
    with pytest.raises(AuthenticationError, match="expired"):
        service.authenticate_token(short.secret)


def test_disabled_users_tokens_fail(service: IdentityService) -> None:
    service.create_user("alice", by="root")
    issued = service.issue_token("alice", "laptop", by="root")
    service.disable_user("alice", by="root")
    with pytest.raises(AuthenticationError, match="disabled"):
        service.authenticate_token(issued.secret)


def test_last_use_is_written_at_most_once_a_minute(service: IdentityService, clock: Clock) -> None:
    service.create_user("alice", by="root")
    issued = service.issue_token("alice", "laptop", by="root")
    service.authenticate_token(issued.secret)
    first = clock.now
    clock.now += 10
    service.authenticate_token(issued.secret)
    assert service.list_tokens("alice")[0].last_used_at == first
    clock.now += 60
    service.authenticate_token(issued.secret)
    assert service.list_tokens("alice")[0].last_used_at == clock.now


def test_only_owner_or_admin_may_revoke(service: IdentityService) -> None:
    service.create_user("alice", by="root")
    bob = service.create_user("bob", by="root")
    issued = service.issue_token("alice", "laptop", by="root")
    with pytest.raises(NotFoundError):
        service.revoke_token(issued.token.id, actor=bob)
    assert service.revoke_token(issued.token.id, actor=local_user("root")).revoked_at is not None


def test_duplicate_user_is_a_conflict(service: IdentityService) -> None:
    service.create_user("alice", by="root")
    with pytest.raises(ConflictError):
        service.create_user("alice", by="root")
    with pytest.raises(ValidationError, match="invalid user name"):
        service.create_user("../x", by="root")


def test_the_workspace_signers_name_is_reserved(
    service: IdentityService, workspace: Workspace
) -> None:
    # ``workspace`` is the actor whose key signs checkpoints; verify counts its entries by name.
    for name in ("workspace", "Workspace", "WORKSPACE"):
        with pytest.raises(ValidationError, match="reserved") as caught:
            service.create_user(name, by="root")
        assert caught.value.hint
    assert [user.name for user in service.list_users()] == []
    service.create_user("workspace-admin", by="root")


def test_require_hides_projects_from_non_members(
    service: IdentityService, workspace: Workspace
) -> None:
    workspace.project_id("assay")
    viewer = service.create_user("vera", by="root")
    outsider = service.create_user("otto", by="root")
    service.grant("assay", "vera", Role.VIEWER, actor=local_user("root"))
    assert service.require(viewer, "assay", Role.VIEWER) is Role.VIEWER
    with pytest.raises(PermissionDeniedError, match="needs editor"):
        service.require(viewer, "assay", Role.EDITOR)
    with pytest.raises(NotFoundError) as existing:
        service.require(outsider, "assay", Role.VIEWER)
    with pytest.raises(NotFoundError) as missing:
        service.require(outsider, "nothing-here", Role.VIEWER)
    # The same words whether the project exists or not: nothing to learn from the difference.
    assert str(existing.value).replace("assay", "P") == str(missing.value).replace(
        "nothing-here", "P"
    )
    assert [p.name for p in service.visible_projects(viewer)] == ["assay"]
    assert service.visible_projects(outsider) == []
    assert {p.name for p in service.visible_projects(local_user("root"))} == {"assay", "default"}


def test_identity_events_land_in_the_ledger_without_secrets(
    service: IdentityService, workspace: Workspace
) -> None:
    pytest.importorskip("argon2")
    workspace.project_id("assay")
    alice = service.create_user("alice", by="root", password="correct horse")
    issued = service.issue_token("alice", "laptop", by="root")
    service.revoke_token(issued.token.id, actor=alice)
    service.grant("assay", "alice", Role.EDITOR, actor=local_user("root"))
    service.revoke_role("assay", "alice", actor=local_user("root"))
    with workspace.read() as conn:
        entries = list(iter_entries(conn))
        password_hash = conn.execute(select(schema.users.c.password_hash)).scalar_one()
    kinds = [e.kind for e in entries]
    for kind in ("user.created", "token.created", "token.revoked", "role.changed"):
        assert kind in kinds
    changes = [e.payload for e in entries if e.kind == "role.changed"]
    assert [(c["role"], c["before"]) for c in changes] == [("editor", None), (None, "editor")]
    text = json.dumps([e.payload for e in entries])
    for secret in (issued.secret, token_hash(issued.secret), password_hash, "correct horse"):
        assert secret not in text
    assert password_hash.startswith("$argon2")


def test_password_sign_in(service: IdentityService) -> None:
    pytest.importorskip("argon2")
    service.create_user("alice", by="root", password="correct horse")
    assert service.authenticate_password("alice", "correct horse").name == "alice"
    for name, password in (("alice", "wrong horse!"), ("nobody", "correct horse")):
        with pytest.raises(AuthenticationError, match="wrong user name or password"):
            service.authenticate_password(name, password)
    with pytest.raises(ValidationError, match="too short"):
        service.set_password("alice", "short", by="root")


def test_admins_create_projects_once_with_a_ledger_entry(
    service: IdentityService, workspace: Workspace
) -> None:
    root = local_user("root")
    made = service.create_project("screening", actor=root, description="plate screens")
    assert (made.name, made.description, made.role) == ("screening", "plate screens", None)
    assert {p.name for p in service.visible_projects(root)} == {"default", "screening"}
    with pytest.raises(ConflictError, match="exists already"):
        service.create_project("screening", actor=root)
    for bad in ("", " lead", "a/b", "x" * 201):
        with pytest.raises(ValidationError, match="invalid project name"):
            service.create_project(bad, actor=root)
    with pytest.raises(ValidationError, match="description"):
        service.create_project("other", actor=root, description="two\nlines")
    nora = service.create_user("nora", by="root")
    with pytest.raises(PermissionDeniedError, match="administrator"):
        service.create_project("mine", actor=nora)
    with workspace.read() as conn:
        created = [e.payload for e in iter_entries(conn) if e.kind == "project.created"]
    assert created == [{"name": "screening", "description": "plate screens", "by": "root"}]
    # Once made, roles can be granted in it.
    service.grant("screening", "nora", Role.EDITOR, actor=root)
    assert service.require(nora, "screening", Role.EDITOR) is Role.EDITOR


def test_no_role_in_default_is_said_plainly_and_other_projects_stay_hidden(
    service: IdentityService, workspace: Workspace
) -> None:
    workspace.project_id("secret")
    nora = service.create_user("nora", by="root")
    with pytest.raises(NotFoundError) as plain:
        service.require(nora, "default", Role.VIEWER)
    assert "nora has no role in project 'default'" in str(plain.value)
    assert "labledger projects grant nora viewer --project default" in str(plain.value.hint)
    with pytest.raises(NotFoundError) as hidden:
        service.require(nora, "secret", Role.VIEWER)
    with pytest.raises(NotFoundError) as missing:
        service.require(nora, "nothing-here", Role.VIEWER)
    assert str(hidden.value).replace("secret", "P") == str(missing.value).replace(
        "nothing-here", "P"
    )
    assert "no role" not in str(hidden.value)
