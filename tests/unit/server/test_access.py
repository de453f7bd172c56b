"""What a server process remembers about who is asking: a token's user and a user's roles are
trusted for ``ttl_s`` seconds, then read again, so that a token revoked, a user disabled or a role
changed by another process (the CLI, another replica) takes effect within that time; through this
server's own routes, at once."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from labledger._foundation.errors import AuthenticationError
from labledger.identity import Role, local_user
from labledger.server.access import AccessCache

if TYPE_CHECKING:
    from labledger.identity import IdentityService
    from labledger.workspace.workspace import Workspace
    from tests.unit.server.conftest import TestClient

ROOT = local_user("root")
RUN_ID = "0190aaaa-0000-7000-8000-0000000000a1"


class Clock:
    """Monotonic seconds that move only when the test says so."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def access(service: IdentityService, clock: Clock) -> AccessCache:
    return AccessCache(service, ttl_s=5.0, clock=clock)


@pytest.fixture
def assay(workspace: Workspace, service: IdentityService) -> str:
    project = workspace.project_id("assay")
    service.create_user("ed", by="root")
    service.grant("assay", "ed", Role.EDITOR, actor=ROOT)
    return project


def test_a_token_revoked_elsewhere_is_refused_once_the_ttl_has_passed(
    service: IdentityService, access: AccessCache, clock: Clock, assay: str
) -> None:
    issued = service.issue_token("ed", "laptop", by="root")
    assert access.user(issued.secret).name == "ed"
    service.revoke_token(issued.token.id, actor=ROOT)  # as `labledger tokens revoke` would
    clock.now += 4.9
    assert access.user(issued.secret).name == "ed"  # still trusted, within the TTL
    clock.now += 0.2
    with pytest.raises(AuthenticationError, match="revoked"):
        access.user(issued.secret)


def test_a_token_is_trusted_no_longer_than_it_lives(
    service: IdentityService, access: AccessCache, clock: Clock, assay: str
) -> None:
    short = service.issue_token("ed", "ci", by="root", expires_in_s=2.0)
    lasting = service.issue_token("ed", "laptop", by="root")
    assert access.user(short.secret).name == access.user(lasting.secret).name == "ed"
    clock.now += 1.5
    assert access.known_user(short.secret) is not None
    clock.now += 0.6  # past the token's life, within the TTL: asked again, not trusted
    assert access.known_user(short.secret) is None
    assert access.known_user(lasting.secret) is not None


def test_a_disabled_user_is_refused_once_the_ttl_has_passed(
    service: IdentityService, access: AccessCache, clock: Clock, assay: str
) -> None:
    issued = service.issue_token("ed", "laptop", by="root")
    access.user(issued.secret)
    service.disable_user("ed", by="root")
    clock.now += 5.0
    with pytest.raises(AuthenticationError, match="disabled"):
        access.user(issued.secret)


def test_a_wrong_token_is_never_remembered_and_secrets_are_never_kept(
    service: IdentityService, access: AccessCache, assay: str
) -> None:
    for _ in range(2):
        with pytest.raises(AuthenticationError):
            access.user("llt_" + "0" * 40)
    issued = service.issue_token("ed", "laptop", by="root")
    access.user(issued.secret)
    assert access.known_user(issued.secret) is not None
    assert issued.secret not in repr(vars(access))


def test_a_role_change_is_seen_once_the_ttl_has_passed(
    service: IdentityService, access: AccessCache, clock: Clock, assay: str
) -> None:
    ed = service.get_user("ed")
    assert {p.id: p.role for p in access.projects(ed)}[assay] is Role.EDITOR
    service.grant("assay", "ed", Role.VIEWER, actor=ROOT)
    clock.now += 1.0
    assert {p.id: p.role for p in access.projects(ed)}[assay] is Role.EDITOR
    clock.now += 4.0
    assert {p.id: p.role for p in access.projects(ed)}[assay] is Role.VIEWER
    service.revoke_role("assay", "ed", actor=ROOT)
    access.forget()
    assert assay not in {p.id for p in access.projects(ed)}


def test_no_ttl_reads_every_time(service: IdentityService, clock: Clock, assay: str) -> None:
    access = AccessCache(service, ttl_s=0, clock=clock)
    issued = service.issue_token("ed", "laptop", by="root")
    access.user(issued.secret)
    service.revoke_token(issued.token.id, actor=ROOT)
    with pytest.raises(AuthenticationError):
        access.user(issued.secret)


def test_a_first_user_is_seen_at_once_and_users_are_remembered_for_good(
    service: IdentityService, access: AccessCache, clock: Clock
) -> None:
    assert not access.has_users()
    service.create_user("first", by="root")  # elsewhere, as `labledger users create` would
    assert access.has_users()
    service.disable_user("first", by="root")
    clock.now += 50.0
    assert access.has_users()


# -- through the server ----------------------------------------------------------------------


@pytest.fixture
def served(app: Any, service: IdentityService, clock: Clock) -> Any:
    app.state.access = AccessCache(service, ttl_s=5.0, clock=clock)
    return app


def _batch(client: TestClient, secret: str, seq: int) -> Any:
    row = ["loss", 0.5, seq, 1_700_000_001.0, seq]
    return client.post(
        f"/api/v1/runs/{RUN_ID}/batch",
        json={"metrics": [row], "batch_id": f"b{seq}"},
        headers={"Authorization": f"Bearer {secret}"},
    )


def _new_run(client: TestClient, secret: str, project: str) -> None:
    run = {
        "id": RUN_ID,
        "project_id": project,
        "name": "fit",
        "kind": "run",
        "host": "laptop",
        "pid": 1,
        "started_at": 1_700_000_000.0,
    }
    made = client.post(
        "/api/v1/runs", json={"run": run}, headers={"Authorization": f"Bearer {secret}"}
    )
    assert made.status_code == 201, made.text


def test_the_server_refuses_a_revoked_token_and_sees_a_lower_role_after_the_ttl(
    served: Any, client: TestClient, service: IdentityService, clock: Clock, assay: str
) -> None:
    issued = service.issue_token("ed", "laptop", by="root")
    _new_run(client, issued.secret, assay)
    assert _batch(client, issued.secret, 1).status_code == 204
    service.grant("assay", "ed", Role.VIEWER, actor=ROOT)  # elsewhere: seen after the TTL
    assert _batch(client, issued.secret, 2).status_code == 204
    clock.now += 5.0
    lower = _batch(client, issued.secret, 3)
    assert lower.status_code == 403, lower.text
    service.revoke_token(issued.token.id, actor=ROOT)
    assert _batch(client, issued.secret, 4).status_code == 403  # the user is still trusted
    clock.now += 5.0
    refused = _batch(client, issued.secret, 5)
    assert refused.status_code == 401, refused.text


def test_a_token_revoked_through_the_server_is_refused_at_once(
    served: Any, client: TestClient, service: IdentityService, assay: str
) -> None:
    issued = service.issue_token("ed", "laptop", by="root")
    _new_run(client, issued.secret, assay)
    assert _batch(client, issued.secret, 1).status_code == 204
    auth = {"Authorization": f"Bearer {issued.secret}"}
    revoked = client.delete(f"/api/v1/tokens/{issued.token.id}", headers=auth)
    assert revoked.status_code == 200, revoked.text
    assert _batch(client, issued.secret, 2).status_code == 401


def test_a_role_taken_away_through_the_server_is_seen_at_once(
    served: Any, client: TestClient, service: IdentityService, assay: str
) -> None:
    service.create_user("pat", by="root")
    service.grant("assay", "pat", Role.ADMIN, actor=ROOT)
    pat = service.issue_token("pat", "laptop", by="root").secret
    ed = service.issue_token("ed", "laptop", by="root").secret
    _new_run(client, ed, assay)
    assert _batch(client, ed, 1).status_code == 204
    removed = client.delete(
        "/api/v1/projects/assay/members/ed", headers={"Authorization": f"Bearer {pat}"}
    )
    assert removed.status_code == 204, removed.text
    assert _batch(client, ed, 2).status_code == 404


def test_single_user_mode_ends_at_once_when_the_server_makes_the_first_user(
    workspace: Workspace, service: IdentityService, clock: Clock
) -> None:
    from labledger.server import create_app
    from tests.unit.server.conftest import TestClient

    app = create_app(workspace, auth_required=False)
    app.state.access = AccessCache(service, ttl_s=5.0, clock=clock)
    local = TestClient(app, base_url="http://127.0.0.1")
    assert local.post("/api/v1/runs/running", json={}).status_code == 200
    made = local.post("/api/v1/users", json={"name": "ada", "is_admin": True})
    assert made.status_code == 201, made.text
    assert local.post("/api/v1/runs/running", json={}).status_code == 401


def test_a_project_made_or_a_role_granted_elsewhere_is_seen_at_once(
    served: Any, client: TestClient, service: IdentityService, workspace: Workspace, assay: str
) -> None:
    issued = service.issue_token("ed", "laptop", by="root")
    _new_run(client, issued.secret, assay)
    assert _batch(client, issued.secret, 1).status_code == 204  # ed's roles are remembered now
    screening = workspace.project_id("screening")
    service.grant("screening", "ed", Role.VIEWER, actor=ROOT)
    run = {"id": RUN_ID.replace("a1", "b2"), "project_id": screening, "name": "fit"}
    run |= {"kind": "run", "host": "laptop", "pid": 1, "started_at": 1_700_000_000.0}
    auth = {"Authorization": f"Bearer {issued.secret}"}
    viewer = client.post("/api/v1/runs", json={"run": run}, headers=auth)
    assert viewer.status_code == 403, viewer.text
    service.grant("screening", "ed", Role.EDITOR, actor=ROOT)
    made = client.post("/api/v1/runs", json={"run": run}, headers=auth)
    assert made.status_code == 201, made.text
