"""A workspace reached through a server: its stores, blobs and refusals, roles, attribution,
settings, and ``login``/``logout`` (the server runs in this process, behind ``AppTransport``)."""

from __future__ import annotations

import os
import stat
from typing import TYPE_CHECKING, Any

import pytest
import sqlalchemy as sa

from labledger import metadata
from labledger._foundation.errors import (
    AuthenticationError,
    ConfigurationError,
    NotFoundError,
    PermissionDeniedError,
    ValidationError,
)
from labledger._foundation.settings import resolve_settings, server_settings
from labledger.lineage import reproducibility
from labledger.tracking import start_run
from labledger.workspace import schema
from labledger.workspace.http.credentials import credentials_path, saved_login, token_for
from labledger.workspace.http.login import login, logout
from labledger.workspace.http.stores import HttpStores
from labledger.workspace.http.workspace import RemoteWorkspace
from labledger.workspace.ledger import iter_entries
from labledger.workspace.workspace import Workspace
from tests.unit.server.app_transport import AppTransport

if TYPE_CHECKING:
    from collections.abc import Callable

URL = "http://server.test"


@pytest.fixture
def transport(app: Any) -> AppTransport:
    return AppTransport(app)


@pytest.fixture
def open_as(transport: AppTransport, team: dict[str, str]) -> Callable[[str], RemoteWorkspace]:
    """The workspace, reached through the server as one of the team (roles in ``default``)."""
    from labledger.identity import IdentityService, Role, local_user

    service = IdentityService(transport.client.app.state.workspace.stores.identity)
    service.grant("default", "vera", Role.VIEWER, actor=local_user("root"))
    service.grant("default", "ed", Role.EDITOR, actor=local_user("root"))
    opened: list[RemoteWorkspace] = []

    def make(name: str) -> RemoteWorkspace:
        remote = RemoteWorkspace(server_settings(URL), transport=transport, token=team[name])
        opened.append(remote)
        return remote

    yield make  # type: ignore[misc]
    for remote in opened:
        remote.close()


def test_http_uris_open_a_remote_workspace_without_asking_the_server() -> None:
    settings = resolve_settings("https://lab.example:8443/")
    assert settings.server_url == "https://lab.example:8443"
    remote = Workspace.open("http://127.0.0.1:1")  # nothing listens there: opening asks nothing
    try:
        assert isinstance(remote, RemoteWorkspace) and isinstance(remote.stores, HttpStores)
        assert repr(remote) == "<Workspace http://127.0.0.1:1>"
    finally:
        remote.close()


def test_a_server_workspace_is_neither_created_nor_migrated_through_it() -> None:
    with pytest.raises(ConfigurationError, match="where the server runs"):
        Workspace.init("http://127.0.0.1:1")
    with pytest.raises(ConfigurationError, match="where the server runs"):
        Workspace.migrate("http://127.0.0.1:1")


def test_sql_only_members_refuse_clearly(open_as: Callable[[str], RemoteWorkspace]) -> None:
    remote = open_as("ed")
    for attempt in (
        lambda: remote.catalog,
        remote.write,
        remote.read,
    ):
        with pytest.raises(ConfigurationError, match="not available"):
            attempt()


def test_metadata_and_collections_through_the_server(
    workspace: Workspace, open_as: Callable[[str], RemoteWorkspace]
) -> None:
    run = start_run("dose", workspace=workspace)
    artifact = run.log_artifact({"x": 1}, name="plate")
    run.end()
    remote = open_as("ed")
    assert remote.actor == "ed"
    # Fields are defined by the workspace's admins; editors set values.
    with pytest.raises(PermissionDeniedError, match="only workspace administrators"):
        metadata.define_field("conc", "number", unit="uM", minimum=0, workspace=remote)
    metadata.define_field("conc", "number", unit="uM", minimum=0, workspace=open_as("ada"))
    assert metadata.set_metadata(run.id, {"conc": 5}, workspace=remote) == {"conc": 5.0}
    with pytest.raises(ValidationError, match="outside its bounds"):
        metadata.set_metadata(run.id, {"conc": -1}, workspace=remote)
    hits = metadata.search(where="conc > 1", workspace=remote)
    assert [h.id for h in hits] == [run.id]
    made = metadata.create_collection("screens/2024", workspace=remote)
    assert made.owner == "ed"
    after = metadata.add_to_collection("screens/2024", run.id, artifact.id, workspace=remote)
    assert {m.id for m in after.members} == {run.id, artifact.id}
    for i in range(3):
        metadata.create_collection(f"c{i}", workspace=remote)
    listed = metadata.list_collections(workspace=remote)
    assert [c.name for c in listed] == ["c0", "c1", "c2", "screens/2024"]
    metadata.delete_collection("screens/2024", workspace=remote)
    with pytest.raises(NotFoundError, match="screens/2024"):
        metadata.get_collection("screens/2024", workspace=remote)
    # The server's actor wrote the entries; each names the user it was done for.
    with workspace.read() as conn:
        entries = [e for e in iter_entries(conn) if e.kind.startswith(("metadata.", "collection."))]
    assert entries and all(
        e.payload.get("by") == ("ada" if e.kind == "metadata.field_defined" else "ed")
        for e in entries
    )
    assert {e.actor for e in entries} == {workspace.actor}


def test_a_viewer_reads_but_cannot_write(
    workspace: Workspace, open_as: Callable[[str], RemoteWorkspace]
) -> None:
    metadata.define_field("conc", "number", workspace=workspace)
    viewer = open_as("vera")
    assert [f.name for f in metadata.list_fields(workspace=viewer)] == ["conc"]
    with pytest.raises(PermissionDeniedError):
        metadata.create_collection("c", workspace=viewer)
    outsider = open_as("otto")
    with pytest.raises(NotFoundError):
        metadata.list_fields(workspace=outsider)


def test_blobs_are_read_through_the_server(
    workspace: Workspace, open_as: Callable[[str], RemoteWorkspace], transport: AppTransport
) -> None:
    run = start_run("dose", workspace=workspace)
    artifact = run.log_artifact(b"x" * 3_000_000, name="big")
    run.end()
    remote = open_as("vera")
    with remote.store.open(artifact.digest) as handle:
        assert handle.read() == b"x" * 3_000_000
    assert remote.store.size(artifact.digest) == 3_000_000
    absent = "blake3:" + "0" * 64
    assert remote.store.exists_many([artifact.digest, absent]) == {
        artifact.digest: True,
        absent: False,
    }
    with pytest.raises(NotFoundError):
        remote.store.size(absent)
    with pytest.raises(NotFoundError):
        remote.store.open(absent)
    transport.requests.clear()
    assert reproducibility(artifact.id, workspace=remote) == "reproducible"
    presence = [r for r in transport.requests if r[1] == "/api/v1/blobs/presence"]
    assert len(presence) == 1


def test_login_saves_a_token_that_logout_revokes(
    transport: AppTransport, team: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from labledger.identity import IdentityService

    service = IdentityService(transport.client.app.state.workspace.stores.identity)
    service.set_password("ed", "correct horse", by="root")
    with pytest.raises(AuthenticationError) as wrong:
        login(URL, user="ed", password="wrong password", transport=transport)
    assert "check the user name and password" in (wrong.value.hint or "")
    assert "labledger login" not in (wrong.value.hint or "")  # the command that just failed
    saved = login(URL + "/", user="ed", password="correct horse", transport=transport)
    assert saved_login(URL) == saved and saved.token_id is not None
    path = credentials_path()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert token_for(URL) == saved.token
    monkeypatch.setenv("LABLEDGER_TOKEN", "lle_from_env")
    assert token_for(URL) == "lle_from_env"
    monkeypatch.delenv("LABLEDGER_TOKEN")
    remote = RemoteWorkspace(server_settings(URL), transport=transport)
    assert remote.actor == "ed"
    logout(URL, transport=transport)
    assert saved_login(URL) is None
    with pytest.raises(AuthenticationError, match="revoked"):
        RemoteWorkspace(server_settings(URL), transport=transport, token=saved.token).actor
    with pytest.raises(ConfigurationError, match="not logged in"):
        logout(URL, transport=transport)


def test_a_token_brought_to_login_is_checked_and_kept_valid_by_logout(
    transport: AppTransport, team: dict[str, str]
) -> None:
    with pytest.raises(AuthenticationError, match="refused this token"):
        login(URL, token="lle_wrong", transport=transport)
    saved = login(URL, token=team["vera"], transport=transport)
    assert (saved.user, saved.token_id) == ("vera", None)
    logout(URL, transport=transport)
    still = RemoteWorkspace(server_settings(URL), transport=transport, token=team["vera"])
    assert still.actor == "vera"


def test_the_identity_store_shows_what_the_routes_expose(
    open_as: Callable[[str], RemoteWorkspace],
) -> None:
    from labledger.identity import Role

    admin = open_as("ada").stores.identity
    assert {u.name for u in admin.list_users()} == {"vera", "ed", "pat", "otto", "ada"}
    assert set(admin.get_users(["ed"])) == {"ed"}
    assert admin.role_of("ed", "default") == Role.EDITOR
    assert {m.user for m in admin.members("assay")} == {"vera", "ed", "pat"}
    changed = admin.set_role("assay", "otto", Role.VIEWER, by="ada")
    assert (changed.user, changed.role) == ("otto", Role.VIEWER)
    with pytest.raises(ConfigurationError, match="cannot be done through a server"):
        admin.credentials("ed")
    with pytest.raises(PermissionDeniedError):
        open_as("ed").stores.identity.list_users()


def test_a_user_lists_and_revokes_their_own_tokens_through_the_server(
    open_as: Callable[[str], RemoteWorkspace],
) -> None:
    from labledger.identity import IdentityService, local_user

    remote = open_as("ed")
    service = IdentityService(remote.stores.identity)
    mine = service.list_tokens("ed")
    assert mine and {t.user_id for t in mine} == {mine[0].user_id}
    with pytest.raises(PermissionDeniedError):  # other users are for administrators
        service.list_tokens("vera")
    spare = next(t for t in mine if t.name == "test") if len(mine) == 1 else mine[-1]
    revoked = service.revoke_token(spare.id, actor=local_user("ed"))
    assert revoked.id == spare.id and revoked.revoked_at is not None


def test_a_user_makes_their_own_token_through_the_server(
    open_as: Callable[[str], RemoteWorkspace], transport: AppTransport
) -> None:
    from labledger.identity import IdentityService

    service = IdentityService(open_as("ed").stores.identity)
    issued = service.issue_token("ed", "laptop", by="ed", expires_in_s=7 * 86_400.0)
    assert issued.secret.startswith("lle_") and issued.token.name == "laptop"
    assert issued.token.expires_at is not None
    assert issued.token.expires_at - issued.token.created_at == pytest.approx(7 * 86_400.0)
    # The new secret signs requests as ed.
    fresh = RemoteWorkspace(server_settings(URL), transport=transport, token=issued.secret)
    try:
        assert fresh.actor == "ed"
    finally:
        fresh.close()
    assert "laptop" in {t.name for t in service.list_tokens("ed")}
    # The server makes tokens for the signed-in user only.
    admin = IdentityService(open_as("ada").stores.identity)
    with pytest.raises(ConfigurationError, match="another user's token"):
        admin.issue_token("ed", "sneaky", by="ada")


def test_an_admin_creates_a_project_through_the_server(
    open_as: Callable[[str], RemoteWorkspace],
) -> None:
    from labledger.identity import IdentityService, Role, local_user

    made = IdentityService(open_as("ada").stores.identity).create_project(
        "screening", actor=local_user("ada"), description="plates"
    )
    assert (made.name, made.description) == ("screening", "plates")
    IdentityService(open_as("ada").stores.identity).grant(
        "screening", "ed", Role.EDITOR, actor=local_user("ada")
    )
    with pytest.raises(PermissionDeniedError):
        IdentityService(open_as("ed").stores.identity).create_project(
            "mine", actor=local_user("ed")
        )


def test_verify_server_holds_the_server_to_what_this_user_saw(
    workspace: Workspace, open_as: Callable[[str], RemoteWorkspace]
) -> None:
    import labledger

    with start_run("before", workspace=workspace) as run:
        run.log_metric("auc", 0.5)
    viewer = open_as("vera")
    first = labledger.verify_server(workspace=viewer)
    assert first.ok and first.previous is None, first.problems
    with start_run("after", workspace=workspace) as run:
        run.log_metric("auc", 0.7)
    later = labledger.verify_server(workspace=viewer)
    assert later.ok and later.previous == first.checkpoint
    assert later.checkpoint.size > first.checkpoint.size
    with pytest.raises(PermissionDeniedError):
        labledger.verify_server(workspace=viewer, full=True)
    with pytest.raises(ConfigurationError, match="verify_server"):
        labledger.verify(workspace=viewer)
    with pytest.raises(ConfigurationError, match="not a server's"):
        labledger.verify_server(workspace=workspace)
    # A row of a sealed run edited in the catalog: its history still holds, so only the
    # server's re-check of itself, which an administrator's full check asks for, finds it.
    admin = open_as("ada")
    assert labledger.verify_server(workspace=admin, full=True, blobs=False).ok
    with workspace.write() as conn:
        conn.execute(
            sa.update(schema.metrics).where(schema.metrics.c.run_id == run.id).values(value=0.99)
        )
    assert labledger.verify_server(workspace=viewer).ok  # the history alone cannot tell
    edited = labledger.verify_server(workspace=admin, full=True, blobs=False)
    assert not edited.ok and edited.served is not None
    assert any(run.id in problem and problem.startswith("server:") for problem in edited.problems)


def test_a_password_the_server_hashed_is_held_by_its_verify(
    workspace: Workspace, open_as: Callable[[str], RemoteWorkspace]
) -> None:
    pytest.importorskip("argon2")
    import labledger
    from labledger.identity import IdentityService
    from labledger.identity.hashing import hash_password

    admin = open_as("ada")
    # The server hashes the password and writes the user.created entry: it holds the hash the
    # server stored, not anything the client could have sent.
    IdentityService(admin.stores.identity).create_user(
        "bob", by="ada", password="bob's own password"
    )
    assert labledger.verify_server(workspace=admin, full=True, blobs=False).ok
    with workspace.write() as conn:
        conn.execute(
            sa.update(schema.users)
            .where(schema.users.c.name == "bob")
            .values(password_hash=hash_password("a password I know"))
        )
    local = IdentityService(workspace.stores.identity)
    assert local.authenticate_password("bob", "a password I know").name == "bob"
    swapped = labledger.verify_server(workspace=admin, full=True, blobs=False)
    assert swapped.problems == [
        "server: user bob: its stored password hash is not the one the ledger last set: "
        "another password signs in as this user"
    ]


def test_a_page_of_runs_is_judged_without_asking_again_which_are_alive(
    workspace: Workspace, open_as: Callable[[str], RemoteWorkspace], transport: AppTransport
) -> None:
    import labledger

    ed = open_as("ed")
    alive = start_run("alive", workspace=ed)
    dead = start_run("dead", workspace=workspace)  # a process of this host, gone below
    with workspace.write() as conn:
        conn.execute(
            sa.update(schema.runs).where(schema.runs.c.id == dead.id).values(pid=2**22 + 12345)
        )
    transport.requests.clear()
    found = {run.name: run for run in labledger.search_runs(workspace=ed)}
    assert ("POST", "/api/v1/runs/search") in transport.requests
    assert ("POST", "/api/v1/runs/running") not in transport.requests
    assert found["alive"].lost is None and found["alive"].pid is not None
    assert found["dead"].lost is not None and "gone" in found["dead"].lost
    alive.end()
    dead.end()


def test_a_remote_run_leaves_the_digest_to_the_server(
    workspace: Workspace, open_as: Callable[[str], RemoteWorkspace], monkeypatch: pytest.MonkeyPatch
) -> None:
    from labledger.workspace.records import MetricsDigest
    from labledger.workspace.verify import verify_workspace

    digested: list[tuple[object, int]] = []
    update = MetricsDigest.update

    def counting(self: MetricsDigest, rows: Any) -> None:
        rows = list(rows)
        digested.append((self, len(rows)))
        update(self, rows)

    monkeypatch.setattr(MetricsDigest, "update", counting)
    run = start_run("remote", workspace=open_as("ed"))
    for step in range(10):
        run.log_metrics({"loss": 1.0 / (step + 1), "acc": step / 10}, step=step)
    run.flush()
    assert digested == []  # the client keeps no digest of what it sent...
    run.end()
    # ...the server digested the 20 rows it holds, and its seal verifies.
    assert sum(count for _, count in digested) == 20
    assert verify_workspace(workspace, blobs=False).ok
